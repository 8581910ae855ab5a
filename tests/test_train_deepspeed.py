"""DeepSpeed: the rendered config passes DeepSpeed's own validation, and a real ZeRO-2 run of the
tiny model goes through the Trainer on CPU (gloo, one process) via `pixelgate step train`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pixelgate.workflows.api.training_run import DeepSpeed, Hyperparameters
from pixelgate.workflows.steps.train.deepspeed_config import render
from pixelgate.workflows.store import LocalStore
from tests.train_fixtures import build_compile

os.environ.setdefault("DS_ACCELERATOR", "cpu")


@pytest.mark.parametrize(
    "stage,offload,precision",
    [
        (0, "none", "fp32"),
        (1, "none", "fp16"),
        (2, "none", "bf16"),
        (2, "cpu", "bf16"),
        (3, "cpu", "bf16"),
        (3, "nvme", "fp16"),
    ],
)
def test_rendered_config_is_valid_for_deepspeed(stage, offload, precision):
    from deepspeed.runtime.config import DeepSpeedConfig

    hp = Hyperparameters(batch_size=4, gradient_accumulation=2, learning_rate=3e-4)
    config = render(DeepSpeed(zero_stage=stage, offload=offload, precision=precision), hp, world_size=1)
    parsed = DeepSpeedConfig(json.loads(json.dumps(config)))  # the JSON file DeepSpeed would read
    assert parsed.zero_optimization_stage == stage
    assert (parsed.train_batch_size, parsed.train_micro_batch_size_per_gpu, parsed.gradient_accumulation_steps) == (
        8,
        4,
        2,
    )
    assert parsed.bfloat16_config.enabled is (precision == "bf16")
    assert parsed.float16_config.enabled is (precision == "fp16")
    if offload == "none":
        assert parsed.zero_config.offload_optimizer is None and "optimizer" not in config
    else:
        assert parsed.zero_config.offload_optimizer.device == offload
        assert parsed.optimizer_name == "adamw" and parsed.optimizer_params["lr"] == 3e-4
        assert (parsed.zero_config.offload_param is not None) is (stage == 3)


def test_offload_without_zero_is_refused():
    with pytest.raises(ValueError, match="zeroStage >= 1"):
        render(DeepSpeed(zero_stage=0, offload="cpu"), Hyperparameters())


@pytest.mark.slow
def test_zero2_trains_on_cpu_through_the_step_cli(tmp_path, datasets):
    store = LocalStore(tmp_path / "store")
    build_compile(store, datasets, sizes={"train": (8, 8), "val": (3, 3), "test": (2, 2)})
    manifest = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "ds-tiny"},
        "spec": {
            "compileRun": "stage1",
            "model": {
                "base": 'config:{"n_embd": 32, "n_layer": 1, "n_head": 2}',
                "tokenizer": "train:400",
                "maxSeqLength": 64,
            },
            "hyperparameters": {"maxSteps": 2, "batchSize": 2, "evalSteps": 2, "learningRate": 0.001},
            "deepspeed": {"zeroStage": 2, "offload": "none", "precision": "fp32"},
            "resources": {"gpusPerNode": 0},
        },
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}
    }
    env["DS_ACCELERATOR"] = "cpu"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixelgate.workflows.cli",
            "step",
            "train",
            "--spec",
            json.dumps(manifest),
            "--store",
            str(store.root),
            "--param",
            f"workdir={tmp_path / 'work'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["global_step"] == 2
    metrics = json.loads((store.root / result["metrics_uri"][len(str(store.root)) + 1 :]).read_text())
    assert metrics["deepspeed_zero_stage"] == 2 and metrics["eval_loss"] and metrics["tokens_per_second"] > 0
    stored = [k for k in store.list(f"trainings/ds-tiny/{result['spec_hash']}/checkpoints")]
    # DeepSpeed's own checkpoint layout: ZeRO optimizer state partitions under global_step<N>/
    assert any("/checkpoint-2/global_step2/" in k and "optim_states" in k for k in stored), stored
