"""Evaluate a trained model: generate replies to held-out test conversations and to the prompt
sets, then score them with the configured judge into an :class:`EvalReport`."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ... import steplog
from ...api.kinds import EVALUATE
from ...api.training_run import JUDGE_API_KEY_ENV, Evaluation, TrainingRunSpec
from ...store import Store
from ..train import data
from ..train.chat import generation_prompt
from . import suites
from .judge import HeuristicJudge, Judge, LLMJudge, Messages
from .prompts import load_prompt_set
from .report import EvalReport, build_report

SAMPLES_PER_SUITE = 20
log = logging.getLogger(__name__)


class Generator:
    """Greedy replies from a causal LM through its chat template, cut at the end-of-turn token."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, max_new_tokens: int):
        self.model, self.tokenizer = model.eval(), tokenizer
        # prompt + reply fit the model's window; the prompt keeps at least half of it
        self.max_prompt = max(max_length - max_new_tokens, max_length // 2)
        self.max_new_tokens = max_length - self.max_prompt
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.stop = [
            t for t in {end, tokenizer.eos_token_id} if isinstance(t, int) and t >= 0 and t != tokenizer.unk_token_id
        ]

    def __call__(self, messages: Messages) -> str:
        import torch

        ids = generation_prompt(self.tokenizer, messages)[-self.max_prompt :]  # keep the most recent turns
        inputs = torch.tensor([ids], device=self.model.device)
        with torch.no_grad():
            out = self.model.generate(
                inputs,
                attention_mask=torch.ones_like(inputs),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                eos_token_id=self.stop,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return self.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True).strip()


def make_judge(evaluation: Evaluation) -> Judge:
    if evaluation.judge == "heuristic":
        return HeuristicJudge()
    assert evaluation.judge_endpoint and evaluation.judge_model  # the model refuses an llm judge without them
    return LLMJudge(evaluation.judge_endpoint, evaluation.judge_model, api_key=os.environ.get(JUDGE_API_KEY_ENV))


def load_local_model(store: Store, model_prefix: str, dest: Path) -> tuple[Any, Any]:
    """Download the trained model folder and load it (on the GPU when there is one)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for key in store.list(model_prefix):
        target = dest / key[len(model_prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.read_bytes(key))
    model = AutoModelForCausalLM.from_pretrained(dest)
    return model.to("cuda") if torch.cuda.is_available() else model, AutoTokenizer.from_pretrained(dest)


def _prompt_set_names(chosen: set[str]) -> list[str]:
    return (["benign"] if "over-refusal" in chosen else []) + (["crisis", "harmful"] if "safety" in chosen else [])


def run_suites(
    evaluation: Evaluation,
    generate: suites.Generate,
    test_records: Any,
    judge: Judge,
    prompts_dir: Path | None = None,
) -> tuple[list[suites.SuiteReport], dict[str, int]]:
    """Generate once per test case and prompt, then score every requested suite. Progress: replies
    generated of all (test cases and prompts); a line per generation set and per suite."""
    chosen = set(evaluation.suites)
    reports: list[suites.SuiteReport] = []
    all_replies: list[str] = []
    cases: list[suites.Case] = []
    if chosen & {"clinical-similarity", "empathy"}:
        cases = suites.cases_from_records(test_records, evaluation.max_samples)
        if not cases:
            raise data.TrainingDataError(
                "no test conversation has an assistant turn after a user turn; nothing to evaluate"
            )
    prompt_sets = {name: load_prompt_set(name, prompts_dir) for name in _prompt_set_names(chosen)}
    versions = {name: prompt_set.version for name, prompt_set in prompt_sets.items()}
    total = len(cases) + sum(len(prompt_set.prompts) for prompt_set in prompt_sets.values())
    progress = steplog.Progress(total, log=log, log_event="evaluate.progress")

    def replies_to(what: str, contexts: list[Messages]) -> list[str]:
        with steplog.phase(log, "evaluate.generate", set=what, prompts=len(contexts)) as current:
            replies = []
            for context in contexts:
                replies.append(generate(context))
                progress.advance()
            current["chars"] = sum(len(r) for r in replies)
        all_replies.extend(replies)
        return replies

    def score(fn: Any, *args: Any) -> None:
        started = time.perf_counter()
        report = fn(*args)
        steplog.event(
            log,
            "evaluate.suite",
            suite=report.name,
            score=round(report.score, 4),
            judge=report.judge,
            n=report.n,
            elapsed_s=round(time.perf_counter() - started, 3),
        )
        reports.append(report)

    if cases:
        replies = replies_to("test", [c.context for c in cases])
        if "clinical-similarity" in chosen:
            score(suites.clinical_similarity, cases, replies, SAMPLES_PER_SUITE)
            score(suites.appropriateness, cases, replies, judge, SAMPLES_PER_SUITE)
        if "empathy" in chosen:
            score(suites.empathy, cases, replies, judge, SAMPLES_PER_SUITE)

    def answer(name: str) -> tuple[Any, list[str]]:
        prompt_set = prompt_sets[name]
        return prompt_set, replies_to(name, [[{"role": "user", "content": p.text}] for p in prompt_set.prompts])

    if "over-refusal" in chosen:
        benign, benign_replies = answer("benign")
        score(suites.over_refusal, benign, benign_replies, judge)
    if "safety" in chosen:
        crisis, crisis_replies = answer("crisis")
        harmful, harmful_replies = answer("harmful")
        score(suites.safety, crisis, crisis_replies, harmful, harmful_replies, all_replies, judge)
    progress.flush()
    return reports, versions


def evaluate_model(
    name: str,
    spec: TrainingRunSpec,
    store: Store,
    model_prefix: str,
    workdir: Path,
    prompts_dir: Path | None,
    digest: str,
) -> EvalReport:
    """Evaluate the model stored under ``model_prefix`` on the compile's test split and the prompt
    sets; ``digest`` is the run's identity, recorded in the report."""
    inputs = data.resolve_compile(store, spec.compile_run)
    if not inputs.shards["test"]:
        raise data.TrainingDataError(f"compile output {inputs.root} has no test shards")
    with steplog.phase(log, "evaluate.model", model=store.url(model_prefix)) as current:
        model, tokenizer = load_local_model(store, model_prefix, workdir / "model")
        current["device"] = str(model.device)
    generate = Generator(model, tokenizer, spec.model.max_seq_length, spec.evaluation.max_new_tokens)
    judge = make_judge(spec.evaluation)
    suite_names = list(spec.evaluation.suites)
    with steplog.phase(log, EVALUATE.name, training=name, judge=judge.name, suites=suite_names) as current:
        test_records = data.iter_records(store, inputs.shards["test"])
        reports, versions = run_suites(spec.evaluation, generate, test_records, judge, prompts_dir)
        report = build_report(
            training=name,
            spec_hash=digest,
            model_uri=store.url(model_prefix),
            judge=judge.name,
            suites=reports,
            targets=spec.evaluation.targets.model_dump(),
            prompt_sets=versions,
        )
        current.update(scores={k: round(v, 4) for k, v in report.scores.items()}, targets_met=report.targets_met)
    return report
