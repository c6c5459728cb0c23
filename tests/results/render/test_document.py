"""Units of the one render form: cells, text formats, the JSON round trip, plots, thumbnails."""

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from genmetrics.results.numbers import format_number, jsonable
from genmetrics.results.render import Document, Records, Section, Table, render
from genmetrics.results.render.document import (
    ci_cell,
    count_cell,
    estimate_cell,
    number_cell,
    p_cell,
    text_cell,
    verdict_cell,
)
from genmetrics.results.render.load import restore_nonfinite


def test_cells_display_with_the_one_formatter():
    assert estimate_cell(30.07, 0.38871).display() == "30.0700 ± 0.3887"
    assert estimate_cell(1.5).display() == format_number(1.5)
    assert estimate_cell(float("nan"), empty=True).display() == "—"
    assert ci_cell(1.0, 2.0).display() == "[1.0000, 2.0000]" and ci_cell(None, None).display() == ""
    assert p_cell(2e-5).display() == "2.0e-05" and p_cell(0.5).display() == "0.5000"
    assert p_cell(None).display() == "" and count_cell(None).display() == ""
    assert number_cell(float("inf")).display() == "inf"
    assert verdict_cell("worse").display() == "worse" and count_cell(3).display() == "3"


def _doc():
    rows = [[text_cell("a|b<i>"), number_cell(1.5), verdict_cell("better")]]
    table = Table(["name", "value", "verdict"], rows, caption="x|y")
    records = Records(["name", "value"], [{"name": "=cmd()", "value": float("inf")}])
    return Document("t*t", [Section("s_", [table])], {"v": float("nan")}, records)


def test_text_formats_escape_and_agree():
    doc = _doc()
    md = render(doc, "markdown")
    assert md.startswith("# t\\*t") and r"| a\|b&lt;i&gt; | 1.5000 | better |" in md
    assert "_x\\|y_" in md
    assert render(doc, "csv") == "name,value\n'=cmd(),inf\n"
    assert json.loads(render(doc, "json")) == {"v": None, "v_nonfinite": "nan"}
    html = render(doc, "html")
    assert "a|b&lt;i&gt;" in html and "<i>" not in html.split("<body>")[1].replace("<i>", "", 0)


def test_restore_nonfinite_inverts_jsonable():
    raw = {"a": float("inf"), "b": [1.0, 2.0], "c": {"d": float("nan"), "e": None}, "f": -math.inf}
    back = restore_nonfinite(jsonable(raw))
    assert back["a"] == math.inf and back["f"] == -math.inf and math.isnan(back["c"]["d"])
    assert back["c"]["e"] is None and "a_nonfinite" not in back
    assert jsonable(back) == jsonable(raw)


def test_plots_are_plain_svg_with_escaped_labels():
    from genmetrics.results.render import plots

    evil = '<script>alert(1)</script> $x$ --> "'
    svg = plots.forest([(evil, -1.0, -2.0, -0.5, "worse")], evil, 0.5, True)
    assert svg.startswith("<svg") and "<script" not in svg and "<!--" not in svg
    assert "&lt;script&gt;" in svg
    svg = plots.distributions(evil, {evil: {evil: np.arange(10.0), "b": np.array([1.0])}}, [evil, "b"])
    assert "<script" not in svg
    svg = plots.bars("psnr", ["s", "Average"], {evil: [30.0, math.inf]}, {evil: [1.0, None]})
    assert "<script" not in svg


def test_thumbnails(tmp_path):
    from genmetrics.results.render.images import Thumbnailer, path_reader

    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (600, 400, 3), np.uint8)).save(big)
    thumbs = Thumbnailer()
    reader, why = path_reader("big.png", [tmp_path])
    assert why == ""
    uri, why = thumbs.uri("k", reader)
    assert uri.startswith("data:image/") and why == ""
    import base64

    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert max(im.size) == 256 and im.size[1] == 256
    assert thumbs.uri("k", None)[0] == uri  # encoded once per key
    assert path_reader("nope.png", [tmp_path]) == (None, "image file not found")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    uri, why = thumbs.uri("bad", path_reader(str(bad), [])[0])
    assert uri is None and why.startswith("image could not be read")


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "html"])
def test_every_format_renders(fmt, capsys):
    out = render(_doc(), fmt)
    assert (out is None) == (fmt == "table")
    if fmt == "table":
        assert "a|b<i>" in capsys.readouterr().out
