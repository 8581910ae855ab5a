"""Render ``spec.deepspeed`` into a DeepSpeed config dict (what ``--deepspeed ds_config.json`` holds).

Batch sizes are concrete numbers (micro batch x accumulation x world size), so the file is valid
on its own and DeepSpeed's own config classes can check it. No ``optimizer`` section is written
unless optimizer state is offloaded: the transformers Trainer then builds its AdamW and hands it
to DeepSpeed. With offload, DeepSpeed's own Adam (CPU Adam for ``cpu``/``nvme``) is configured.
"""

from __future__ import annotations

from typing import Any

from ...api.training_run import DeepSpeed, Hyperparameters

NVME_PATH = "/local_nvme"


def render(ds: DeepSpeed, hp: Hyperparameters, world_size: int = 1, gradient_clipping: float = 1.0) -> dict[str, Any]:
    if world_size < 1:
        raise ValueError("world_size must be >= 1")
    zero: dict[str, Any] = {"stage": ds.zero_stage}
    if ds.zero_stage >= 1:
        zero.update(overlap_comm=ds.zero_stage >= 2, contiguous_gradients=ds.zero_stage >= 2)
    if ds.offload != "none":  # the model refuses an offload without ZeRO
        device = {"device": ds.offload, "pin_memory": True}
        if ds.offload == "nvme":
            device["nvme_path"] = NVME_PATH
        zero["offload_optimizer"] = dict(device)
        if ds.zero_stage == 3:
            zero["offload_param"] = dict(device)
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": hp.batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation,
        "train_batch_size": hp.batch_size * hp.gradient_accumulation * world_size,
        "gradient_clipping": gradient_clipping,
        "zero_optimization": zero,
        "bf16": {"enabled": ds.precision == "bf16"},
        "fp16": {"enabled": ds.precision == "fp16", "loss_scale": 0, "initial_scale_power": 16},
        "steps_per_print": 1_000_000,
        "wall_clock_breakdown": False,
    }
    if ds.offload != "none":
        config["optimizer"] = {
            "type": "AdamW",
            "params": {"lr": hp.learning_rate, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
        }
    return config
