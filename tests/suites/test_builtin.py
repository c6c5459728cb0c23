import hashlib
import json
import re
from importlib import resources

import pytest

from genmetrics.errors import UserError
from genmetrics.suites import list_suites, load_suite
from genmetrics.suites.builtin import HPDV2, _read_data, load_builtin
from tests.conftest import shared_file

STYLES = ("anime", "concept-art", "paintings", "photo")


def test_hpdv2_counts_styles_and_ids():
    suite = load_suite("hpdv2")
    assert suite.name == "hpdv2" and len(suite) == 3200
    assert suite.styles == STYLES
    assert suite.counts() == dict.fromkeys(STYLES, 800)
    for i, item in enumerate(suite.items):
        assert re.fullmatch(r"[a-z-]+/\d{5}", item.id)
        assert item.id == f"{item.style}/{item.index:05d}"
        assert item.index == i % 800 and item.style == STYLES[i // 800]
        assert item.prompt.strip()
    assert suite.by_id("anime/00000").prompt == "Spongebob depicted in the style of Dragon Ball Z."
    assert suite.by_id("photo/00799").index == 799
    assert [it.index for it in suite.by_style("paintings")] == list(range(800))
    assert len(suite.subset(["photo", "anime"], limit_per_style=3)) == 6
    # the id is the same name as the image file stem in the HPS v2 layout STYLE/00042.png
    assert suite.by_id("concept-art/00042").stem == "00042"


def test_hpdv2_matches_files_and_shared_copy():
    suite = load_suite("HPDv2")
    for style, filename, sha in HPDV2.files:
        data = _read_data("hpdv2", filename)
        assert hashlib.sha256(data).hexdigest() == sha
        assert [it.prompt for it in suite.by_style(style)] == json.loads(data)
        assert data == shared_file(f"data/hpdv2/{filename}").read_bytes()
    # combined source hash is stable
    lines = "".join(f"{sha}  {fn}\n" for _, fn, sha in HPDV2.files)
    assert suite.source_sha256 == hashlib.sha256(lines.encode()).hexdigest()


def test_tampered_copy_fails_clearly(tmp_path):
    folder = tmp_path / "hpdv2"
    folder.mkdir()
    for _, filename, _ in HPDV2.files:
        (folder / filename).write_bytes(_read_data("hpdv2", filename))
    prompts = json.loads((folder / "photo.json").read_text())
    prompts[3] = prompts[3] + " (edited)"
    (folder / "photo.json").write_text(json.dumps(prompts))

    def read(_folder: str, filename: str) -> bytes:
        return (folder / filename).read_bytes()

    with pytest.raises(UserError, match=r"photo\.json has sha256 [0-9a-f]{64}, expected 92a3c9a0"):
        load_builtin("hpdv2", read=read)
    (folder / "photo.json").unlink()
    with pytest.raises(UserError, match=r"photo\.json is missing; reinstall"):
        load_builtin("hpdv2", read=read)


def test_list_suites_and_notice():
    assert list_suites() == ["hpdv2"]
    notice = (resources.files("genmetrics") / "data" / "hpdv2" / "NOTICE").read_text()
    for needle in ("zhwang/HPDv2", "b9517430f34b1080d4f741118d2a440155a165cd", "Apache"):
        assert needle in notice
    for _, filename, sha in HPDV2.files:
        assert f"{sha}  {filename}" in notice
