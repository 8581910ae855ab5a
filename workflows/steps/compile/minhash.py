"""Vectorized MinHash: text normalization, shingling and signatures, all in array code.

Nothing here loops over words or shingles in Python:

* normalization is Arrow compute plus one byte-table lookup (NFKC, lower case, ASCII
  punctuation and common Unicode quotes and dashes become spaces), and Arrow splits the words;
* the words of a batch are dictionary-encoded, so each distinct word is hashed once, with a
  tabulation hash of its bytes (a seeded random table indexed by position and byte value, summed
  with ``np.add.reduceat``) mixed by splitmix64;
* a shingle's hash combines ``ngram`` consecutive token hashes with seeded odd multipliers over
  contiguous slices of the token array (tokens are words, or UTF-8 bytes of the normalized text
  for ``char`` shingles);
* the signature is **one-permutation MinHash with optimal densification** (Shrivastava 2017):
  each shingle hash picks one of ``num_perm`` bins with its high 32 bits and competes for the
  bin's minimum with its low 32 bits (``np.minimum.at``); bins left empty copy the value of a
  donor bin chosen by a seeded sequence shared by every document. Two signatures agree in a bin
  with probability equal to the Jaccard similarity of the shingle sets, as with ``num_perm``
  independent permutations, at the cost of one hash per shingle instead of ``num_perm``.

Signatures are ``uint32[n, num_perm]``. A document without any token has no shingles; its row is
all :data:`EMPTY` and :func:`has_shingles` is False for it (the LSH stage never buckets it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EMPTY = np.uint32(0xFFFFFFFF)
_MASK32 = np.uint64(0xFFFFFFFF)
_SPACE = 32
_MAX_POS = 64  # byte positions within a word beyond this share a table row
_C1, _C2, _C3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)

Unit = Literal["word", "char"]


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise over a uint64 array (wrapping arithmetic)."""
    z = x + _C1
    z = (z ^ (z >> _S30)) * _C2
    z = (z ^ (z >> _S27)) * _C3
    return z ^ (z >> _S31)


# ASCII bytes that are not letters or digits become spaces; bytes >= 128 (UTF-8 letters) stay
_ASCII_FOLD = np.array([b if chr(b).isalnum() or b >= 128 else _SPACE for b in range(256)], dtype=np.uint8)
_UNICODE_PUNCT = ("\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014", "\u2026", "\u00ab", "\u00bb")


def normalize_texts(texts: pa.Array | list[str]) -> pa.LargeStringArray:
    """NFKC, lower case, ASCII punctuation and common Unicode quotes/dashes -> spaces.

    Words are then the whitespace-separated runs; no regex runs over the text (the ASCII fold is
    one table lookup over the UTF-8 buffer).
    """
    arr = pa.array(texts, type=pa.large_string()) if isinstance(texts, list) else texts.cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_lower(_nfkc(pc.fill_null(arr, "")))
    offsets_buf, data_buf = arr.buffers()[1:3]
    if data_buf is None:
        return arr
    # an Arrow-allocated (padded) buffer: string kernels may read past the last byte of a foreign one
    folded = pa.allocate_buffer(data_buf.size)
    out = np.frombuffer(folded, dtype=np.uint8)
    raw = np.frombuffer(data_buf, dtype=np.uint8)
    np.take(_ASCII_FOLD, raw, out=out)
    _blank_unicode_punctuation(raw, out)
    return pa.LargeStringArray.from_buffers(len(arr), offsets_buf, folded, offset=arr.offset)


def _nfkc(arr: pa.LargeStringArray) -> pa.LargeStringArray:
    """NFKC of every text; ASCII texts (NFKC-stable) skip the costly normalization kernel."""
    other = pc.invert(pc.string_is_ascii(arr))
    if not pc.any(other).as_py():
        return arr
    return pc.replace_with_mask(arr, other, pc.utf8_normalize(arr.filter(other), "NFKC"))


