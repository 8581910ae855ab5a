"""The training loop: transformers Trainer (with DeepSpeed when the spec asks), checkpoints in the
store, resume after a restart, early stopping on eval_loss, and metrics.json."""

from __future__ import annotations

import math
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...api.training_run import TrainingRunSpec
from ...store import Store
from . import data, deepspeed_config
from .batches import EncodedStream, PadCollator
from .checkpoints import CheckpointStore, checkpoint_step
from .metrics import Stopwatch, TrainingMetrics, curves, device_memory, perplexity
from .model import conversation_texts, load_model, load_tokenizer


@dataclass
class TrainOutcome:
    metrics: TrainingMetrics
    model_dir: Path


def single_process_env() -> None:
    """torch.distributed needs rank/world/master settings even for one process (DeepSpeed without a launcher)."""
    if "RANK" in os.environ:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")


def planned_steps(spec: TrainingRunSpec, records: int, world_size: int) -> int:
    hp = spec.hyperparameters
    if hp.max_steps:
        return hp.max_steps
    return max(1, math.ceil(hp.epochs * records / (hp.batch_size * hp.gradient_accumulation * world_size)))


def _callbacks(ckpts: CheckpointStore, stopwatch: Stopwatch, patience: int) -> list[Any]:
    from transformers import EarlyStoppingCallback, TrainerCallback

    class StoreCheckpoints(TrainerCallback):
        """After the Trainer saved (and rotated) its local checkpoints: upload the new one, prune the store."""

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            out = Path(args.output_dir)
            ckpts.upload(out / f"checkpoint-{state.global_step}")
            ckpts.prune({p.name for p in out.glob("checkpoint-*")})

    class Throughput(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.tokens0 = int(state.num_input_tokens_seen or 0)
            stopwatch.start()

        def on_train_end(self, args, state, control, **kwargs):
            stopwatch.stop()
            stopwatch.tokens = int(state.num_input_tokens_seen or 0) - self.tokens0

    class ReportProgress(TrainerCallback):
        """Argo's self-reported progress: ``step/total`` in the file named by ``ARGO_PROGRESS_FILE``
        (the operator dates each change, which drives the GPUs-idle alert)."""

        def on_step_end(self, args, state, control, **kwargs):
            target = os.environ.get("ARGO_PROGRESS_FILE")
            if target and state.is_world_process_zero:
                write_progress(Path(target), state.global_step, state.max_steps)

    return [StoreCheckpoints(), Throughput(), ReportProgress(), EarlyStoppingCallback(early_stopping_patience=patience)]


def write_progress(path: Path, done: int, total: int) -> None:
    """Atomically replace ``path`` with ``done/total``: a reader never sees a half-written value."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{done}/{total}")
    os.replace(tmp, path)


def train(
    spec: TrainingRunSpec,
    store: Store,
    ckpts: CheckpointStore,
    workdir: Path,
    extra_callbacks: list[Any] | None = None,
) -> TrainOutcome:
    """Train (or resume) in ``workdir``; the store keeps every checkpoint that matters."""
    if spec.deepspeed is not None:
        single_process_env()
    import torch
    from transformers import AutoTokenizer, Trainer, TrainingArguments, set_seed

    hp = spec.hyperparameters
    inputs = data.resolve_compile(store, spec.compile_run)
    curriculum = spec.curriculum.weights
    plan = data.plan_mixture(store, inputs.shards["train"], curriculum, inputs.family_weights())
    if not inputs.shards["val"]:
        raise data.TrainingDataError(f"compile output {inputs.root} has no val shards; early stopping needs eval_loss")

    out_dir = workdir / "checkpoints"
    resume = ckpts.restore(out_dir)
    if resume is None and out_dir.exists():
        shutil.rmtree(out_dir)  # local leftovers the store never acknowledged
    if resume is not None:
        tokenizer = AutoTokenizer.from_pretrained(resume)
    else:
        tokenizer = load_tokenizer(spec.model, conversation_texts(data.iter_records(store, inputs.shards["train"])), workdir)
    set_seed(hp.seed)  # the initial weights of a model built from config
    model = load_model(spec.model, tokenizer, workdir)

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    max_steps = planned_steps(spec, plan.records, world_size)
    train_set = EncodedStream(lambda: data.mixed_stream(store, inputs.shards["train"], plan, curriculum, hp.seed), tokenizer, spec.model.max_seq_length)
    val_set = EncodedStream(lambda: data.iter_records(store, inputs.shards["val"]), tokenizer, spec.model.max_seq_length)
    ds_config = deepspeed_config.render(spec.deepspeed, hp, world_size) if spec.deepspeed else None
    precision = spec.deepspeed.precision if spec.deepspeed else "fp32"
    args = TrainingArguments(
        output_dir=str(out_dir),
        max_steps=max_steps,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation,
        learning_rate=hp.learning_rate,
        lr_scheduler_type=hp.schedule,
        warmup_steps=math.ceil(hp.warmup_ratio * max_steps),
        eval_strategy="steps",
        eval_steps=hp.eval_steps,
        save_strategy="steps",
        save_steps=hp.eval_steps,
        save_total_limit=spec.checkpoints.keep,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=1,
        seed=hp.seed,
        data_seed=hp.seed,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        deepspeed=ds_config,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    stopwatch = Stopwatch()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=_callbacks(ckpts, stopwatch, spec.early_stopping.patience) + list(extra_callbacks or []),
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    state = trainer.state
    best_name = Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None
    model_dir = workdir / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    train_curve, eval_curve = curves(state.log_history)
    device, memory = device_memory()
    metrics = TrainingMetrics(
        train_loss=train_curve,
        eval_loss=eval_curve,
        best_eval_loss=state.best_metric,
        best_checkpoint=ckpts.uri(best_name) if best_name else None,
        perplexity=perplexity(state.best_metric),
        global_step=state.global_step,
        resumed_from_step=checkpoint_step(resume.name) if resume else None,
        stopped_early=state.global_step < max_steps,
        max_steps=max_steps,
        train_tokens=stopwatch.tokens,
        train_seconds=round(stopwatch.seconds, 3),
        tokens_per_second=round(stopwatch.rate, 2),
        device=device,
        gpu_max_memory_bytes=memory,
        deepspeed_zero_stage=spec.deepspeed.zero_stage if spec.deepspeed else None,
        mixture=plan.shares(),
        train_records=plan.counts,
    )
    return TrainOutcome(metrics=metrics, model_dir=model_dir)
