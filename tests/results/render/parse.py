"""Read an HTML report back with the standard library's parser (for the tests)."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

from PIL import Image


class Page(HTMLParser):
    """Tags with attributes, text, and every table as rows of (text, title) cells."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.tables: list[list[list[tuple[str, str | None]]]] = []
        self.styles: list[str] = []
        self._cell: list[str] | None = None
        self._title: str | None = None
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        self.tags.append((tag, d))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell, self._title = [], d.get("title")
        elif tag == "style":
            self._in_style = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(("".join(self._cell).strip(), self._title))
            self._cell = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def check_self_contained(html: str) -> Page:
    """Assert: no script, no event handler, no external reference; every image decodes."""
    page = Page(html)
    names = {t for t, _ in page.tags}
    assert not names & {"script", "iframe", "object", "embed", "link", "base", "form"}, names
    n_images = 0
    for tag, attrs in page.tags:
        for key, value in attrs.items():
            assert not key.lower().startswith("on"), (tag, key, value)
            if key in ("xmlns", "xmlns:xlink"):
                continue
            v = (value or "").strip().lower()
            assert not re.match(r"^(https?:|//|javascript:|file:|ftp:)", v), (tag, key, value)
            if key in ("src", "href", "xlink:href", "srcset", "action", "poster"):
                assert v.startswith(("data:image/", "#")), (tag, key, value[:80])
        if tag == "img":
            src = attrs["src"] or ""
            mime, b64 = src.split(",", 1)
            assert mime in ("data:image/webp;base64", "data:image/jpeg;base64"), mime
            with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
                im.load()
                assert max(im.size) <= 256
            n_images += 1
    css = "".join(page.styles)
    for ref in re.findall(r"url\(([^)]*)\)", css, flags=re.IGNORECASE):
        assert ref.strip("'\" ").startswith(("#", "data:")), ref
    assert "@import" not in css
    page.n_images = n_images  # type: ignore[attr-defined]
    return page
