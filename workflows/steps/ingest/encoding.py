"""Text repair: bytes -> str with charset detection, ftfy, HTML to text, NFC; with counts.

ftfy options (``FTFY_CONFIG``), chosen deliberately:

* ``uncurl_quotes=False``: curly quotes and apostrophes are real typography in counselling
  text; straightening them would change content for no gain.
* ``unescape_html=False``: HTML is handled only where the mapping says ``stripHtml`` (a plain
  text "&amp;" written by a user stays as written).
* ``fix_character_width=False``: full-width forms are meaningful in CJK text; NFC (not NFKC)
  is the normalization for the same reason, applied after ftfy (``normalization=None`` there)
  so that its changes are counted apart. ``content_hash`` uses NFKC separately.
* everything else as ftfy's defaults (mojibake, C1 controls, ligatures, line breaks,
  surrogates, control characters, terminal escapes).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from html.parser import HTMLParser

import ftfy
from charset_normalizer import from_bytes

FTFY_CONFIG = ftfy.TextFixerConfig(
    uncurl_quotes=False,
    unescape_html=False,
    fix_character_width=False,
    normalization=None,  # NFC is applied after ftfy, so that its changes are counted separately
    explain=False,
)

_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
}
_BLANKS = re.compile(r"[ \t\u00a0]*\n[ \t\u00a0\n]*\n")
_SPACES = re.compile(r"[ \t]+")


class UndecodableText(ValueError):
    """Bytes that are neither UTF-8 nor any charset that detection trusts."""


def decode_bytes(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode ``data``: the forced ``encoding``, else UTF-8 (BOM stripped), else the detected charset.

    Returns ``(text, codec)``; raises :class:`UndecodableText` when nothing fits.
    """
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as err:
            raise UndecodableText(f"not valid {encoding}: {err}") from None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise UndecodableText("bytes are not UTF-8 and no charset could be detected")
    return str(best), best.encoding


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0  # inside <style> or <script>

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("style", "script"):
            self.hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS and tag != "br":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(text: str) -> str:
    """Tags, comments, styles and scripts removed (block tags become paragraph breaks), entities
    unescaped, blank runs collapsed."""
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    out = html.unescape("".join(parser.parts))  # entities the parser left (e.g. double-escaped)
    out = _SPACES.sub(" ", out)
    return _BLANKS.sub("\n\n", out).strip()


class TextRepair:
    """Repairs texts and counts what it changed (keys: ``charset_detected``, ``surrogate_bytes``,
    ``ftfy``, ``nfc``, ``html_stripped``)."""

    def __init__(self, strip_html: bool = False):
        self.strip_html = strip_html
        self.counts: Counter[str] = Counter()

    def fix(self, text: str) -> str:
        """Repair one text. Raises :class:`UndecodableText` for bytes nothing can decode."""
        if any("\udc80" <= ch <= "\udcff" for ch in text):
            # Non-UTF-8 bytes smuggled through the reader's surrogateescape: decode them properly.
            text, _ = decode_bytes(text.encode("utf-8", "surrogateescape"))
            self.counts["surrogate_bytes"] += 1
        if self.strip_html:
            stripped = html_to_text(text)
            if stripped != text:
                self.counts["html_stripped"] += 1
            text = stripped
        fixed = ftfy.fix_text(text, config=FTFY_CONFIG)
        if fixed != text:
            self.counts["ftfy"] += 1
        normalized = unicodedata.normalize("NFC", fixed)
        if normalized != fixed:
            self.counts["nfc"] += 1
        return normalized
