"""Chat template application and assistant-only loss masking, on a tokenizer trained on real ESConv text."""

from __future__ import annotations

import pytest

from pixelgate.workflows.steps.train.batches import PadCollator
from pixelgate.workflows.steps.train.chat import IGNORE_INDEX, ChatTemplateError, encode, generation_prompt
from pixelgate.workflows.steps.train.model import (
    ModelSourceError,
    conversation_texts,
    parse_vocab,
    train_tokenizer,
    with_chat_template,
)
from tests.train_fixtures import esconv_records


@pytest.fixture(scope="module")
def records(datasets):
    return esconv_records(datasets, "train", 30)


@pytest.fixture(scope="module")
def tokenizer(records):
    return with_chat_template(train_tokenizer(conversation_texts(records), 800), None)


def labelled_runs(tokenizer, example) -> list[str]:
    """Decoded runs of consecutive labelled tokens."""
    runs, current = [], []
    for token, label in zip(example.input_ids, example.labels):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


def test_only_assistant_turns_carry_loss(records, tokenizer):
    messages = [{"role": "system", "content": "You are a supportive listener."}] + [
        m.model_dump() for m in records[0].messages[:6]
    ]
    example = encode(tokenizer, messages, max_length=4096)
    assistant = [m["content"] for m in messages if m["role"] == "assistant"]
    assert assistant, "fixture conversation needs assistant turns"
    # exactly each assistant reply plus the template's end-of-turn marker, in order, and nothing else
    assert labelled_runs(tokenizer, example) == [f"{text}<|im_end|>\n" for text in assistant]
    assert tokenizer.decode(example.input_ids) == tokenizer.apply_chat_template(messages, tokenize=False)
    unlabelled = tokenizer.decode([t for t, label in zip(example.input_ids, example.labels) if label == IGNORE_INDEX])
    for m in messages:
        if m["role"] != "assistant":
            assert m["content"] in unlabelled
    assert "<|im_start|>assistant\n" in unlabelled  # the role header is context, not target


def test_truncation_keeps_masks_aligned(records, tokenizer):
    messages = [m.model_dump() for m in records[1].messages]
    full = encode(tokenizer, messages, max_length=4096)
    cut = encode(tokenizer, messages, max_length=40)
    assert len(cut.input_ids) == 40 < len(full.input_ids)
    assert cut.input_ids == full.input_ids[:40] and cut.labels == full.labels[:40]


def test_generation_prompt_opens_an_assistant_turn(tokenizer):
    ids = generation_prompt(tokenizer, [{"role": "user", "content": "I feel low."}])
    assert tokenizer.decode(ids) == "<|im_start|>user\nI feel low.<|im_end|>\n<|im_start|>assistant\n"


def test_template_that_rewrites_content_is_rejected(tokenizer):
    odd = with_chat_template(
        train_tokenizer(["hello there"], 300), "{% for m in messages %}{{ m['content'] | upper }}\n{% endfor %}"
    )
    with pytest.raises(ChatTemplateError):
        encode(odd, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], 64)


def test_collator_pads_inputs_labels_and_mask():
    batch = PadCollator(pad_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_tokenizer_spec_is_checked():
    assert parse_vocab("train:1000") == 1000
    for bad in ("train:abc", "train:10"):
        with pytest.raises(ModelSourceError):
            parse_vocab(bad)
