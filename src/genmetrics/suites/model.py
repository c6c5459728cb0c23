"""Prompt suite data model: :class:`PromptItem` and :class:`PromptSuite`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from genmetrics.errors import UserError

ID_DIGITS = 5


def make_prompt_id(style: str, index: int) -> str:
    """Default prompt id ``STYLE/NNNNN`` (0-based index within the style, 5 digits)."""
    return f"{style}/{index:0{ID_DIGITS}d}"


@dataclass(frozen=True)
class PromptItem:
    """One prompt: ``id`` (e.g. ``anime/00042``), its ``style``, its 0-based ``index`` within
    the style, and the ``prompt`` text. Images for it go to ``STYLE/NNNNN.png``."""

    id: str
    style: str
    index: int
    prompt: str

    @property
    def stem(self) -> str:
        """File stem of this prompt's images inside the style folder (``00042``)."""
        return f"{self.index:0{ID_DIGITS}d}"

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "style": self.style, "index": self.index, "prompt": self.prompt}


@dataclass(frozen=True)
class PromptSuite:
    """An ordered, immutable list of prompts.

    ``source_sha256`` identifies the source: the sha256 of the user's file, or for a built-in
    suite made of several files the sha256 of the lines ``"<file sha256>  <file name>\\n"``.
    """

    name: str
    items: tuple[PromptItem, ...]
    source_sha256: str
    source: str = ""
    _by_id: dict[str, PromptItem] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        by_id: dict[str, PromptItem] = {}
        for item in self.items:
            if item.id in by_id:
                raise UserError(f"suite {self.name!r}: prompt id {item.id!r} appears twice")
            by_id[item.id] = item
        object.__setattr__(self, "_by_id", by_id)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[PromptItem]:
        return iter(self.items)

    @property
    def styles(self) -> tuple[str, ...]:
        """Styles in order of first appearance."""
        return tuple(dict.fromkeys(item.style for item in self.items))

    def by_id(self, prompt_id: str) -> PromptItem:
        try:
            return self._by_id[prompt_id]
        except KeyError:
            raise KeyError(f"suite {self.name!r} has no prompt id {prompt_id!r}") from None

    def by_style(self, style: str) -> tuple[PromptItem, ...]:
        if style not in self.styles:
            raise UserError(
                f"suite {self.name!r} has no style {style!r}; styles: {', '.join(self.styles)}"
            )
        return tuple(item for item in self.items if item.style == style)

    def counts(self) -> dict[str, int]:
        """Number of prompts per style, in style order."""
        out = dict.fromkeys(self.styles, 0)
        for item in self.items:
            out[item.style] += 1
        return out

    def subset(
        self, styles: Sequence[str] | None = None, limit_per_style: int | None = None
    ) -> PromptSuite:
        """Keep only ``styles`` (all when None) and the first ``limit_per_style`` prompts of
        each style; ids, indices and suite identity are unchanged."""
        wanted = self.styles if styles is None else tuple(dict.fromkeys(styles))
        unknown = [s for s in wanted if s not in self.styles]
        if unknown:
            raise UserError(
                f"suite {self.name!r} has no style {', '.join(map(repr, unknown))}; "
                f"choose from: {', '.join(self.styles)}"
            )
        if limit_per_style is not None and limit_per_style < 0:
            raise UserError(f"limit per style must be >= 0, got {limit_per_style}")
        kept: list[PromptItem] = []
        for style in (s for s in self.styles if s in wanted):
            items: Iterable[PromptItem] = self.by_style(style)
            if limit_per_style is not None:
                items = list(items)[:limit_per_style]
            kept.extend(items)
        return PromptSuite(self.name, tuple(kept), self.source_sha256, self.source)