def _blank_unicode_punctuation(raw: np.ndarray, out: np.ndarray) -> None:
    """Overwrite the UTF-8 bytes of :data:`_UNICODE_PUNCT` characters with spaces (stays valid UTF-8).

    Only the positions of each mark's (rare) lead byte are examined, not the whole buffer."""
    marks = [np.frombuffer(mark.encode(), dtype=np.uint8) for mark in _UNICODE_PUNCT]
    for lead in sorted({int(code[0]) for code in marks}):
        starts = np.flatnonzero(raw == lead)
        for code in (c for c in marks if c[0] == lead):
            hit = starts[starts <= len(raw) - len(code)]
            for j in range(1, len(code)):
                hit = hit[raw[hit + j] == code[j]]
            for j in range(len(code)):
                out[hit + j] = _SPACE


@dataclass(frozen=True)
class Shingler:
    """Seeded shingle hashing over normalized texts."""

    ngram: int = 5
    unit: Unit = "word"
    seed: int = 1
    _table: np.ndarray = field(init=False, repr=False, compare=False)
    _mult: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([0x5EED, self.seed])
        object.__setattr__(self, "_table", rng.integers(0, 2**64, size=_MAX_POS * 256, dtype=np.uint64))
        object.__setattr__(self, "_mult", rng.integers(0, 2**64, size=self.ngram, dtype=np.uint64) | np.uint64(1))

    def _hash_strings(self, words: pa.Array) -> np.ndarray:
        """Tabulation hash of each string's bytes (position-in-string x byte value), mixed."""
        if isinstance(words, pa.ChunkedArray):
            words = words.combine_chunks()
        words = words.cast(pa.large_string())
        _, offsets_buf, data_buf = words.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[words.offset : words.offset + len(words) + 1]
        if data_buf is None or offsets[-1] == offsets[0]:
            return splitmix64(np.zeros(len(words), dtype=np.uint64))
        data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
        starts = offsets[:-1] - offsets[0]
        lengths = np.diff(offsets)
        owner = np.repeat(np.arange(len(words)), lengths)
        pos = np.minimum(np.arange(len(data)) - starts[owner], _MAX_POS - 1)
        contrib = self._table[pos * 256 + data]
        sums = np.zeros(len(words), dtype=np.uint64)
        nonempty = lengths > 0
        sums[nonempty] = np.add.reduceat(contrib, starts[nonempty])
        return splitmix64(sums + lengths.astype(np.uint64))

    def _tokens(self, normalized: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
        """Token hashes of every document, concatenated, and the token count of each document."""
        if self.unit == "char":
            text = pc.utf8_trim_whitespace(pc.replace_substring_regex(normalized, r"\s+", " "))
            offsets_buf, data_buf = text.buffers()[1:3]
            offsets = np.frombuffer(offsets_buf, dtype=np.int64)[text.offset : text.offset + len(text) + 1]
            data = (
                np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
                if data_buf is not None
                else np.zeros(0, np.uint8)
            )
            return splitmix64(self._table[data]), np.diff(offsets)
        split = pc.utf8_split_whitespace(normalized)
        words = split.flatten()
        doc = np.repeat(np.arange(len(normalized)), pc.list_value_length(split).to_numpy(zero_copy_only=False))
        encoded = words.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        keep = pc.not_equal(encoded.dictionary, "").to_numpy(zero_copy_only=False)[codes]
        codes, doc = codes[keep], doc[keep]
        return self._hash_strings(encoded.dictionary)[codes], np.bincount(doc, minlength=len(normalized))

    def hashes(self, normalized: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes (uint64) and, for each, the index of its document.

        A document with fewer than ``ngram`` tokens yields one shingle of all its tokens; a
        document with no token yields none.
        """
        tokens, counts = self._tokens(normalized)
        n = self.ngram
        first_token = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        # full-length shingles: n contiguous slices of the token array, then the starts that stay in one document
        width = max(len(tokens) - n + 1, 0)  # 0 when the whole batch holds fewer than n tokens
        full = np.zeros(width, dtype=np.uint64)
        for j in range(n):
            full += tokens[j : j + width] * self._mult[j]
        long_docs = counts >= n
        per_doc = np.where(long_docs, counts - n + 1, 0)
        doc_long = np.repeat(np.arange(len(counts)), per_doc)
        starts = first_token[doc_long] + (np.arange(len(doc_long)) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc))
        hashes = [splitmix64(full[starts] + np.uint64(n))]
        docs = [doc_long]
        # short documents (1..n-1 tokens): one shingle of all their tokens
        short = np.flatnonzero((counts > 0) & ~long_docs)
        if len(short):
            acc = np.zeros(len(short), dtype=np.uint64)
            for j in range(n - 1):
                inside = j < counts[short]
                acc[inside] += tokens[first_token[short[inside]] + j] * self._mult[j]
            hashes.append(splitmix64(acc + counts[short].astype(np.uint64)))
            docs.append(short)
        return np.concatenate(hashes), np.concatenate(docs)

    def sets(self, texts: pa.Array | list[str]) -> list[np.ndarray]:
        """The sorted, distinct shingle hashes of each document (for exact Jaccard)."""
        hashes, doc = self.hashes(normalize_texts(texts))
        order = np.lexsort((hashes, doc))
        hashes, doc = hashes[order], doc[order]
        keep = np.ones(len(hashes), dtype=bool)
        keep[1:] = (hashes[1:] != hashes[:-1]) | (doc[1:] != doc[:-1])
        hashes, doc = hashes[keep], doc[keep]
        bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
        return [hashes[bounds[i] : bounds[i + 1]] for i in range(len(texts))]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted distinct hash arrays (1.0 for two empty sets)."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True)
class MinHasher:
    """One-permutation MinHash with optimal densification; see the module docstring."""

    num_perm: int = 128
    seed: int = 1
    shingler: Shingler = field(default_factory=Shingler)
    _donors: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([0xD0D0, self.seed])
        # donors[t, i]: the bin that empty bin i borrows from at attempt t, the same for every document
        object.__setattr__(self, "_donors", rng.integers(0, self.num_perm, size=(8 * self.num_perm, self.num_perm)))

    def from_hashes(self, hashes: np.ndarray, doc: np.ndarray, n_docs: int) -> np.ndarray:
        k = self.num_perm
        sig = np.full(n_docs * k, EMPTY, dtype=np.uint32)
        bins = ((hashes >> _S32) * np.uint64(k)) >> _S32
        np.minimum.at(sig, doc * k + bins.astype(np.int64), (hashes & _MASK32).astype(np.uint32))
        return self._densify(sig.reshape(n_docs, k))

    def _densify(self, sig: np.ndarray) -> np.ndarray:
        """Fill each empty bin from its donor sequence; work shrinks with the bins still empty."""
        out = sig.copy()
        rows, bins = np.nonzero(sig == EMPTY)
        nonempty = (sig != EMPTY).any(axis=1)
        keep = nonempty[rows]  # a document without shingles stays all EMPTY
        rows, bins = rows[keep], bins[keep]
        for t in range(len(self._donors)):
            if not len(rows):
                return out
            donor = sig[rows, self._donors[t, bins]]
            ok = donor != EMPTY
            out[rows[ok], bins[ok]] = donor[ok]
            rows, bins = rows[~ok], bins[~ok]
        # beyond 8*num_perm attempts (a document with one or two shingles): the first non-empty bin
        first = sig[rows, np.argmax(sig[rows] != EMPTY, axis=1)]
        out[rows, bins] = first
        return out

    def signatures(self, texts: pa.Array | list[str]) -> np.ndarray:
        """``uint32[len(texts), num_perm]`` signatures of raw texts."""
        hashes, doc = self.shingler.hashes(normalize_texts(texts))
        return self.from_hashes(hashes, doc, len(texts))


def text_batches(texts: pa.Array, max_records: int = 2048, max_bytes: int = 8 << 20) -> list[slice]:
    """Consecutive slices of ``texts`` holding at most ``max_records`` records and about
    ``max_bytes`` of text, so that the working set of hashing is bounded however long records are."""
    sizes = np.asarray(pc.binary_length(pc.fill_null(texts, "")).to_numpy(zero_copy_only=False), dtype=np.int64)
    out, start, acc = [], 0, 0
    for i, size in enumerate(sizes.tolist()):
        if i > start and (i - start >= max_records or acc + size > max_bytes):
            out.append(slice(start, i))
            start, acc = i, 0
        acc += size
    if start < len(sizes):
        out.append(slice(start, len(sizes)))
    return out


def has_shingles(signatures: np.ndarray) -> np.ndarray:
    return signatures[:, 0] != EMPTY


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of agreeing bins, row by row (two ``[n, num_perm]`` arrays) or for two rows."""
    return (a == b).mean(axis=-1)
