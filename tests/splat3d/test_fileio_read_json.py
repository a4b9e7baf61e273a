"""splat3d.fileio.read_json: the one JSON reader; every failure is one line naming the file."""

import re
from pathlib import Path

import pytest

from splat3d import fileio

ROOT = Path(__file__).resolve().parents[2]


def test_no_other_module_parses_json_files():
    """One home: every JSON file the product reads goes through fileio.read_json."""
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for package in ("splat3d", "text2d3", "detection", "viewer", "configs")
                 for path in (ROOT / package).rglob("*.py") if path.name != "fileio.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"\bjson\.loads?\(", line)]
    assert not offenders, offenders


@pytest.mark.parametrize("content,pattern", [
    (b'{"a": [1, 2', r"invalid JSON at line 1 column 12"),
    (b"[" * 100_000 + b"]" * 100_000, r"JSON nested too deeply to read"),  # was RecursionError
    (b'{"a": "\xff"}', r"not a UTF-8 text file \(byte 7"),
    (b'{"a": ' + b"9" * 5000 + b"}", r"unreadable JSON value: .*digits"),
])
def test_bad_json_is_one_line_naming_the_file(tmp_path, content, pattern):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^{path}: {pattern}") as info:
        fileio.read_json(path)
    assert "\n" not in str(info.value)


def test_values_and_missing_file(tmp_path):
    (tmp_path / "ok.json").write_text('{"x": [1, 2.5, NaN, null]}')
    value = fileio.read_json(tmp_path / "ok.json")
    assert value["x"][:2] == [1, 2.5] and value["x"][2] != value["x"][2]
    with pytest.raises(FileNotFoundError, match="nope.json"):
        fileio.read_json(tmp_path / "nope.json")
