"""The llm generator against a real local HTTP server speaking the OpenAI ``/chat/completions``
protocol (loopback only): request-dependent answers, retry on 429/5xx, rate limit, resume from
the store cache after a crash, malformed answers quarantined, the API key from the environment."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pixelgate.workflows.api.dataset_family import GENERATOR_API_KEY_ENV, DatasetFamilySpec
from pixelgate.workflows.recordio import iter_records
from pixelgate.workflows.steps.ingest import IngestError, ingest_family
from pixelgate.workflows.steps.ingest.generate.llm import load_prompts, parse_answer
from pixelgate.workflows.store import LocalStore

_CATEGORY = re.compile(r"^Category: .* \(([a-z-]+)\)$", re.MULTILINE)
_INDEX = re.compile(r"conversation number (\d+) of this category \(seed (\d+)\)")


@dataclass
class ChatState:
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses for the next requests
    fail_after: int | None = None  # every request after this many answered gets HTTP 500
    malformed: dict[int, str] = field(default_factory=dict)  # index -> "prose" | "roles" | "envelope"
    bodies: list[dict] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    answered: int = 0


def _conversation(category: str, index: int, seed: int) -> dict:
    return {
        "turns": [
            {"role": "user", "content": f"I need to talk about {category.replace('-', ' ')}, conversation {index}."},
            {
                "role": "assistant",
                "content": f"Thank you for telling me. Are you safe right now? You can call or text 988 any "
                f"time. ({seed})",
            },
        ]
    }


class _Handler(BaseHTTPRequestHandler):
    state: ChatState

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, payload: dict | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload or {"error": {"message": "try later"}}).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state = self.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state.bodies.append(body)
        state.auth.append(self.headers.get("Authorization"))
        state.times.append(time.monotonic())
        if self.path != "/v1/chat/completions":
            return self._send(404)
        if state.fail_next:
            status = state.fail_next.pop(0)
            return self._send(status, headers={"Retry-After": "0"} if status == 429 else None)
        if state.fail_after is not None and state.answered >= state.fail_after:
            return self._send(500)
        state.answered += 1
        prompt = body["messages"][1]["content"]
        category = _CATEGORY.search(prompt).group(1)
        index, seed = int(_INDEX.search(prompt).group(1)), body["seed"]
        kind = state.malformed.get(index)
        if kind == "envelope":
            return self._send(200, {"id": "x", "object": "chat.completion"})
        if kind == "prose":
            content = "Sure! Here is a conversation between a user and a counsellor about feeling low."
        elif kind == "roles":
            content = json.dumps(
                {"turns": [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Hi."}]}
            )
        else:
            content = "```json\n" + json.dumps(_conversation(category, index, seed)) + "\n```"
        self._send(
            200,
            {
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "model": body["model"],
            },
        )


@pytest.fixture
def chat() -> Iterator[tuple[str, ChatState]]:
    state = ChatState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()


def _spec(url: str, count: int, categories: list[str] | None = None, **llm) -> DatasetFamilySpec:
    settings = {"url": url, "model": "tiny-chat", "requestsPerMinute": 6000, "maxRetries": 2, **llm}
    return DatasetFamilySpec.model_validate(
        {
            "source": {
                "generate": {
                    "count": count,
                    "seed": 9,
                    "generator": "llm",
                    "llm": settings,
                    "categories": categories or ["grief", "self-harm", "hostility"],
                }
            },
            "stage": "edge-stress-test",
            "pii": {"entities": []},
        }
    )


def _records(store: LocalStore, spec_hash: str) -> list:
    return list(iter_records(store, f"families/gen/{spec_hash}/records"))


def test_llm_records_follow_the_requests_with_provenance(tmp_path: Path, chat) -> None:
    url, state = chat
    store = LocalStore(tmp_path)
    result = ingest_family("gen", _spec(url, 6), store)
    assert result.records_out == 6 and result.quarantined == 0
    assert len(state.bodies) == 6 and {b["model"] for b in state.bodies} == {"tiny-chat"}
    assert len({b["seed"] for b in state.bodies}) == 6  # one request seed per record
    assert state.bodies[0]["messages"][0]["content"] == load_prompts(1).prompts.system
    prompt_hash = load_prompts(1).sha256
    for r in _records(store, result.spec_hash):
        category, index = r.provenance.source_record.split("/")
        assert (
            f"about {category.replace('-', ' ')}, conversation {index}." in r.messages[0].content
        )  # request-dependent answers
        assert r.provenance.generator.model_dump() == {
            "name": "llm",
            "version": "1",
            "seed": 9,
            "category": category,
            "prompt_hash": prompt_hash,
            "model": "tiny-chat",
        }
        assert r.provenance.source_uri == "generate://llm/v1?seed=9&model=tiny-chat"
        assert r.provenance.license == "LicenseRef-pixelgate-generated" and r.provenance.allow_training
    stats = store.read_json(f"families/gen/{result.spec_hash}/stats.json")
    assert stats["categories"] == {"grief": 2, "hostility": 2, "self-harm": 2}


def test_429_and_500_are_retried(tmp_path: Path, chat) -> None:
    url, state = chat
    state.fail_next = [429, 500]
    result = ingest_family("gen", _spec(url, 3), LocalStore(tmp_path))
    assert result.records_out == 3
    assert len(state.bodies) == 5  # two failures, then three answers


def test_retries_exhausted_fail_the_step_naming_the_field(tmp_path: Path, chat) -> None:
    url, state = chat
    state.fail_next = [503, 503, 503]
    with pytest.raises(IngestError) as err:
        ingest_family("gen", _spec(url, 3, maxRetries=1), LocalStore(tmp_path))
    assert err.value.field == "source.generate.llm" and "failed 2 times (last: HTTP 503)" in str(err.value)


def test_client_errors_are_not_retried(tmp_path: Path, chat) -> None:
    url, state = chat
    with pytest.raises(IngestError, match="HTTP 404"):
        ingest_family("gen", _spec(url.replace("/v1", "/v2"), 3), LocalStore(tmp_path))
    assert len(state.bodies) == 1


def test_rate_limit_spaces_requests(tmp_path: Path, chat) -> None:
    url, state = chat
    started = time.monotonic()
    ingest_family("gen", _spec(url, 5, requestsPerMinute=300), LocalStore(tmp_path))
    # five requests started 0.2 s apart take at least 0.8 s (loopback answers take milliseconds)
    assert len(state.times) == 5 and time.monotonic() - started >= 0.8
    assert state.times[-1] - started >= 0.8


def test_resume_after_a_crash_requests_only_the_missing_conversations(tmp_path: Path, chat) -> None:
    url, state = chat
    spec = _spec(url, 9, maxRetries=0)
    store = LocalStore(tmp_path / "crashed")
    state.fail_after = 4  # the endpoint dies after four answers
    with pytest.raises(IngestError):
        ingest_family("gen", spec, store)
    assert not store.exists("families/gen/latest.json")
    assert len(store.list("families/gen/generate-cache")) == 4
    state.fail_after, before = None, len(state.bodies)
    resumed = ingest_family("gen", spec, store)
    assert len(state.bodies) - before == 5  # only the five not cached
    before = len(state.bodies)
    again = ingest_family("gen", spec, store)
    assert len(state.bodies) == before  # a full rerun is all cache hits
    fresh_store = LocalStore(tmp_path / "fresh")
    fresh = ingest_family("gen", spec, fresh_store)
    key = f"families/gen/{fresh.spec_hash}/records/part-00000.parquet"
    assert resumed.spec_hash == again.spec_hash == fresh.spec_hash
    assert store.read_bytes(key) == fresh_store.read_bytes(key)  # resumed output equals an uninterrupted run


def test_malformed_answers_are_quarantined_with_the_raw_answer(tmp_path: Path, chat) -> None:
    url, state = chat
    state.malformed = {1: "prose", 2: "roles", 3: "envelope"}
    store = LocalStore(tmp_path)
    result = ingest_family("gen", _spec(url, 8, categories=["grief", "minor"]), store)
    # indices 1, 2 and 3 of both categories are malformed: six of eight
    assert result.records_out == 2 and result.quarantined_by_reason == {"generator_malformed": 6}
    lines = (
        store.read_bytes(f"families/gen/{result.spec_hash}/quarantine/generator_malformed.jsonl").decode().splitlines()
    )
    entries = {e["source_record"]: e for e in map(json.loads, lines)}
    assert set(entries) == {f"{c}/{i}" for c in ("grief", "minor") for i in (1, 2, 3)}
    assert entries["grief/1"]["raw"]["answer"].startswith("Sure! Here is")
    assert "alternate" in entries["minor/2"]["detail"]
    assert "not a chat completion" in entries["grief/3"]["detail"]


def test_api_key_comes_from_the_environment(tmp_path: Path, chat, monkeypatch) -> None:
    url, state = chat
    spec = _spec(url, 2, apiKey={"name": "vllm-token", "key": "token"})
    monkeypatch.delenv(GENERATOR_API_KEY_ENV, raising=False)
    with pytest.raises(IngestError) as err:
        ingest_family("gen", spec, LocalStore(tmp_path / "a"))
    assert err.value.field == "source.generate.llm.apiKey" and GENERATOR_API_KEY_ENV in str(err.value)
    assert state.bodies == []
    monkeypatch.setenv(GENERATOR_API_KEY_ENV, "s3cret")
    ingest_family("gen", spec, LocalStore(tmp_path / "b"))
    assert state.auth == ["Bearer s3cret", "Bearer s3cret"]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ('{"turns": [{"role": "user", "content": "hi"}]}', "at least 2"),
        ('{"turns": [{"role": "user", "content": "hi"}, {"role": "user", "content": "hello"}]}', "alternate"),
        (
            '{"turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}',
            "at least 1 character",
        ),
        (
            '{"turns": [{"role": "user", "content": "hi"}, {"role": "counsellor", "content": "hey"}]}',
            "'user' or 'assistant'",
        ),
        ("no json at all", "no JSON object"),
    ],
)
def test_parse_answer_rejects_malformed_conversations(answer: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_answer(answer)
