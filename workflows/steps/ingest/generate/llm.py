"""The ``llm`` generator: conversations written by an OpenAI-compatible ``/chat/completions``
endpoint (e.g. vLLM), with prompts versioned in data/llm-prompts-v<N>.yaml.

* **Rate limit**: one request at a time, started at least ``60 / requestsPerMinute`` seconds apart.
* **Retry**: connection errors, timeouts, 429 and 5xx are retried up to ``maxRetries`` times with
  exponential backoff (a ``Retry-After`` header wins); other 4xx answers fail the step at once.
* **Resume**: every chat completion the endpoint returns is cached in the store under
  ``families/<family>/generate-cache/<key>/<category>/<index>.json``, where ``<key>`` hashes
  what determines an answer (url, model, prompt hash, seed, temperature). A rerun after a crash, or
  with a larger ``count``, requests only the conversations not cached yet.
* **Output hash**: the family's identity is its spec's hash; the prompts are versioned by
  ``promptVersion`` (and their hash is recorded in every record's provenance).
* **Parsing**: the model must answer JSON ``{"turns": [{"role", "content"}, ...]}`` alternating
  user/assistant, starting with the user and ending with the assistant; anything else is
  rejected as ``generator_malformed`` and quarantined with the raw answer.
* **API key**: read from the environment variable ``PIXELGATE_GENERATOR_API_KEY`` (the Secret
  named by ``llm.apiKey`` is mounted there) and sent as a bearer token.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .... import layout
from ....api.dataset_family import GENERATOR_API_KEY_ENV, GenerateSource, LlmGenerator
from ....store import Store
from ..produced import Conversation, Produced, Rejected
from ..sources import IngestError
from . import generated_conversation, generated_origin, plan
from .categories import BY_ID, counts_per_category
from .template import MAX_EXCHANGES, record_rng

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class LlmPrompts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    system: str = Field(min_length=1)
    user: str = Field(min_length=1)


@dataclass(frozen=True)
class LoadedPrompts:
    prompts: LlmPrompts
    sha256: str


@lru_cache(maxsize=4)
def load_prompts(version: int) -> LoadedPrompts:
    try:
        data = resources.files(__package__).joinpath("data", f"llm-prompts-v{version}.yaml").read_bytes()
    except FileNotFoundError:
        raise IngestError(
            "source.generate.llm.promptVersion", f"no prompts of version {version} ship with this pixelgate"
        ) from None
    return LoadedPrompts(LlmPrompts.model_validate(yaml.safe_load(data)), hashlib.sha256(data).hexdigest())


class Turn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class GeneratedConversation(BaseModel):
    """What the model must answer."""

    model_config = ConfigDict(extra="ignore")

    turns: list[Turn] = Field(min_length=2)

    @model_validator(mode="after")
    def _alternates(self) -> "GeneratedConversation":
        roles = [t.role for t in self.turns]
        if any(r != ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(roles)) or roles[-1] != "assistant":
            raise ValueError(f"turns must alternate user/assistant from a user turn to an assistant turn, got {roles}")
        return self


def parse_answer(answer: str) -> list[tuple[str, str]]:
    """The (role, text) turns of a model answer; ValueError says why it is malformed."""
    match = _JSON_OBJECT.search(answer)
    if match is None:
        raise ValueError("no JSON object in the answer")
    try:
        parsed = GeneratedConversation.model_validate_json(match.group(0))
    except ValidationError as err:
        raise ValueError(f"not a conversation: {err.errors()[0]['msg']} at {err.errors()[0]['loc']}") from None
    return [(t.role, t.content.strip()) for t in parsed.turns]


class RateLimiter:
    """Starts at most ``per_minute`` requests a minute, evenly spaced."""

    def __init__(self, per_minute: int):
        self.interval = 60.0 / per_minute
        self.next_at = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self.next_at:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


class ChatClient:
    """``POST {url}/chat/completions`` with rate limit and retries; returns the answer text."""

    def __init__(self, settings: LlmGenerator, api_key: str | None, timeout: float = 120.0, backoff_s: float = 1.0):
        self.settings, self.api_key, self.timeout, self.backoff_s = settings, api_key, timeout, backoff_s
        self.endpoint = settings.url.rstrip("/") + "/chat/completions"
        self.limiter = RateLimiter(settings.requests_per_minute)
        self.requests = 0

    def complete(self, messages: list[dict[str, str]], seed: int) -> str:
        body = json.dumps(
            {
                "model": self.settings.model,
                "messages": messages,
                "temperature": self.settings.temperature,
                "seed": seed,
                "response_format": {"type": "json_object"},
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
        }
        last = ""
        for attempt in range(self.settings.max_retries + 1):
            self.limiter.wait()
            self.requests += 1
            delay = self.backoff_s * 2**attempt
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(self.endpoint, data=body, headers=headers), timeout=self.timeout
                ) as response:
                    return _answer_text(response.read())
            except urllib.error.HTTPError as err:
                if err.code not in RETRY_STATUSES:
                    raise IngestError(
                        "source.generate.llm", f"{self.endpoint} answered HTTP {err.code}: {err.read()[:200]!r}"
                    ) from None
                last = f"HTTP {err.code}"
                delay = _retry_after(err.headers.get("Retry-After"), delay)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = str(getattr(err, "reason", err))
            if attempt < self.settings.max_retries:
                time.sleep(delay)
        raise IngestError(
            "source.generate.llm",
            f"{self.endpoint} failed {self.settings.max_retries + 1} times (last: {last}); "
            "rerun to resume: finished conversations are cached",
        )


class MalformedEnvelope(ValueError):
    """The endpoint's HTTP 200 body is not a chat completion."""


