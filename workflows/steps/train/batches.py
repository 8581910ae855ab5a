"""Torch datasets over the record streams, and the padding collator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import IterableDataset

from ...records import Record
from .chat import IGNORE_INDEX, encode


class EncodedStream(IterableDataset):
    """Encodes records from ``records()`` (called afresh for every pass); drops examples left
    without any trained token after truncation (e.g. a long user turn that fills the window)."""

    def __init__(self, records: Callable[[], Iterator[Record]], tokenizer: Any, max_length: int):
        self.records, self.tokenizer, self.max_length = records, tokenizer, max_length

    def __iter__(self) -> Iterator[dict[str, list[int]]]:
        for record in self.records():
            example = encode(self.tokenizer, [m.model_dump() for m in record.messages], self.max_length)
            if example.trained_tokens:
                yield {"input_ids": example.input_ids, "labels": example.labels}


class PadCollator:
    """Right-pads a batch to its longest example: pad id in inputs, -100 in labels, 0 in the mask."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(ex["input_ids"]) for ex in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ex in enumerate(batch):
            n = len(ex["input_ids"])
            ids[row, :n] = torch.tensor(ex["input_ids"])
            labels[row, :n] = torch.tensor(ex["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
