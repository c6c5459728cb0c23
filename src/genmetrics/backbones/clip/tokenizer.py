"""OpenAI CLIP's byte-level BPE tokenizer, offline, from the packaged vocabulary.

Text cleaning follows CLIP: ``ftfy.fix_text`` (only when the optional ``ftfy`` package is
installed: it is not a dependency, and without it the fixes it makes to mojibake, curly quotes,
ligatures and full-width characters are not applied), HTML unescaping (twice), Unicode NFC
(what ``ftfy`` would also apply), whitespace runs collapsed to one space, stripped, lowercased.
:attr:`ClipTokenizer.uses_ftfy` says which cleaning ran, so callers can put it in cache keys.

Every sequence is ``<|startoftext|> tokens <|endoftext|>`` padded with 0 to the context length
(77). A longer sequence is cut to 77 ids and its last id replaced by the end token, as CLIP's
``tokenize(..., truncate=True)`` does; :meth:`ClipTokenizer.tokenize` reports which were cut.
"""

from __future__ import annotations

import functools
import gzip
import html
import re
import unicodedata
from collections.abc import Sequence
from importlib import resources
from importlib.util import find_spec

CONTEXT_LENGTH = 77
SOT_TOKEN = "<|startoftext|>"
EOT_TOKEN = "<|endoftext|>"
VOCAB_SIZE = 49408
_N_MERGES = VOCAB_SIZE - 2 * 256 - 2

# CLIP's pre-tokenisation: special tokens, English contractions, letter runs, single digits,
# runs of other non-space characters.
_PRE_TOKENS = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


@functools.cache
def _pattern():
    """The compiled pre-tokeniser (``regex`` is imported when text is first tokenised)."""
    import regex

    return regex.compile(_PRE_TOKENS, regex.IGNORECASE)


_HAS_FTFY = find_spec("ftfy") is not None  # optional, as in CLIP; imported when text is cleaned


def byte_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte → printable character table (printable bytes map to themselves)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += list(range(ord("®"), ord("ÿ") + 1))
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def read_merges(path=None) -> list[tuple[str, str]]:
    """The 48,894 merges of CLIP's vocabulary file (gzip text, one merge a line after a header)."""
    if path is None:
        ref = resources.files("genmetrics") / "data" / "clip" / "bpe_simple_vocab_16e6.txt.gz"
        with ref.open("rb") as f:
            raw = gzip.decompress(f.read())
    else:
        with open(path, "rb") as f:
            raw = gzip.decompress(f.read())
    lines = raw.decode("utf-8").split("\n")[1 : 1 + _N_MERGES]
    return [tuple(line.split()) for line in lines]  # type: ignore[misc]


def build_vocab(merges: Sequence[tuple[str, str]]) -> list[str]:
    """Token strings in id order: bytes, bytes + ``</w>``, merges, then the two special tokens."""
    chars = list(byte_to_unicode().values())
    return [
        *chars,
        *(c + "</w>" for c in chars),
        *("".join(m) for m in merges),
        SOT_TOKEN,
        EOT_TOKEN,
    ]


def clean_text(text: str) -> str:
    if _HAS_FTFY:
        import ftfy

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    text = unicodedata.normalize("NFC", text)
    return re.sub(r"\s+", " ", text).strip().lower()


class ClipTokenizer:
    """CLIP BPE: ``encode`` gives the ids of one text (no special tokens)."""

    uses_ftfy: bool = _HAS_FTFY

    def __init__(self, bpe_path=None, context_length: int = CONTEXT_LENGTH) -> None:
        merges = read_merges(bpe_path)
        vocab = build_vocab(merges)
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.byte_encoder = byte_to_unicode()
        self.context_length = context_length
        self.sot = self.encoder[SOT_TOKEN]
        self.eot = self.encoder[EOT_TOKEN]
        self._cache: dict[str, list[str]] = {SOT_TOKEN: [SOT_TOKEN], EOT_TOKEN: [EOT_TOKEN]}

    def _bpe(self, word: str) -> list[str]:
        """Merge the symbols of one pre-token (its last symbol carries ``</w>``)."""
        if word in self._cache:
            return self._cache[word]
        symbols = [*word[:-1], word[-1] + "</w>"]
        while len(symbols) > 1:
            pairs = {(symbols[i], symbols[i + 1]) for i in range(len(symbols) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(symbols):
                if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        self._cache[word] = symbols
        return symbols

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _pattern().findall(clean_text(text)):
            if piece in (SOT_TOKEN, EOT_TOKEN):
                ids.append(self.encoder[piece])
                continue
            mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[s] for s in self._bpe(mapped))
        return ids

    def tokenize(self, texts: str | Sequence[str]):
        """Texts → ``(ids, truncated)``: an N×77 LongTensor and, per text, whether it was cut."""
        import torch

        if isinstance(texts, str):
            texts = [texts]
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        truncated: list[bool] = []
        for row, text in enumerate(texts):
            ids = [self.sot, *self.encode(text), self.eot]
            cut = len(ids) > self.context_length
            if cut:
                ids = ids[: self.context_length]
                ids[-1] = self.eot
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            truncated.append(cut)
        return out, truncated


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> ClipTokenizer:
    return ClipTokenizer()


def tokenize(texts: str | Sequence[str]):
    """Tokenize with the packaged vocabulary: ``(LongTensor N×77, truncated: list[bool])``."""
    return default_tokenizer().tokenize(texts)