def _answer_text(body: bytes) -> str:
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise MalformedEnvelope(f"not a chat completion ({type(err).__name__}): {body[:200]!r}") from None
    if not isinstance(content, str):
        raise MalformedEnvelope(f"message content is {type(content).__name__}, not text")
    return content


def _retry_after(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


def cache_key(settings: LlmGenerator, prompt_hash: str, seed: int) -> str:
    what = {
        "url": settings.url.rstrip("/"),
        "model": settings.model,
        "prompt_hash": prompt_hash,
        "seed": seed,
        "temperature": settings.temperature,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def api_key(settings: LlmGenerator) -> str | None:
    key = os.environ.get(GENERATOR_API_KEY_ENV) or None
    if settings.api_key is not None and key is None:
        raise IngestError(
            "source.generate.llm.apiKey",
            f"Secret {settings.api_key.name}/{settings.api_key.key} is not mounted: "
            f"set the environment variable {GENERATOR_API_KEY_ENV}",
        )
    return key


def request_messages(prompts: LlmPrompts, category: str, index: int, seed: int) -> tuple[list[dict[str, str]], int]:
    """The chat messages asking for one conversation, and the per-record seed sent with them."""
    cat = BY_ID[category]
    rng = record_rng(seed, category, index)
    user = prompts.user.format(
        title=cat.title,
        category=cat.id,
        description=cat.description,
        risk=cat.risk,
        must_contain=", ".join(cat.must_contain),
        index=index,
        seed=seed,
        exchanges=rng.randint(1, MAX_EXCHANGES),
    )
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}], rng.getrandbits(31)


def llm_conversations(
    family: str, gen: GenerateSource, store: Store | None, client: ChatClient | None = None
) -> Produced:
    settings = gen.llm
    if settings is None:
        raise IngestError("source.generate.llm", "required when source.generate.generator is llm")
    loaded = load_prompts(settings.prompt_version)
    client = client or ChatClient(settings, api_key(settings))
    version, modified = str(loaded.prompts.version), f"{loaded.prompts.date}T00:00:00Z"
    origins = {
        c: generated_origin("llm", version, gen.seed, loaded.sha256, modified, c, settings.model)
        for c in counts_per_category(gen.categories, gen.count)
    }
    cache_root = layout.family_generate_cache(family, cache_key(settings, loaded.sha256, gen.seed))

    def answer(category: str, index: int) -> str:
        key = layout.family_generate_answer(cache_root, category, index)
        if store is not None and store.exists(key):
            return str(store.read_json(key)["content"])
        messages, seed = request_messages(loaded.prompts, category, index, gen.seed)
        content = client.complete(messages, seed)
        if store is not None:
            store.write_json(key, {"content": content, "model": settings.model, "seed": seed})
        return content

    def stream() -> Iterator[Conversation | Rejected]:
        for category, index in plan(gen):
            position = f"{category}/{index}"
            try:
                content = answer(category, index)
            except MalformedEnvelope as err:
                yield Rejected(position, {"category": category, "index": index}, "generator_malformed", str(err))
                continue
            try:
                turns = parse_answer(content)
            except ValueError as err:
                yield Rejected(
                    position,
                    {"category": category, "index": index, "answer": content},
                    "generator_malformed",
                    str(err),
                )
                continue
            yield generated_conversation(
                "llm",
                category,
                index,
                turns,
                origins[category],
                {"category": category, "index": index, "answer": content},
            )

    default = generated_origin("llm", version, gen.seed, loaded.sha256, modified, None, settings.model)
    return Produced(default, stream(), [{"uri": default.source_uri, "sha256": loaded.sha256}])
