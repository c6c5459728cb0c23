"""The HTML report of a real (small) comparison run: self-contained, same numbers as the JSON,
user text escaped, missing images shown as placeholders."""

import csv
import json
import shutil

import pytest

from genmetrics.cli.app import main
from genmetrics.results.numbers import format_number
from tests.results.render.parse import Page, check_self_contained
from tests.results.render.runs import IMG_PROMPT, NASTY_NAME, SCRIPT_PROMPT, STYLES


def _find_table(page: Page, first_header: str, second: str | None = None):
    for table in page.tables:
        head = [c[0] for c in table[0]]
        if head and head[0] == first_header and (second is None or head[1] == second):
            yield head, table[1:]


def test_files_and_self_contained(compare_run):
    names = {p.name for p in compare_run.iterdir()}
    assert {"compare.json", "compare.csv", "compare.md", "per_image.csv", "report.html"} <= names
    html = (compare_run / "report.html").read_text(encoding="utf-8")
    page = check_self_contained(html)
    assert page.n_images > 20  # change grids and best/worst thumbnails
    assert html.count("<svg") >= 3  # forest, distributions, similarity bars
    assert "<!--" not in html
    size = len(html.encode("utf-8"))
    assert f"{size / 1e6:.1f} MB" in html or f"{size / 1e3:.0f} kB" in html


def test_tables_equal_the_json(compare_run):
    data = json.loads((compare_run / "compare.json").read_text())
    page = Page((compare_run / "report.html").read_text(encoding="utf-8"))
    # headline table: every set × style + Average, mean ± std, title = the full-precision mean
    [(head, rows)] = list(_find_table(page, "", "city"))
    assert head == ["", *STYLES, "Average"]
    table = data["metrics"]["brightness"]["table"]
    assert [r[0][0] for r in rows] == list(table)
    checked = 0
    for row in rows:
        cells = {c["style"]: c for c in table[row[0][0]]}
        for style, (text, title) in zip(head[1:], row[1:], strict=True):
            c = cells[style]
            assert float(title) == c["mean"]
            shown = format_number(c["mean"]) + (f" ± {format_number(c['std'])}" if c["std"] is not None else "")
            lo, hi = c["ci95"]
            assert text == shown + f"[{format_number(lo)}, {format_number(hi)}]"
            checked += 1
    assert checked == 3 * 4
    # paired differences: diff, CI, p-values and verdict of every variant × style
    [(head, rows)] = list(_find_table(page, "variant", "style"))
    paired = data["metrics"]["brightness"]["paired"]
    assert len(rows) == 2 * 4
    for row in rows:
        r = paired[row[0][0]]["styles"][row[1][0]]
        assert float(row[2][1]) == r["diff"] and row[2][0] == format_number(r["diff"])
        assert row[3][0] == f"[{format_number(r['ci95'][0])}, {format_number(r['ci95'][1])}]"
        assert float(row[4][1]) == r["p_value_ttest"]
        assert row[6][0] == r["verdict"]
    verdicts = {(r[0][0], r[1][0]): r[6][0] for r in rows}
    assert verdicts[(NASTY_NAME, "city")] == "worse" and verdicts[(NASTY_NAME, "sea")] == "better"
    assert verdicts[("faster", "Average")] == "worse"
    # similarity table
    [(head, rows)] = list(_find_table(page, "variant", "metric"))
    sim = data["similarity"]
    for row in rows:  # "psnr ↑": the metric and its better direction; mean, then its CI
        metric = row[1][0].split()[0]
        for style, (text, _) in zip(head[2:], row[2:], strict=True):
            assert text.startswith(format_number(sim[row[0][0]]["styles"][style][metric]["value"]))


def test_user_text_is_escaped(compare_run):
    html = (compare_run / "report.html").read_text(encoding="utf-8")
    page = check_self_contained(html)
    text = page.all_text
    assert SCRIPT_PROMPT in text and IMG_PROMPT in text and NASTY_NAME in text
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert "onerror=" not in "".join(f"{k}=" for _, a in page.tags for k in a)


def test_markdown_and_csv_of_the_same_document(compare_run):
    md = (compare_run / "compare.md").read_text()
    assert "| city | forest | sea | Average |" in md and "| verdict |" in md
    assert "&lt;img src=y onerror=alert(1)&gt;" in md  # the variant name, as text
    rows = list(csv.DictReader(open(compare_run / "compare.csv", newline="")))
    data = json.loads((compare_run / "compare.json").read_text())
    avg = [r for r in rows if r["variant"] == "faster" and r["style"] == "Average"][0]
    assert float(avg["diff"]) == data["metrics"]["brightness"]["paired"]["faster"]["styles"][
        "Average"
    ]["diff"]
    per_image = list(csv.DictReader(open(compare_run / "per_image.csv", newline="")))
    assert {"set", "id", "path", "prompt", "style", "seed", "brightness"} <= set(per_image[0])
    assert per_image[0]["seed"] == "1000"


def test_report_command_reads_the_folder_back(compare_run, tmp_path, capsys):
    out = tmp_path / "again.html"
    assert main(["report", str(compare_run), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out
    # the images lie beside the result folder: placeholders, one warning naming the option
    assert check_self_contained(out.read_text(encoding="utf-8")).n_images == 0
    assert captured.err.count("warning: ") == 1 and "--image-root" in captured.err
    again = Page(out.read_text(encoding="utf-8"))
    first = Page((compare_run / "report.html").read_text(encoding="utf-8"))
    assert again.tables == first.tables  # same numbers, read back from the saved files
    check_self_contained(out.read_text(encoding="utf-8"))


def test_missing_images_are_placeholders(compare_run, tmp_path, capsys):
    moved = tmp_path / "moved"
    shutil.copytree(compare_run, moved)
    rows = list(csv.DictReader(open(moved / "per_image.csv", newline="")))
    for r in rows:
        if r["set"] == "faster":
            r["path"] = str(compare_run.parent / "gone" / (r["id"] + ".png"))
    with open(moved / "per_image.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "r.html"
    root = str(compare_run.parent)  # the compared folders: beside the result folder
    assert main(["report", str(moved), "--out", str(out), "--image-root", root]) == 0, capsys.readouterr().err
    html = out.read_text(encoding="utf-8")
    page = check_self_contained(html)
    assert "image file not found" in page.all_text
    assert page.n_images > 0  # the other sets still have their thumbnails


@pytest.mark.parametrize("top", ["0"])
def test_no_images(compare_run, tmp_path, top):
    out = tmp_path / "r.html"
    assert main(["report", str(compare_run), "--out", str(out), "--top", top]) == 0
    assert check_self_contained(out.read_text(encoding="utf-8")).n_images == 0
