import json

import pytest

from genmetrics.errors import UserError
from genmetrics.prompts.attach import attach_prompts, read_manifest
from genmetrics.sources.items import ImageItem
from genmetrics.suites import PromptItem, export_text, load_suite


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_txt(tmp_path):
    suite = load_suite(_write(tmp_path / "p.txt", "a cat\n\n  a dog  \n\n"))
    assert suite.name == "p" and suite.styles == ("default",)
    assert suite.items == (
        PromptItem("default/00000", "default", 0, "a cat"),
        PromptItem("default/00001", "default", 1, "a dog"),
    )
    assert len(suite.source_sha256) == 64


def test_json_variants(tmp_path):
    s1 = load_suite(_write(tmp_path / "a.json", json.dumps(["x", "y"])))
    assert [it.id for it in s1] == ["default/00000", "default/00001"]
    objs = [
        {"prompt": "x", "style": "art"},
        {"prompt": "y"},
        {"prompt": "z", "style": "art", "id": "mine"},
    ]
    s2 = load_suite(_write(tmp_path / "b.json", json.dumps(objs)))
    assert [(it.id, it.style, it.index) for it in s2] == [
        ("art/00000", "art", 0),
        ("default/00000", "default", 0),
        ("mine", "art", 1),
    ]
    s3 = load_suite(
        _write(tmp_path / "c.json", json.dumps({"photo": ["p0", "p1"], "anime": ["a0"]}))
    )
    assert s3.styles == ("photo", "anime")
    assert s3.by_id("photo/00001").prompt == "p1" and s3.by_id("anime/00000").prompt == "a0"


