import csv
import io

import numpy as np
import pytest

from genmetrics.results.escape import csv_cell, markdown_cell


@pytest.mark.parametrize(
    "text, expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("a=b", "a=b"),
        ("plain prompt", "plain prompt"),
        ("", ""),
        # number literals written as text stay numbers
        ("-1.5", "-1.5"),
        ("+2e-3", "+2e-3"),
        ("-.5", "-.5"),
        ("-inf", "-inf"),
        ("nan", "nan"),
        ("-1.5e", "'-1.5e"),
        ("-1,5", "'-1,5"),
    ],
)
def test_csv_cell_text(text, expected):
    assert csv_cell(text) == expected


def test_csv_cell_numbers_and_others_unchanged():
    for value in (-1, -1.5, float("-inf"), np.float32(-2.0), np.int64(-3), True, None):
        assert csv_cell(value) is value


def test_csv_cell_round_trip_through_the_csv_module():
    cells = ['=HYPERLINK("http://x")', "a|b", "two\nlines", "<script>alert(1)</script>", -1.5]
    buf = io.StringIO()
    csv.writer(buf).writerow([csv_cell(c) for c in cells])
    back = next(csv.reader(io.StringIO(buf.getvalue())))
    assert back == ['\'=HYPERLINK("http://x")', "a|b", "two\nlines", cells[3], "-1.5"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a|b", r"a\|b"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),
        ("one\ntwo\r\nthree\rfour", "one<br>two<br>three<br>four"),
        ("*bold* `code` [link](u) ~x~", r"\*bold\* \`code\` [link\](u) \~x\~"),
        ("![img](http://x) [a][b] [0.1, 0.2]", r"![img\](http://x) [a\][b] [0.1, 0.2]"),
        ("back\\slash", "back\\\\slash"),
        ("snake_case_name", "snake_case_name"),
        ("_em_ a_ _b", r"\_em\_ a\_ \_b"),
        ("# title $x$", r"\# title \$x\$"),
        ("30.0700 ± 0.3887", "30.0700 ± 0.3887"),
        (3.5, "3.5"),
    ],
)
def test_markdown_cell(text, expected):
    assert markdown_cell(text) == expected


def test_markdown_cell_is_one_line_and_keeps_table_columns():
    cell = markdown_cell('=HYPERLINK("http://x") a|b\n<script>alert(1)</script>')
    assert "\n" not in cell and "<script" not in cell
    row = f"| {cell} | 1.0 |"
    # unescaped pipes delimit columns: there must be exactly three
    assert len([i for i, c in enumerate(row) if c == "|" and row[i - 1] != "\\"]) == 3


def test_evaluate_markdown_and_per_image_csv_are_escaped(tmp_path):
    from genmetrics.metrics.registry import MetricValue
    from genmetrics.results.io import write_table
    from genmetrics.results.report import render_markdown
    from genmetrics.results.result import EvaluationResult

    result = EvaluationResult(
        {"a|b<i>": MetricValue(1.5)}, {"generated": 2}, {"protocol": "x|y"}, [], []
    )
    md = render_markdown(result)
    assert r"| a\|b&lt;i&gt; | 1.5000 |" in md and r"protocol x\|y" in md
    rows = [{"id": '=HYPERLINK("http://x")', "prompt": "@cmd", "score": -1.5, "n": -2}]
    path = write_table(tmp_path / "per_image.csv", rows)
    back = list(csv.DictReader(io.StringIO(path.read_text(), newline="")))
    assert back == [
        {"id": '\'=HYPERLINK("http://x")', "prompt": "'@cmd", "score": "-1.5", "n": "-2"}
    ]
