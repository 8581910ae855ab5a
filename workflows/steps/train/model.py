"""Base model and tokenizer from a spec: a store URI, a local path, a hub name, or built here.

* ``model.base``: ``config:<json>`` builds a model from a transformers config (``model_type``
  defaults to ``gpt2``; tests, smoke runs); ``s3://...`` downloads the folder first; anything
  else goes to ``from_pretrained`` (a local folder, or a hub name where a hub is reachable).
* ``model.tokenizer``: ``train:<vocab size>`` trains a byte-level BPE tokenizer on the train
  shards' text (deterministic for the same shards); unset means the base model's tokenizer.
* The chat template is the spec's, else the tokenizer's own, else ChatML (whose markers are added
  as special tokens when missing).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ...api.training_run import ModelSource
from ...store import open_store
from .chat import CHATML_SPECIAL_TOKENS, DEFAULT_CHAT_TEMPLATE

PAD, EOS = "<|pad|>", "<|endoftext|>"


class ModelSourceError(ValueError):
    pass


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = [PAD, EOS, *CHATML_SPECIAL_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, bos_token=EOS, unk_token=None)


def parse_vocab(spec: str) -> int:
    try:
        vocab = int(spec.split(":", 1)[1])
    except ValueError:
        raise ModelSourceError(f"model.tokenizer {spec!r}: expected train:<vocab size>") from None
    if not 300 <= vocab <= 1_000_000:
        raise ModelSourceError(
            f"model.tokenizer {spec!r}: vocab size must lie in [300, 1000000] (byte alphabet + specials)"
        )
    return vocab


def download_prefix(uri: str, dest: Path) -> Path:
    """Copy every object under an ``s3://`` (or store) URI into ``dest``; return ``dest``."""
    store = open_store(uri)
    keys = store.list("")
    if not keys:
        raise ModelSourceError(f"nothing found at {uri}")
    for key in keys:
        target = dest / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.read_bytes(key))
    return dest


def _local_location(location: str, scratch: Path) -> str:
    if location.startswith("s3://"):
        return str(download_prefix(location, Path(tempfile.mkdtemp(prefix="model-", dir=scratch))))
    return location[len("file://") :] if location.startswith("file://") else location


def with_chat_template(tokenizer: Any, template: str | None) -> Any:
    if template:
        tokenizer.chat_template = template
    elif not getattr(tokenizer, "chat_template", None):
        missing = [t for t in CHATML_SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_tokenizer(source: ModelSource, texts: Iterable[str], scratch: Path) -> Any:
    from transformers import AutoTokenizer

    spec = source.tokenizer
    if spec and spec.startswith("train:"):
        tokenizer = train_tokenizer(texts, parse_vocab(spec))
    else:
        location = spec or source.base
        if location.startswith("config:"):
            raise ModelSourceError("model.base is config:<json>, so model.tokenizer must be set (e.g. train:2000)")
        tokenizer = AutoTokenizer.from_pretrained(_local_location(location, scratch))
    return with_chat_template(tokenizer, source.chat_template)


def load_model(source: ModelSource, tokenizer: Any, scratch: Path) -> Any:
    """The base model, its embeddings sized to the tokenizer."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if source.base.startswith("config:"):
        try:
            options = json.loads(source.base[len("config:") :])
        except json.JSONDecodeError as err:
            raise ModelSourceError(f"model.base config:<json> is not valid JSON: {err}") from None
        model_type = options.pop("model_type", "gpt2")
        if model_type == "gpt2":
            options = {"n_positions": source.max_seq_length, **options}
        config = AutoConfig.for_model(
            model_type,
            **options,
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        window = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        if window is not None and window < source.max_seq_length:
            raise ModelSourceError(f"config window {window} < model.maxSeqLength {source.max_seq_length}")
        return AutoModelForCausalLM.from_config(config)
    model = AutoModelForCausalLM.from_pretrained(_local_location(source.base, scratch))
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return model


def conversation_texts(records: Iterable[Any]) -> Iterator[str]:
    """Message texts of records, for tokenizer training."""
    for record in records:
        for message in record.messages:
            yield message.content
