"""The .splat export: byte-exact against a naive per-Gaussian encoder, lossy round trip within
quantisation tolerance, atomic writes and clear errors."""

import math
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splat3d import Gaussians
from splat3d.gaussians import quat_to_rotmat
from splat3d.io import SplatFormatError, load_splat, save_splat, splat_order
from splat3d.sh import SH_C0

BYTE = 0.5 / 255 + 1e-6  # half a colour/opacity quantisation step, plus float32 slack


def random_gaussians(n: int, degree: int = 1, seed: int = 0) -> Gaussians:
    gen = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=gen) * 5,
        quats=torch.randn(n, 4, generator=gen),
        log_scales=torch.randn(n, 3, generator=gen) - 3,
        opacity_logits=torch.randn(n, generator=gen) * 3,
        sh=torch.randn(n, (degree + 1) ** 2, 3, generator=gen),
    )


def reference_splat_bytes(g: Gaussians) -> bytes:
    """One Gaussian at a time, as antimatter15's convert.py lays it out (rounding to nearest)."""
    def byte(v: float) -> int:
        return min(255, max(0, math.floor(v + 0.5)))

    params = [[t[i].double().tolist() for t in g.tensors().values()] for i in range(len(g))]
    importance = [math.exp(sum(s)) / (1 + math.exp(-o)) for _, _, s, o, _ in params]
    out = b""
    for i in sorted(range(len(g)), key=lambda i: -importance[i]):
        mean, quat, log_scale, logit, sh = params[i]
        rgb = [min(1.0, max(0.0, 0.5 + SH_C0 * sh[0][c])) * 255 for c in range(3)]
        alpha = 255 / (1 + math.exp(-logit))
        norm = math.sqrt(sum(q * q for q in quat))
        out += struct.pack("<3f", *mean) + struct.pack("<3f", *[math.exp(s) for s in log_scale])
        out += bytes(byte(v) for v in [*rgb, alpha])
        out += bytes(byte(q / norm * 128 + 128) for q in quat)
    return out


def test_bytes_match_the_reference_encoder(tmp_path):
    g = random_gaussians(64, degree=2, seed=1)
    g.sh[:4, 0] = torch.tensor([5.0, -5.0, 0.0])  # saturated colours clip to 255 and 0
    g.quats[5] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # w = 1 would be byte 256; clips to 255
    save_splat(tmp_path / "g.splat", g)
    data = (tmp_path / "g.splat").read_bytes()
    assert len(data) == 32 * 64
    assert data == reference_splat_bytes(g)


def test_order_is_descending_volume_times_opacity():
    g = random_gaussians(100, seed=2)
    key = g.scales.double().prod(1) * g.opacities.double()
    order = splat_order(g)
    assert torch.all(key[order][:-1] >= key[order][1:])
    assert sorted(order.tolist()) == list(range(100))


def test_order_is_stable_for_ties():
    g = random_gaussians(1, seed=3)[torch.zeros(5, dtype=torch.long)]
    assert splat_order(g).tolist() == [0, 1, 2, 3, 4]


def test_round_trip_within_quantisation(tmp_path):
    g = random_gaussians(300, degree=3, seed=4)
    g.opacity_logits.clamp_(-5, 5)  # away from the clamped 0/255 bytes
    save_splat(tmp_path / "g.splat", g)
    h = load_splat(tmp_path / "g.splat")
    ref = g[splat_order(g)]
    assert h.sh_degree == 0 and len(h) == 300
    assert torch.equal(h.means, ref.means)
    torch.testing.assert_close(h.log_scales, ref.log_scales, rtol=0, atol=1e-6)
    rgb = lambda x: (0.5 + SH_C0 * x.sh[:, 0]).clamp(0, 1)  # noqa: E731
    torch.testing.assert_close(rgb(h), rgb(ref), rtol=0, atol=BYTE)
    torch.testing.assert_close(h.opacities, ref.opacities, rtol=0, atol=BYTE)
    unit = torch.nn.functional.normalize(ref.quats, dim=1)
    torch.testing.assert_close(h.quats, unit, rtol=0, atol=0.5 / 128 + 1e-6)
    torch.testing.assert_close(quat_to_rotmat(h.quats), quat_to_rotmat(ref.quats), rtol=0,
                               atol=0.03)


def test_saturated_opacity_decodes_to_finite_logits(tmp_path):
    g = random_gaussians(2, seed=5)
    g.opacity_logits[:] = torch.tensor([-30.0, 30.0])
    save_splat(tmp_path / "g.splat", g)
    h = load_splat(tmp_path / "g.splat")
    assert torch.isfinite(h.opacity_logits).all()
    torch.testing.assert_close(h.opacities.sort().values, torch.tensor([0.5, 254.5]) / 255)


def test_empty_scene(tmp_path):
    save_splat(tmp_path / "e.splat", Gaussians.empty(3))
    assert (tmp_path / "e.splat").read_bytes() == b""
    assert len(load_splat(tmp_path / "e.splat")) == 0


def test_save_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "g.splat"
    save_splat(target, random_gaussians(3))
    before = target.read_bytes()
    real_write = Path.write_bytes

    def write_half_then_fail(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_splat(target, random_gaussians(9))
    assert target.read_bytes() == before and sorted(tmp_path.iterdir()) == [target]


def test_save_refuses_non_finite(tmp_path):
    g = random_gaussians(4)
    g.sh[2, 0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"g\.splat.*Gaussians\.sh at index 2"):
        save_splat(tmp_path / "g.splat", g)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.splat"):
        load_splat(tmp_path / "nope.splat")
    with pytest.raises(SplatFormatError, match=rf"{tmp_path}: not a regular file"):
        load_splat(tmp_path)


def test_size_must_be_a_multiple_of_32(tmp_path):
    (tmp_path / "x.splat").write_bytes(bytes(70))
    with pytest.raises(SplatFormatError, match=r"x\.splat: 70 bytes is not a whole number"):
        load_splat(tmp_path / "x.splat")


@pytest.mark.parametrize("field,offset,value", [("position", 4, float("nan")),
                                                ("scale", 16, 0.0), ("scale", 20, -1.0),
                                                ("scale", 12, float("inf"))])
def test_invalid_position_or_scale_is_named(tmp_path, field, offset, value):
    save_splat(tmp_path / "g.splat", random_gaussians(3))
    data = bytearray((tmp_path / "g.splat").read_bytes())
    data[32 + offset: 32 + offset + 4] = struct.pack("<f", value)
    (tmp_path / "g.splat").write_bytes(bytes(data))
    with pytest.raises(SplatFormatError, match=rf"g\.splat: Gaussian 1 has an invalid {field} "
                       r".*; expected finite values.*\(1 of \d+ Gaussians are invalid\)"):
        load_splat(tmp_path / "g.splat")


@given(data=st.binary(max_size=32 * 6))
@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_bytes_load_finite_or_fail_naming_the_file(tmp_path, data):
    path = tmp_path / "fuzz.splat"
    path.write_bytes(data)
    try:
        g = load_splat(path)
    except SplatFormatError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
        return
    assert len(g) == len(data) // 32
    for field in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        assert torch.isfinite(getattr(g, field)).all(), field
