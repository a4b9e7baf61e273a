"""splat3d.safepath: untrusted names map to paths strictly inside their folder, without
collisions, and a symlink inside the folder cannot lead out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splat3d.fileio import save_png
from splat3d.safepath import MAX_PART_BYTES, child_path, safe_name, unique_names

# Names written to disk below: a climb lands inside tmp_path even if the code under test is
# broken, so a failing test cannot litter the machine (absolute names point into tmp_path).
HOSTILE = ["../../x", "a/../../x", "C:\\x", "C:x", "..", "", ".", "/", "\\\\srv\\s\\x", "x\x00y",
           "CON", "nul.txt", "a/./b/../../../x", "...", " . ", "x\ud800", "a\nb"]


def tree(root: Path) -> set[str]:
    """Every file and folder under ``root``, relative, POSIX."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize(("name", "want"), [
    ("/etc/x", "etc/x"), ("../../x", "x"), ("a/../../x", "x"), ("C:\\x", "x"), ("..", "_"),
    ("", "_"), (".", "_"), ("test/r_0", "test/r_0"), ("./train\\r_1", "train/r_1"),
    ("x\x00y", "x_y"), ("CON", "_CON"), ("com1.png", "_com1.png"), ("a:b|c?", "a_b_c_"),
    ("r_0.", "r_0"), ("a/../b", "b"), ("x\ud800", "x_"),
])
def test_safe_name_examples(name: str, want: str) -> None:
    assert safe_name(name) == want


def test_long_parts_are_cut_and_told_apart() -> None:
    a, b = safe_name("é" * 300 + "a"), safe_name("é" * 300 + "b")
    assert a != b
    assert all(len(p.encode()) <= MAX_PART_BYTES for p in (a, b))
    assert safe_name(a) == a


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from("ab./\\:\x00 C~é\ud800"), max_size=24)
       | st.text(max_size=12))
def test_safe_name_is_relative_plain_and_idempotent(name: str) -> None:
    safe = safe_name(name)
    parts = safe.split("/")
    assert safe and not safe.startswith("/") and "\\" not in safe and "\x00" not in safe
    assert all(p and p not in (".", "..") and ":" not in p for p in parts)
    assert safe_name(safe) == safe
    safe.encode("utf-8")  # a valid file name on every POSIX system


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet=st.sampled_from("aA./_~2"), max_size=6), max_size=8))
def test_unique_names_never_share_a_file(names: list[str]) -> None:
    suffixes = (".png", "_depth.npy")
    stems = unique_names(names, suffixes)
    files = [(s + x).casefold() for s in stems for x in suffixes]
    assert len(files) == len(set(files))
    folders = {"/".join(s.split("/")[:i]).casefold() for s in stems
               for i in range(1, s.count("/") + 1)}
    assert not folders & set(files), "a path is both a file and a folder"


def test_unique_names_keep_the_first_and_number_the_rest() -> None:
    assert unique_names(["x", "a/../x", "X"], (".png",)) == ["x", "x~2", "X~3"]
    assert unique_names(["test/r_0", "train/r_0"], (".png",)) == ["test/r_0", "train/r_0"]
    # frame "x_alpha"'s RGB file would be frame "x"'s alpha file
    assert unique_names(["x", "x_alpha"], (".npy", "_alpha.npy")) == ["x", "x_alpha~2"]
    # "a.png" is a file of the first name, so the second cannot have it as a folder
    assert unique_names(["a", "a.png/b"], (".png",)) == ["a", "a.png_b~2"]


@pytest.mark.parametrize("name", [*HOSTILE, "/etc/x", "../../../../../../../../x"])
def test_child_path_is_strictly_inside(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    path = child_path(out, name, ".png")
    assert path.resolve().is_relative_to(out.resolve()) and path.resolve() != out.resolve()
    assert path.name.endswith(".png")


def test_writing_hostile_names_creates_nothing_outside(tmp_path: Path) -> None:
    out = tmp_path / "box" / "a" / "b" / "out"
    before = tree(tmp_path)
    names = [*HOSTILE, f"{tmp_path}/outside/x", "../../../../x"]
    for stem in unique_names(names, (".png",)):
        save_png(child_path(out, stem, ".png"), [[[0.5]]])
    created = tree(tmp_path) - before
    assert created and all(p.startswith("box/a/b/out/") or p in ("box", "box/a", "box/a/b",
                                                                  "box/a/b/out")
                           for p in created), sorted(created)
    assert len(list(out.rglob("*.png"))) == len(names)


def test_exact_refuses_rather_than_renames(tmp_path: Path) -> None:
    assert child_path(tmp_path, "room_000", exact=True) == tmp_path / "room_000"
    assert child_path(tmp_path, "a/b", ".json", exact=True) == tmp_path / "a" / "b.json"
    for name in ("../room", "/abs", "", "a//b", "CON"):
        with pytest.raises(ValueError, match="not a plain relative name"):
            child_path(tmp_path, name, exact=True)


def test_symlink_inside_cannot_lead_out(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "evil").symlink_to(elsewhere, target_is_directory=True)
    (out / "file.png").symlink_to(elsewhere / "victim.png")
    (out / "fine").symlink_to(out / "sub")
    with pytest.raises(ValueError, match=r"evil.*outside"):
        child_path(out, "evil/x", ".png")
    with pytest.raises(ValueError, match="outside"):
        child_path(out, "file", ".png")
    assert child_path(out, "fine/x", ".png") == out / "fine" / "x.png"
    assert os.listdir(elsewhere) == []


def test_symlink_loop_is_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ValueError, match="cannot resolve"):
        child_path(tmp_path, "a/x", ".png")


def test_suffix_with_separator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="suffix"):
        child_path(tmp_path, "x", "/../y")


def test_many_equal_names_are_numbered_in_order() -> None:
    assert unique_names(["x"] * 2000, (".png",))[-3:] == ["x~1998", "x~1999", "x~2000"]