def test_jsonl_and_csv(tmp_path):
    lines = ['{"prompt": "x", "style": "s"}', "", '"bare string"', '{"prompt": "z", "id": "q"}']
    suite = load_suite(_write(tmp_path / "a.jsonl", "\n".join(lines) + "\n"))
    assert [(it.id, it.prompt) for it in suite] == [
        ("s/00000", "x"),
        ("default/00000", "bare string"),
        ("q", "z"),
    ]
    csv_text = 'style,prompt,id\nphoto,"a, b",\nphoto,c,\n,"d ""q""",k\n'
    suite = load_suite(_write(tmp_path / "a.csv", csv_text))
    assert [(it.id, it.style, it.prompt) for it in suite] == [
        ("photo/00000", "photo", "a, b"),
        ("photo/00001", "photo", "c"),
        ("k", "default", 'd "q"'),
    ]
    only_prompt = load_suite(_write(tmp_path / "b.csv", "\ufeffprompt\nhello\n"))
    assert only_prompt.items == (PromptItem("default/00000", "default", 0, "hello"),)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_export_round_trip(tmp_path, fmt):
    suite = load_suite("hpdv2").subset(limit_per_style=5)
    path = _write(tmp_path / f"s.{fmt}", export_text(suite, fmt))
    back = load_suite(path)
    assert back.items == suite.items


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("a.json", "[1, 2", "a.json (line 1): invalid JSON"),
        ("a.json", '[{"text": "x"}]', "item 0): object has no 'prompt' key"),
        ("a.json", '[{"prompt": 3}]', "'prompt' must be a string"),
        ("a.json", '"just a string"', "top level must be a list or an object"),
        ("a.json", '{"photo": "x"}', "value must be a list"),
        ("a.json", "[]", "no prompts found"),
        ("a.json", '["ok", "  "]', "item 1): empty prompt"),
        ("a.json", '[{"prompt": "x", "style": "../up"}]', "cannot be used as a folder name"),
        (
            "a.json",
            '[{"prompt": "x", "id": "d"}, {"prompt": "y", "id": "d"}]',
            "prompt id 'd' appears twice, at item 0 and at item 1",
        ),
        ("a.json", '{"photo": ["x"], "photo": ["y"]}', "key 'photo' appears twice"),
        (
            "a.jsonl",
            '{"prompt": "x", "id": "d"}\n\n{"prompt": "y", "id": "d"}\n',
            "prompt id 'd' appears twice, at line 1 and at line 3",
        ),
        (
            "a.csv",
            'id,prompt\nd,"two\nlines"\ne,y\nd,z\n',
            "prompt id 'd' appears twice, at line 2 and at line 5",
        ),
        (
            "a.csv",
            "style,prompt,id\nphoto,x,\nphoto,y,photo/00000\n",
            "prompt id 'photo/00000' appears twice, at line 2 and at line 3",
        ),
        ("a.jsonl", '{"prompt": "x"}\n{oops\n', "a.jsonl (line 2): invalid JSON"),
        ("a.csv", "style,text\na,b\n", "no 'prompt' column"),
        ("a.csv", 'prompt\n"a",b\n', "more cells than header columns"),
        ("a.txt", "\n\n", "no prompts found"),
        ("a.yaml", "- x\n", "unknown format '.yaml'"),
    ],
)
def test_bad_files(tmp_path, name, text, message):
    path = _write(tmp_path / name, text)
    with pytest.raises(UserError) as info:
        load_suite(path)
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_bad_encoding_missing_file_unknown_name(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(UserError, match="not valid UTF-8"):
        load_suite(tmp_path / "b.txt")
    with pytest.raises(UserError, match="does not exist"):
        load_suite(str(tmp_path / "missing.json"))
    with pytest.raises(UserError, match="unknown prompt suite 'nope'.*hpdv2"):
        load_suite("nope")


def test_suite_helpers_errors():
    suite = load_suite("hpdv2")
    with pytest.raises(UserError, match="no style 'cartoon'"):
        suite.subset(["cartoon"])
    with pytest.raises(UserError, match="no style"):
        suite.by_style("cartoon")
    with pytest.raises(KeyError):
        suite.by_id("anime/99999")
    assert suite.subset(["photo", "anime"]).styles == ("anime", "photo")


def test_csv_multiline_quoted_prompts_keep_their_text(tmp_path):
    text = 'style,prompt\r\nphoto,"first line\r\nsecond, line"\r\nphoto,"a\nb ""c"""\r\n'
    path = tmp_path / "m.csv"
    path.write_bytes(text.encode())
    suite = load_suite(path)
    assert [it.prompt for it in suite] == ["first line\r\nsecond, line", 'a\nb "c"']
    bad = _write(tmp_path / "bad.csv", 'prompt\nok\n"a",b\n')
    with pytest.raises(UserError, match=r"bad\.csv \(line 3\): more cells"):
        load_suite(bad)


def _items(names):
    return [ImageItem(n, f"/imgs/{n}.png", lambda: b"") for n in names]


@pytest.mark.parametrize(
    "name, text, rows",
    [
        (
            "m.jsonl",
            '{"image": "a.png", "prompt": "x"}\n\n{"image": "a.jpg", "prompt": "y"}\n',
            "line 1 and at line 3",
        ),
        ("m.csv", 'image,prompt\na.png,"x\ny"\nb.png,z\na.png,w\n', "line 2 and at line 5"),
        (
            "m.json",
            '[{"image": "b", "prompt": "x"}, {"image": "a", "prompt": "x"}, {"image": "a.png", "prompt": "y"}]',
            "record 2 and at record 3",
        ),
    ],
)
def test_manifest_duplicate_images_name_both_rows(tmp_path, name, text, rows):
    path = _write(tmp_path / name, text)
    with pytest.raises(UserError) as info:
        read_manifest(path)
    message = str(info.value)
    assert str(path) in message and "listed twice" in message and rows in message


def test_manifest_json_object_with_repeated_key(tmp_path):
    path = _write(tmp_path / "m.json", '{"a.png": "x", "a.png": "y"}')
    with pytest.raises(UserError, match="key 'a.png' appears twice"):
        read_manifest(path)


def test_manifest_csv_multiline_prompt_is_kept(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(
        '\ufeffimage,prompt,seed\r\na.png,"two\r\nlines, one cell",7\r\nb.png,z,\r\n'.encode()
    )
    records = read_manifest(path)
    assert records["a"].prompt == "two\r\nlines, one cell" and records["a"].seed == 7
    assigned = attach_prompts(_items(["a", "b"]), path)
    assert assigned.prompts == ["two\r\nlines, one cell", "z"]
    bad = _write(tmp_path / "s.csv", "image,prompt,seed\na.png,x,seven\n")
    with pytest.raises(UserError, match=r"line 2: seed 'seven' is not an integer"):
        read_manifest(bad)
