"""Checkpoints in the store: upload then pointer, restore after a restart, half-uploads dropped, retention."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pixelgate.workflows.api.kinds import identity
from pixelgate.workflows.api.training_run import TrainingRunSpec
from pixelgate.workflows.steps.train import checkpoint_store, wait_for_json
from pixelgate.workflows.steps.train.checkpoints import CheckpointStore
from pixelgate.workflows.store import LocalStore


def make_checkpoint(root: Path, step: int) -> Path:
    folder = root / f"checkpoint-{step}"
    (folder / "global_step").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(f"weights {step}".encode())
    (folder / "global_step" / "optim_states.pt").write_bytes(f"optim {step}".encode())
    return folder


def test_upload_restore_and_prune(tmp_path):
    ckpts = CheckpointStore(LocalStore(tmp_path / "store"), "trainings/t/h/checkpoints")
    assert ckpts.latest() is None and ckpts.restore(tmp_path / "local") is None
    local = tmp_path / "trainer"
    for step in (2, 4, 6):
        ckpts.upload(make_checkpoint(local, step))
    assert ckpts.latest() == "checkpoint-6" and ckpts.names() == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert ckpts.store.read_json(ckpts.pointer) == {"target": "trainings/t/h/checkpoints/checkpoint-6", "step": 6}

    # a kill during the upload of checkpoint-8: some files there, the pointer still on 6
    partial = make_checkpoint(local, 8)
    ckpts.store.write_bytes(
        f"{ckpts.prefix}/checkpoint-8/model.safetensors", (partial / "model.safetensors").read_bytes()
    )
    restored = ckpts.restore(tmp_path / "fresh")
    assert restored == tmp_path / "fresh" / "checkpoint-6"
    assert (restored / "global_step" / "optim_states.pt").read_bytes() == b"optim 6"
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert "checkpoint-8" not in ckpts.names()

    # retention mirrors the trainer's local set; the pointer's checkpoint is never deleted
    assert ckpts.prune({"checkpoint-2"}) == ["checkpoint-4"]
    assert ckpts.names() == ["checkpoint-2", "checkpoint-6"]


def test_checkpoint_uri_is_namespaced_by_spec(tmp_path):
    base = {"compileRun": "c", "model": {"base": "x"}, "checkpoints": {"uri": str(tmp_path / "ckpts")}}

    def store_of(doc: dict) -> CheckpointStore:
        spec = TrainingRunSpec.model_validate(doc)
        return checkpoint_store(spec, LocalStore(tmp_path / "store"), "t", identity(spec, {"CompileRun/c": "h"}))

    a, b = store_of(base), store_of({**base, "stage": "therapeutic-expertise"})
    assert a.prefix != b.prefix and a.store.uri == str((tmp_path / "ckpts").resolve())
    assert a.uri("checkpoint-2") == f"{(tmp_path / 'ckpts').resolve()}/{a.prefix}/checkpoint-2"
    plain = TrainingRunSpec.model_validate({k: v for k, v in base.items() if k != "checkpoints"})
    default = checkpoint_store(plain, LocalStore(tmp_path / "s"), "t", identity(plain))
    assert default.prefix.startswith("trainings/t/") and default.prefix.endswith("/checkpoints")


def test_other_ranks_wait_for_rank_zeros_metrics(tmp_path):
    """Under torchrun every rank trains; rank 0 publishes metrics.json, the others wait for it."""
    store = LocalStore(tmp_path)
    threading.Timer(0.3, lambda: store.write_json("t/metrics.json", {"global_step": 7})).start()
    assert wait_for_json(store, "t/metrics.json", timeout_s=30, interval_s=0.05) == {"global_step": 7}
    with pytest.raises(TimeoutError, match="did not appear"):
        wait_for_json(store, "t/never.json", timeout_s=0.2, interval_s=0.05)
