"""Chat template application with assistant-only loss masking.

A conversation is rendered with the tokenizer's chat template, tokenized once, and each token is
labelled with its own id when it lies inside an assistant turn's content or the template text that
closes that turn (e.g. ``<|im_end|>``), and ``-100`` otherwise, so the loss covers what the model
must learn to say and nothing it is given. Turn boundaries are found by rendering the conversation
prefix by prefix, which works for any template whose rendering of ``messages[:i]`` is a prefix of
its rendering of ``messages[:i+1]``; a template that breaks this gets a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100

# ChatML; used when neither the spec nor the tokenizer brings a template.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>"]


class ChatTemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans ``[start, end)`` that carry loss."""
    text = render(tokenizer, messages)
    spans: list[tuple[int, int]] = []
    previous = ""
    for i, message in enumerate(messages):
        upto = render(tokenizer, messages[: i + 1]) if i + 1 < len(messages) else text
        if not upto.startswith(previous) or not text.startswith(upto):
            raise ChatTemplateError(
                "the chat template does not render conversations prefix by prefix; assistant masking needs it"
            )
        if message["role"] == "assistant":
            start = upto.find(message["content"], len(previous))
            if start < 0:
                raise ChatTemplateError("the chat template alters assistant content; cannot locate it for masking")
            spans.append((start, len(upto)))
        previous = upto
    return text, spans


def encode(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> Example:
    """Token ids and labels of a conversation, truncated to ``max_length`` tokens."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=max_length
    )
    labels = []
    for token_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        inside = end > start and any(s <= start and end <= e for s, e in spans)
        labels.append(token_id if inside else IGNORE_INDEX)
    return Example(input_ids=list(enc["input_ids"]), labels=labels)


def generation_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` followed by the template's opening of an assistant turn."""
    return tokenizer(render(tokenizer, messages, add_generation_prompt=True), add_special_tokens=False)["input_ids"]
