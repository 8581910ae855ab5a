"""The training loop: transformers Trainer (with DeepSpeed when the spec asks), checkpoints in the
store, resume after a restart, early stopping on eval_loss, and metrics.json."""

from __future__ import annotations

import logging
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import steplog
from ...api.training_run import TrainingRunSpec
from ...store import Store
from . import data, deepspeed_config
from .batches import EncodedStream, PadCollator
from .checkpoints import CheckpointStore, checkpoint_step
from .metrics import Stopwatch, TrainingMetrics, curves, device_memory, perplexity
from .model import conversation_texts, load_model, load_tokenizer

log = logging.getLogger(__name__)
STEP_LOG_INTERVAL_S = 30.0  # at most one train.step line per interval (evaluations and checkpoints: every one)


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


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _callbacks(ckpts: CheckpointStore, stopwatch: Stopwatch, patience: int) -> list[Any]:
    from transformers import EarlyStoppingCallback, TrainerCallback

    class StoreCheckpoints(TrainerCallback):
        """After the Trainer saved (and rotated) its local checkpoints: upload the new one, prune the store."""

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            out, name = Path(args.output_dir), f"checkpoint-{state.global_step}"
            started = time.perf_counter()
            ckpts.upload(out / name)
            ckpts.prune({p.name for p in out.glob("checkpoint-*")})
            elapsed = round(time.perf_counter() - started, 3)
            steplog.event(log, "train.checkpoint", step=state.global_step, uri=ckpts.uri(name), elapsed_s=elapsed)

    class Throughput(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.tokens0 = int(state.num_input_tokens_seen or 0)
            stopwatch.start()

        def on_train_end(self, args, state, control, **kwargs):
            stopwatch.stop()
            stopwatch.tokens = int(state.num_input_tokens_seen or 0) - self.tokens0

    class ReportProgress(TrainerCallback):
        """Argo's self-reported progress, ``step/total`` (the operator dates each change, which drives the
        GPUs-idle alert): throttled, and the last step always written."""

        progress: steplog.Progress | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.progress = steplog.Progress(state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.update(state.global_step, state.max_steps)

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.flush()

    class LogLines(TrainerCallback):
        """The Trainer's logs as step log lines on stderr (in place of its PrinterCallback's dicts on stdout):
        ``train.eval`` at every evaluation, ``train.step`` (loss, learning rate) at most every
        ``STEP_LOG_INTERVAL_S``."""

        logged_at: float | None = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            values = {k: _rounded(v) if isinstance(v, float) else v for k, v in logs.items() if k != "total_flos"}
            if any(k.startswith("eval_") for k in values):
                steplog.event(log, "train.eval", step=state.global_step, max_steps=state.max_steps, **values)
            elif "loss" in values:
                now = time.monotonic()
                if self.logged_at is None or now - self.logged_at >= STEP_LOG_INTERVAL_S:
                    self.logged_at = now
                    steplog.event(log, "train.step", step=state.global_step, max_steps=state.max_steps, **values)

    return [
        StoreCheckpoints(),
        Throughput(),
        ReportProgress(),
        LogLines(),
        EarlyStoppingCallback(early_stopping_patience=patience),
    ]


def _training_data(spec: TrainingRunSpec, store: Store) -> tuple[data.CompileInputs, data.MixturePlan]:
    """The compile's shards and the mixture plan over its train split; a compile without val shards is refused."""
    inputs = data.resolve_compile(store, spec.compile_run)
    plan = data.plan_mixture(store, inputs.shards["train"], spec.curriculum.weights, inputs.family_weights())
    if not inputs.shards["val"]:
        raise data.TrainingDataError(f"compile output {inputs.root} has no val shards; early stopping needs eval_loss")
    return inputs, plan


def _restore(ckpts: CheckpointStore, out_dir: Path) -> Path | None:
    """The store's latest checkpoint in ``out_dir`` (to resume from), else a clean ``out_dir``."""
    resume = ckpts.restore(out_dir)
    if resume is None and out_dir.exists():
        shutil.rmtree(out_dir)  # local leftovers the store never acknowledged
    return resume


def _tokenizer_and_model(
    spec: TrainingRunSpec, store: Store, inputs: data.CompileInputs, resume: Path | None, workdir: Path
) -> tuple[Any, Any]:
    """The checkpoint's tokenizer when resuming, else the spec's (trained on the train shards when it
    asks); then the model, seeded, for that tokenizer."""
    from transformers import AutoTokenizer, set_seed

    if resume is not None:
        tokenizer = AutoTokenizer.from_pretrained(resume)
    else:
        texts = conversation_texts(data.iter_records(store, inputs.shards["train"]))
        tokenizer = load_tokenizer(spec.model, texts, workdir)
    set_seed(spec.hyperparameters.seed)  # the initial weights of a model built from config
    return tokenizer, load_model(spec.model, tokenizer, workdir)


def _datasets(
    spec: TrainingRunSpec, store: Store, inputs: data.CompileInputs, plan: data.MixturePlan, tokenizer: Any
) -> tuple[EncodedStream, EncodedStream]:
    """(train, val): the mixed train stream (curriculum weights, seeded) and the val split, tokenized lazily."""
    hp, curriculum, length = spec.hyperparameters, spec.curriculum.weights, spec.model.max_seq_length
    train_set = EncodedStream(
        lambda: data.mixed_stream(store, inputs.shards["train"], plan, curriculum, hp.seed), tokenizer, length
    )
    val_set = EncodedStream(lambda: data.iter_records(store, inputs.shards["val"]), tokenizer, length)
    return train_set, val_set


def _training_arguments(spec: TrainingRunSpec, out_dir: Path, max_steps: int, world_size: int, use_cpu: bool) -> Any:
    """The Trainer's arguments from the spec: steps, batches, schedule, evaluation and checkpoints every
    ``evalSteps``, the best checkpoint by eval_loss, precision and the DeepSpeed config."""
    from transformers import TrainingArguments

    hp = spec.hyperparameters
    ds_config = deepspeed_config.render(spec.deepspeed, hp, world_size) if spec.deepspeed else None
    precision = spec.deepspeed.precision if spec.deepspeed else "fp32"
    return TrainingArguments(
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
        use_cpu=use_cpu,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        deepspeed=ds_config,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def _metrics(
    spec: TrainingRunSpec,
    state: Any,
    ckpts: CheckpointStore,
    stopwatch: Stopwatch,
    resume: Path | None,
    max_steps: int,
    plan: data.MixturePlan,
) -> TrainingMetrics:
    """metrics.json from the Trainer's final state: curves, best checkpoint, throughput, device, mixture."""
    best_name = Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None
    train_curve, eval_curve = curves(state.log_history)
    device, memory = device_memory()
    return TrainingMetrics(
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
    from transformers import PrinterCallback, Trainer

    with steplog.phase(log, "train.data", compile=spec.compile_run) as current:
        inputs, plan = _training_data(spec, store)
        mixture = {group: round(share, 4) for group, share in plan.shares().items()}
        current.update(
            records=plan.records,
            groups=plan.counts,
            mixture=mixture,
            train_shards=len(inputs.shards["train"]),
            val_shards=len(inputs.shards["val"]),
        )
    out_dir = workdir / "checkpoints"
    with steplog.phase(log, "train.model", base=spec.model.base) as current:
        resume = _restore(ckpts, out_dir)
        tokenizer, model = _tokenizer_and_model(spec, store, inputs, resume, workdir)
        current.update(
            resumed_from_step=checkpoint_step(resume.name) if resume else None,
            vocab=len(tokenizer),
            parameters=model.num_parameters(),
        )
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    max_steps = planned_steps(spec, plan.records, world_size)
    train_set, val_set = _datasets(spec, store, inputs, plan, tokenizer)
    stopwatch = Stopwatch()
    trainer = Trainer(
        model=model,
        args=_training_arguments(spec, out_dir, max_steps, world_size, use_cpu=not torch.cuda.is_available()),
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=_callbacks(ckpts, stopwatch, spec.early_stopping.patience) + list(extra_callbacks or []),
    )
    trainer.remove_callback(PrinterCallback)  # stdout is the step's result alone; LogLines logs instead
    device = str(trainer.args.device)
    with steplog.phase(log, "train.fit", max_steps=max_steps, world_size=world_size, device=device) as fit:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        state = trainer.state
        fit.update(global_step=state.global_step, best_eval_loss=_rounded(state.best_metric))
        fit.update(stopped_early=state.global_step < max_steps)
        fit.update(tokens=stopwatch.tokens, tokens_per_s=round(stopwatch.rate, 2))

    with steplog.phase(log, "train.save") as current:
        model_dir = workdir / "model"
        trainer.save_model(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))
        metrics = _metrics(spec, trainer.state, ckpts, stopwatch, resume, max_steps, plan)
        current.update(best_checkpoint=metrics.best_checkpoint, perplexity=_rounded(metrics.perplexity))
    return TrainOutcome(metrics=metrics, model_dir=model_dir)
