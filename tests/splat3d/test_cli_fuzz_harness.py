"""Smoke test of the CLI fuzz benchmark (bench/cli_fuzz.py): its classifier on synthetic
outcomes, and its table. The benchmark itself is run by hand (it takes minutes)."""

from __future__ import annotations

import importlib.util
import signal
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "cli_fuzz.py"


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("cli_fuzz", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cli_fuzz"] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["cli_fuzz"]


ONE_LINE = "splat3d: error: /d/bad.ply: element 'vertex' declares -1 vertices\n"
TRACEBACK = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
             "ZeroDivisionError: float division by zero\n")
TYRO = "╭─ Value error ──╮\n│ Error parsing --max-steps │\n╰────────────────╯\n"


@pytest.mark.parametrize(("kwargs", "category"), [
    ({"expect": "error", "returncode": 2, "stderr": ONE_LINE, "mentions": ("bad.ply",)},
     "clean error"),
    ({"expect": "error", "returncode": 2, "stderr": ONE_LINE, "mentions": ("other.ply",)},
     "vague error"),
    ({"expect": "error", "returncode": 2, "stderr": TYRO, "mentions": ("--max-steps",)},
     "clean error"),
    ({"expect": "error", "returncode": 1, "stderr": TRACEBACK}, "traceback"),
    ({"expect": "error", "returncode": 1, "stderr": "splat3d: internal error: KeyError: 'x' "
      "(this is a bug in splat3d; the traceback is in /tmp/t.txt)\n"}, "traceback"),
    ({"expect": "error", "returncode": 2, "stderr": "warning: x\n" + ONE_LINE}, "traceback"),
    ({"expect": "error", "returncode": 2, "stderr": "splat3d: warning: x\n" + ONE_LINE},
     "clean error"),
    ({"expect": "error", "returncode": 2, "stderr": "train ━━ 0/2 -- it/s \n" + ONE_LINE},
     "clean error"),
    ({"expect": "error", "returncode": 1, "stderr": "Killed? no: plain text\n"}, "traceback"),
    ({"expect": "error", "returncode": 0, "stderr": ""}, "silent wrong output"),
    ({"expect": "ok", "returncode": 0, "stderr": "", "check_failure": "read as white"},
     "silent wrong output"),
    ({"expect": "ok", "returncode": 0, "stderr": "UserWarning: x\n"}, "ok"),
    ({"expect": "either", "returncode": 0, "stderr": ""}, "ok"),
    ({"expect": "either", "returncode": 2, "stderr": ONE_LINE}, "clean error"),
    ({"expect": "ok", "returncode": 2, "stderr": ONE_LINE}, "refused valid input"),
    ({"expect": "error", "returncode": -signal.SIGFPE, "stderr": ""}, "hard crash"),
    ({"expect": "error", "returncode": None, "stderr": "", "timed_out": True}, "hard crash"),
    ({"expect": "error", "returncode": None, "stderr": "", "timed_out": True, "serves": True},
     "silent wrong output"),
    ({"expect": "either", "returncode": None, "stderr": "", "timed_out": True, "serves": True},
     "ok"),
    ({"expect": "either", "returncode": None, "stderr": "", "timed_out": True, "serves": True,
      "marker_found": True}, "code executed"),
    ({"expect": "error", "returncode": 2, "stderr": ONE_LINE, "marker_found": True},
     "code executed"),
])
def test_classify(fuzz, kwargs: dict, category: str) -> None:
    got, reason = fuzz.classify(**kwargs)
    assert got == category, reason


def test_signal_is_named(fuzz) -> None:
    assert fuzz.classify("error", -signal.SIGSEGV, "")[1] == "killed by SIGSEGV"


def test_table_counts_and_lists_failures(fuzz) -> None:
    outcomes = [fuzz.Outcome("info/a", "clean error", "x", 2, 1.0, ""),
                fuzz.Outcome("info/b", "traceback", "KeyError: 'test'", 1, 1.0, ""),
                fuzz.Outcome("render/c", "ok", "", 0, 1.0, "")]
    table = fuzz.format_table(outcomes)
    assert "3 cases: 2 pass (1 clean errors, 1 ok), 1 fail: 1 traceback" in table
    assert "[traceback] info/b: KeyError: 'test'" in table
    assert "render/c" not in table.split("failing cases:")[1]
