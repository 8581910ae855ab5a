"""Checkpoints in the store: uploaded whole, then named by a pointer; restored after a restart.

Layout under the checkpoint prefix (the run's ``checkpoints/`` folder, or ``spec.checkpoints.uri``)::

    checkpoint-<step>/...          every file of the Trainer's checkpoint folder
    latest.json                    {"target": "<prefix>/checkpoint-<step>", "step": <step>}

A checkpoint's files are uploaded first and ``latest.json`` is rewritten after the last one, so a
kill mid-upload leaves the pointer on the previous complete checkpoint; the half-uploaded folder is
removed on restore. Retention mirrors the Trainer's local rotation (``keep`` newest plus the best).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ... import layout
from ...store import Store, read_pointer, write_pointer

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(name: str) -> int | None:
    match = _CHECKPOINT.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class CheckpointStore:
    store: Store
    prefix: str

    @property
    def pointer(self) -> str:
        return layout.checkpoint_pointer(self.prefix)

    def uri(self, name: str) -> str:
        return self.store.url(layout.checkpoint_folder(self.prefix, name))

    def names(self) -> list[str]:
        """Checkpoint folders present in the store, oldest first."""
        root = layout.checkpoint_folder(self.prefix)
        found = {key[len(root) :].lstrip("/").split("/", 1)[0] for key in self.store.list(root)}
        return sorted((n for n in found if checkpoint_step(n) is not None), key=checkpoint_step)

    def latest(self) -> str | None:
        if not self.store.exists(self.pointer):
            return None
        return read_pointer(self.store, self.pointer)["target"].rsplit("/", 1)[-1]

    def upload(self, folder: Path) -> None:
        """Upload a completed checkpoint folder, then point ``latest.json`` at it."""
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with self.store.writer(
                layout.checkpoint_file(self.prefix, folder.name, path.relative_to(folder).as_posix())
            ) as tmp:
                shutil.copyfile(path, tmp)
        write_pointer(
            self.store,
            self.pointer,
            layout.checkpoint_folder(self.prefix, folder.name),
            step=checkpoint_step(folder.name),
        )

    def prune(self, keep: set[str]) -> list[str]:
        """Delete stored checkpoints not in ``keep`` (never the one latest.json names)."""
        latest = self.latest()
        removed = [n for n in self.names() if n not in keep and n != latest]
        for name in removed:
            self.store.delete_prefix(layout.checkpoint_folder(self.prefix, name))
        return removed

    def restore(self, dest: Path) -> Path | None:
        """Download every complete stored checkpoint into ``dest``; return the latest one's folder."""
        latest = self.latest()
        if latest is None:
            return None
        latest_step = checkpoint_step(latest)
        if dest.exists():
            shutil.rmtree(dest)
        for name in self.names():
            if checkpoint_step(name) > latest_step:  # uploaded after the pointer was last written: incomplete
                self.store.delete_prefix(layout.checkpoint_folder(self.prefix, name))
                continue
            base = layout.checkpoint_folder(self.prefix, name)
            for key in self.store.list(base):
                target = dest / name / key[len(base) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                with self.store.open_read(key) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
        return dest / latest
