"""End to end on CPU: a tiny GPT-2 from config and a tokenizer trained on the compiled train
shards; training killed after a checkpoint, resumed from the store in a fresh work folder, and
compared with an uninterrupted run; early stopping; then evaluation and the run's pointer."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from pixelgate.workflows.api import parse_resource
from pixelgate.workflows.api.training_run import TrainingRunSpec
from pixelgate.workflows.steps.evaluate import evaluate_run
from pixelgate.workflows.steps.registry import StepInvocation, resolve
from pixelgate.workflows.steps.train import train_run
from pixelgate.workflows.store import LocalStore
from tests.train_fixtures import build_compile

TINY = 'config:{"n_embd": 32, "n_layer": 2, "n_head": 2, "resid_pdrop": 0, "embd_pdrop": 0, "attn_pdrop": 0}'


def make_spec(**hyper) -> TrainingRunSpec:
    return TrainingRunSpec.model_validate(
        {
            "compileRun": "stage1",
            "model": {"base": TINY, "tokenizer": "train:500", "maxSeqLength": 96},
            "hyperparameters": {
                "maxSteps": 6,
                "batchSize": 4,
                "evalSteps": 2,
                "learningRate": 0.003,
                "warmupRatio": 0.0,
                **hyper,
            },
            "checkpoints": {"keep": 2},
            "evaluation": {"maxSamples": 6, "maxNewTokens": 12},
        }
    )


class KillAfterSave(TrainerCallback):
    """Simulates a pod killed right after the checkpoint of ``step`` was saved and uploaded."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise SystemExit(f"killed after step {self.step}")


class RecordingStore(LocalStore):
    """A real LocalStore that remembers every key it opened for reading."""

    def __init__(self, root):
        super().__init__(root)
        self.opened: list[str] = []

    def open_read(self, key):
        self.opened.append(key)
        return super().open_read(key)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, datasets):
    root = tmp_path_factory.mktemp("compiled")
    build_compile(LocalStore(root), datasets)
    return root


def fresh_store(compiled, tmp_path) -> RecordingStore:
    shutil.copytree(compiled, tmp_path / "store")
    return RecordingStore(tmp_path / "store")


def stored_weights(store: LocalStore, result) -> dict[str, torch.Tensor]:
    return load_file(store.root / result.model_uri[len(str(store.root)) + 1 :] / "model.safetensors")


