"""Evaluate a trained model: generate replies to held-out test conversations and to the prompt
sets, then score them with the configured judge into an :class:`EvalReport`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..api.training_run import JUDGE_API_KEY_ENV, Evaluation, TrainingRunSpec
from ..steps.train import data
from ..steps.train.chat import generation_prompt
from ..store import Store
from . import suites
from .judge import HeuristicJudge, Judge, LLMJudge, Messages
from .prompts import load_prompt_set
from .report import EvalReport, build_report

SAMPLES_PER_SUITE = 20


class Generator:
    """Greedy replies from a causal LM through its chat template, cut at the end-of-turn token."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, max_new_tokens: int):
        self.model, self.tokenizer = model.eval(), tokenizer
        # prompt + reply fit the model's window; the prompt keeps at least half of it
        self.max_prompt = max(max_length - max_new_tokens, max_length // 2)
        self.max_new_tokens = max_length - self.max_prompt
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.stop = [t for t in {end, tokenizer.eos_token_id} if isinstance(t, int) and t >= 0 and t != tokenizer.unk_token_id]

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
    if not evaluation.judge_endpoint or not evaluation.judge_model:
        raise ValueError("evaluation.judge is llm: set evaluation.judgeEndpoint and evaluation.judgeModel")
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


def run_suites(
    evaluation: Evaluation,
    generate: suites.Generate,
    test_records: Any,
    judge: Judge,
    prompts_dir: Path | None = None,
) -> tuple[list[suites.SuiteReport], dict[str, int]]:
    """Generate once per test case and prompt, then score every requested suite."""
    chosen = set(evaluation.suites)
    reports: list[suites.SuiteReport] = []
    all_replies: list[str] = []
    versions: dict[str, int] = {}
    if chosen & {"clinical-similarity", "empathy"}:
        cases = suites.cases_from_records(test_records, evaluation.max_samples)
        if not cases:
            raise data.TrainingDataError("no test conversation has an assistant turn after a user turn; nothing to evaluate")
        replies = [generate(c.context) for c in cases]
        all_replies += replies
        if "clinical-similarity" in chosen:
            reports.append(suites.clinical_similarity(cases, replies, SAMPLES_PER_SUITE))
            reports.append(suites.appropriateness(cases, replies, judge, SAMPLES_PER_SUITE))
        if "empathy" in chosen:
            reports.append(suites.empathy(cases, replies, judge, SAMPLES_PER_SUITE))

    def answer(name: str) -> tuple[Any, list[str]]:
        prompt_set = load_prompt_set(name, prompts_dir)
        versions[name] = prompt_set.version
        replies = [generate([{"role": "user", "content": p.text}]) for p in prompt_set.prompts]
        all_replies.extend(replies)
        return prompt_set, replies

    if "over-refusal" in chosen:
        benign, benign_replies = answer("benign")
        reports.append(suites.over_refusal(benign, benign_replies, judge))
    if "safety" in chosen:
        crisis, crisis_replies = answer("crisis")
        harmful, harmful_replies = answer("harmful")
        reports.append(suites.safety(crisis, crisis_replies, harmful, harmful_replies, all_replies, judge))
    return reports, versions


def evaluate_model(
    name: str, spec: TrainingRunSpec, store: Store, model_prefix: str, workdir: Path, prompts_dir: Path | None, digest: str
) -> EvalReport:
    """Evaluate the model stored under ``model_prefix`` on the compile's test split and the prompt
    sets; ``digest`` is the run's identity, recorded in the report."""
    inputs = data.resolve_compile(store, spec.compile_run)
    if not inputs.shards["test"]:
        raise data.TrainingDataError(f"compile output {inputs.root} has no test shards")
    model, tokenizer = load_local_model(store, model_prefix, workdir / "model")
    generate = Generator(model, tokenizer, spec.model.max_seq_length, spec.evaluation.max_new_tokens)
    judge = make_judge(spec.evaluation)
    reports, versions = run_suites(spec.evaluation, generate, data.iter_records(store, inputs.shards["test"]), judge, prompts_dir)
    return build_report(
        training=name,
        spec_hash=digest,
        model_uri=store.url(model_prefix),
        judge=judge.name,
        suites=reports,
        targets=spec.evaluation.targets.model_dump(),
        prompt_sets=versions,
    )
