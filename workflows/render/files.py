"""``pixelgate render``: write one manifest file per resource that has a workflow."""

from __future__ import annotations

from pathlib import Path

from ..api.kinds import KINDS
from ..api.manifests import load_items
from .builders import render_workflow
from .common import dump_manifest


def render_files(
    paths: list[str], out_dir: Path, *, store_uri: str, image: str | None = None
) -> list[tuple[str, Path | None]]:
    """Render every resource in ``paths`` into ``out_dir/<workflow name>.yaml``. Returns
    (resource, file) pairs; GateReviews have no workflow (file None)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, Path | None]] = []
    for item in load_items(paths):
        ref = f"{item.resource.kind}/{item.resource.name}"
        if not KINDS[item.resource.kind].has_workflow:
            written.append((ref, None))
            continue
        manifest = render_workflow(item.resource, image=image, store_uri=store_uri)
        path = out_dir / f"{manifest['metadata']['name']}.yaml"
        path.write_bytes(dump_manifest(manifest))
        written.append((ref, path))
    return written