@pytest.mark.slow
def test_kill_resume_matches_uninterrupted_run_then_evaluates(compiled, tmp_path, monkeypatch):
    spec = make_spec()
    # uninterrupted reference, reporting its progress the way Argo reads it
    progress_file = tmp_path / "argo-progress"
    monkeypatch.setenv("ARGO_PROGRESS_FILE", str(progress_file))
    ref_store = fresh_store(compiled, tmp_path / "ref")
    reference = train_run("tiny", spec, ref_store, workdir=tmp_path / "ref" / "work")
    assert reference.global_step == 6
    assert progress_file.read_text() == "6/6"

    # killed after the checkpoint of step 4 reached the store
    store = fresh_store(compiled, tmp_path / "run")
    with pytest.raises(SystemExit, match="killed after step 4"):
        train_run("tiny", spec, store, workdir=tmp_path / "run" / "work", callbacks=[KillAfterSave(4)])
    ckpt_prefix = f"trainings/tiny/{reference.spec_hash}/checkpoints"
    assert store.read_json(f"{ckpt_prefix}/latest.json")["step"] == 4
    assert not store.exists(f"trainings/tiny/{reference.spec_hash}/metrics.json")

    # the pod restarts on another node: local disk gone, only the store remains
    shutil.rmtree(tmp_path / "run" / "work")
    resumed = train_run("tiny", spec, store, workdir=tmp_path / "run" / "work")
    metrics = store.read_json(f"trainings/tiny/{resumed.spec_hash}/metrics.json")
    assert metrics["resumed_from_step"] == 4 and resumed.global_step == 6
    assert [p["step"] for p in metrics["train_loss"]] == [1, 2, 3, 4, 5, 6]  # one curve across the restart
    assert [p["step"] for p in metrics["eval_loss"]] == [2, 4, 6]
    # same data order, same RNG state: the resumed run ends where the uninterrupted one did
    assert resumed.best_metric == pytest.approx(reference.best_metric, rel=1e-4)
    ref_w, res_w = stored_weights(ref_store, reference), stored_weights(store, resumed)
    assert ref_w.keys() == res_w.keys()
    for name in ref_w:
        torch.testing.assert_close(res_w[name], ref_w[name], rtol=1e-4, atol=1e-5)

    # best checkpoint recorded and retained; retention keeps `keep` newest plus the best
    best_eval = min(metrics["eval_loss"], key=lambda p: p["value"])
    assert metrics["best_checkpoint"].endswith(f"{ckpt_prefix}/checkpoint-{best_eval['step']}")
    kept = {k.split("/")[4] for k in store.list(ckpt_prefix) if "/checkpoint-" in k}
    assert f"checkpoint-{best_eval['step']}" in kept and len(kept) <= 3 and "checkpoint-6" in kept
    assert metrics["perplexity"] == pytest.approx(2.718281828 ** metrics["best_eval_loss"], rel=1e-6)
    assert metrics["tokens_per_second"] > 0 and metrics["train_tokens"] > 0 and metrics["device"] == "cpu"
    assert metrics["mixture"] == pytest.approx({"counselchat": 1 / 3, "esconv": 2 / 3})

    # training never opened a test shard
    assert store.opened and not any("/shards/test/" in k for k in store.opened)

    # evaluate: eval_report.json, then trainings/<name>/latest.json
    evaluated = evaluate_run("tiny", spec, store, workdir=tmp_path / "run" / "work")
    report = store.read_json(f"trainings/tiny/{resumed.spec_hash}/eval_report.json")
    assert set(report["scores"]) == {
        "clinical_similarity",
        "therapeutic_appropriateness",
        "empathy",
        "safety",
        "over_refusal",
    }
    assert all(0.0 <= v <= 1.0 for v in report["scores"].values())
    assert report["suites"]["safety"]["n"] == 22 and report["suites"]["over-refusal"]["n"] == 12
    assert (
        report["suites"]["clinical-similarity"]["n"] == 6
        and report["suites"]["clinical-similarity"]["judge"] == "reference"
    )
    assert report["judge"] == "heuristic" and report["suites"]["empathy"]["judge"] == "heuristic"
    assert report["targets_met"] is evaluated.targets_met and (report["targets_met"] or report["gaps"])
    assert report["prompt_sets"] == {"benign": 1, "crisis": 1, "harmful": 1}
    sample = report["suites"]["safety"]["samples"][0]
    assert sample["id"] == "crisis-001" and sample["judge"] == "heuristic" and isinstance(sample["reply"], str)
    pointer = store.read_json("trainings/tiny/latest.json")
    assert pointer["target"] == f"trainings/tiny/{resumed.spec_hash}"

    # idempotent: the registry's step entry points return the stored results without work
    resource = parse_resource(
        {
            "apiVersion": "pixelgate.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "tiny"},
            "spec": spec.to_wire(),
        }
    )
    again = resolve("train")(
        StepInvocation(resource=resource, store=store, params={"workdir": str(tmp_path / "none")})
    )
    assert again.model_dump() == resumed.model_dump() and not (tmp_path / "none").exists()
    assert resolve("evaluate")(StepInvocation(resource=resource, store=store)).scores == evaluated.scores


def test_early_stopping_keeps_the_best_checkpoint(compiled, tmp_path):
    # a learning rate far too high: eval_loss rises after the first evaluation
    spec = make_spec(maxSteps=12, learningRate=3.0, evalSteps=1)
    spec = spec.model_copy(update={"early_stopping": spec.early_stopping.model_copy(update={"patience": 2})})
    store = fresh_store(compiled, tmp_path)
    result = train_run("diverge", spec, store, workdir=tmp_path / "work")
    metrics = store.read_json(f"trainings/diverge/{result.spec_hash}/metrics.json")
    losses = [p["value"] for p in metrics["eval_loss"]]
    assert metrics["stopped_early"] and result.global_step < 12
    best = min(range(len(losses)), key=losses.__getitem__)
    assert len(losses) == best + 1 + 2  # stopped after `patience` evaluations without improvement
    assert result.best_metric == pytest.approx(losses[best])
    assert result.best_checkpoint.endswith(f"checkpoint-{metrics['eval_loss'][best]['step']}")
    json.dumps(metrics)  # serialisable as written
