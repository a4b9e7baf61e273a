"""Torch files are read with tensors and plain data only; no loader anywhere unpickles code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from splat3d.tensorfile import load_tensor_file

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("splat3d", "text2d3", "detection", "viewer", "configs", "bench")


def test_plain_payload_round_trips(tmp_path):
    payload = {"step": 3, "params": {"means": torch.randn(4, 3)}, "log": [{"loss": 0.5}],
               "rng": torch.get_rng_state(), "name": "x", "pair": (1, 2.0)}
    torch.save(payload, tmp_path / "a.pt")
    loaded = load_tensor_file(tmp_path / "a.pt", "checkpoint")
    torch.testing.assert_close(loaded["params"]["means"], payload["params"]["means"])
    assert loaded["log"] == payload["log"] and loaded["pair"] == (1, 2.0)


def test_code_in_a_pickle_is_refused_without_running(tmp_path, malicious_torch_file):
    marker = malicious_torch_file(tmp_path / "evil.pt", {"step": 1})
    with pytest.raises(ValueError, match=r"evil\.pt: refused .*posix\.system"):
        load_tensor_file(tmp_path / "evil.pt", "checkpoint")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"\x80\x02}q\x00.", os.urandom(64) * 4, b"PK\x03\x04"])
def test_corrupt_files_give_one_line_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_tensor_file(path, "checkpoint")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_file(tmp_path):
    torch.save({"x": torch.randn(1000)}, tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.pt: not a readable checkpoint"):
        load_tensor_file(tmp_path / "cut.pt", "checkpoint")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_tensor_file(tmp_path / "nothing.pt", "checkpoint")


def test_no_other_module_unpickles():
    """Every torch file goes through load_tensor_file; nothing calls pickle or allows it."""
    forbidden = re.compile(r"torch\.load\(|pickle\.loads?\(|np\.load\(.*allow_pickle\s*=\s*True|"
                           r"weights_only\s*=\s*False|dill\.|joblib\.load")
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "tensorfile.py" and path.parent.name == "splat3d":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if forbidden.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
