"""3DGS PLY I/O: exact round trips, every writer's layout, and one test per failure mode.

Fixtures are written the way each trainer writes them: graphdeco and Mip-Splatting through
plyfile with ``'f4'`` records, gsplat and nerfstudio with a hand-written header followed by
raw little-endian floats. Expected parameters come from a naive per-property reference.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from splat3d import Gaussians
from splat3d.io import PlyFormatError, describe_gaussians, load_ply, ply_property_names, save_ply
from splat3d.sh import num_sh_bases

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def random_gaussians(n: int, degree: int, seed: int = 0) -> Gaussians:
    gen = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=gen) * 5,
        quats=torch.randn(n, 4, generator=gen),
        log_scales=torch.randn(n, 3, generator=gen) - 4,
        opacity_logits=torch.randn(n, generator=gen) * 3,
        sh=torch.randn(n, num_sh_bases(degree), 3, generator=gen),
    )


def reference_properties(g: Gaussians) -> dict[str, np.ndarray]:
    """The 3DGS vertex properties of ``g``, one loop per documented rule."""
    props = {name: g.means[:, i].numpy() for i, name in enumerate("xyz")}
    for c in range(3):
        props[f"f_dc_{c}"] = g.sh[:, 0, c].numpy()
    m = g.sh.shape[1] - 1
    for c in range(3):
        for k in range(m):
            props[f"f_rest_{c * m + k}"] = g.sh[:, 1 + k, c].numpy()
    props["opacity"] = g.opacity_logits.numpy()
    for i in range(3):
        props[f"scale_{i}"] = g.log_scales[:, i].numpy()
    for i in range(4):
        props[f"rot_{i}"] = g.quats[:, i].numpy()
    return props


def write_with_plyfile(path: Path, columns: dict[str, np.ndarray], **kwargs) -> None:
    rows = np.empty(len(next(iter(columns.values()))),
                    [(name, col.dtype.str) for name, col in columns.items()])
    for name, col in columns.items():
        rows[name] = col
    PlyData([PlyElement.describe(rows, "vertex")], **kwargs).write(str(path))


def write_by_hand(path: Path, columns: dict[str, np.ndarray], comments: tuple[str, ...] = ()):
    """A binary little-endian PLY with a hand-written header, as gsplat and nerfstudio write."""
    n = len(next(iter(columns.values())))
    types = {"f4": "float", "f8": "double", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", *[f"comment {c}" for c in comments],
              f"element vertex {n}"]
    header += [f"property {types[col.dtype.str[1:]]} {name}" for name, col in columns.items()]
    rows = np.empty(n, [(name, "<" + col.dtype.str[1:]) for name, col in columns.items()])
    for name, col in columns.items():
        rows[name] = col
    path.write_bytes(("\n".join([*header, "end_header"]) + "\n").encode() + rows.tobytes())


def assert_same(a: Gaussians, b: Gaussians) -> None:
    for (name, x), y in zip(a.tensors().items(), b.tensors().values(), strict=True):
        assert x.dtype == y.dtype == torch.float32, name
        assert torch.equal(x, y), name


def with_layout(g: Gaussians, normals: bool, extra: dict[str, np.ndarray] | None = None):
    """Reference properties in the writers' order: xyz, [normals], f_dc, f_rest, opacity,
    scale, rot, then ``extra``."""
    props = reference_properties(g)
    out = {k: props.pop(k) for k in "xyz"}
    if normals:
        out |= {k: np.zeros(len(g), np.float32) for k in ("nx", "ny", "nz")}
    return out | props | (extra or {})


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_exact_and_uses_graphdeco_layout(tmp_path, degree):
    g = random_gaussians(57, degree, seed=degree)
    save_ply(tmp_path / "g.ply", g)
    assert_same(load_ply(tmp_path / "g.ply"), g)
    ply = PlyData.read(str(tmp_path / "g.ply"))
    assert ply.byte_order == "<" and not ply.text
    vertex = ply["vertex"]
    assert [p.name for p in vertex.properties] == list(with_layout(g, normals=True))
    assert [p.name for p in vertex.properties] == ply_property_names(degree)
    assert all(vertex.data.dtype[p.name] == np.dtype("<f4") for p in vertex.properties)
    for name, expected in reference_properties(g).items():
        np.testing.assert_array_equal(vertex[name], expected, err_msg=name)
    np.testing.assert_array_equal(vertex["nx"], 0.0)


def test_f_rest_is_channel_major(tmp_path):
    # degree 1, M = 3: f_rest_{c*3+k} = sh[:, 1+k, c]; value 10*c + k marks its origin
    g = random_gaussians(2, 1)
    cols = with_layout(g, normals=False)
    for c in range(3):
        for k in range(3):
            cols[f"f_rest_{c * 3 + k}"] = np.full(2, 10 * c + k, np.float32)
    write_by_hand(tmp_path / "m.ply", cols)
    sh = load_ply(tmp_path / "m.ply").sh
    for c in range(3):
        for k in range(3):
            assert torch.all(sh[:, 1 + k, c] == 10 * c + k)


def test_graphdeco_file_loads(tmp_path):
    g = random_gaussians(40, 3, seed=1)
    write_with_plyfile(tmp_path / "point_cloud.ply", with_layout(g, normals=True))
    assert_same(load_ply(tmp_path / "point_cloud.ply"), g)


def test_mip_splatting_file_with_filter_3d_loads(tmp_path):
    g = random_gaussians(40, 3, seed=2)
    extra = {"filter_3D": np.full(40, 0.01, np.float32)}
    write_with_plyfile(tmp_path / "point_cloud.ply", with_layout(g, normals=True, extra=extra))
    assert_same(load_ply(tmp_path / "point_cloud.ply"), g)


def test_nerfstudio_file_loads(tmp_path):
    g = random_gaussians(40, 3, seed=3)
    write_by_hand(tmp_path / "splat.ply", with_layout(g, normals=True),
                  comments=("Generated by Nerstudio 1.1.5", "Vertical Axis: z"))
    assert_same(load_ply(tmp_path / "splat.ply"), g)


def test_nerfstudio_rgb_colour_mode_loads(tmp_path):
    # ns-export gaussian-splat --ply-color-mode rgb: uchar red/green/blue, no f_dc, no f_rest
    g = random_gaussians(40, 0, seed=4)
    rgb = np.random.default_rng(0).integers(0, 256, (40, 3)).astype(np.uint8)
    cols = with_layout(g, normals=True)
    for c in range(3):
        del cols[f"f_dc_{c}"]
    cols = {k: cols[k] for k in ("x", "y", "z", "nx", "ny", "nz")} | {
        "red": rgb[:, 0], "green": rgb[:, 1], "blue": rgb[:, 2]} | cols
    write_by_hand(tmp_path / "splat.ply", cols)
    h = load_ply(tmp_path / "splat.ply")
    torch.testing.assert_close(0.5 + 0.28209479177387814 * h.sh[:, 0],
                               torch.from_numpy(rgb).float() / 255)
    assert_same(Gaussians(h.means, h.quats, h.log_scales, h.opacity_logits, g.sh), g)


def test_gsplat_export_loads(tmp_path):
    g = random_gaussians(40, 2, seed=5)
    write_by_hand(tmp_path / "export.ply", with_layout(g, normals=False))
    assert_same(load_ply(tmp_path / "export.ply"), g)


def test_degree_zero_file_without_normals_or_f_rest_loads(tmp_path):
    g = random_gaussians(40, 0, seed=6)
    cols = with_layout(g, normals=False)
    assert not any(k.startswith("f_rest") for k in cols)
    write_by_hand(tmp_path / "fused.ply", cols)
    h = load_ply(tmp_path / "fused.ply")
    assert h.sh_degree == 0
    assert_same(h, g)


def test_property_order_extra_elements_and_list_properties_do_not_matter(tmp_path):
    g = random_gaussians(20, 1, seed=7)
    cols = reference_properties(g)
    names = sorted(cols, reverse=True)
    rows = np.empty(20, [(n, "<f4") for n in names] + [("vertex_ids", "O")])
    for n in names:
        rows[n] = cols[n]
    rows["vertex_ids"] = [np.arange(3, dtype=np.int32)] * 20
    faces = np.array([(np.array([0, 1, 2], np.int32),)], [("vertex_indices", "O")])
    PlyData([PlyElement.describe(rows, "vertex", len_types={"vertex_ids": "u1"}),
             PlyElement.describe(faces, "face")]).write(str(tmp_path / "x.ply"))
    assert_same(load_ply(tmp_path / "x.ply"), g)


@pytest.mark.parametrize("encoding", [{"text": True}, {"byte_order": ">"}],
                         ids=["ascii", "big_endian"])
def test_ascii_and_big_endian_files_load(tmp_path, encoding):
    g = random_gaussians(15, 2, seed=8)
    write_with_plyfile(tmp_path / "x.ply", with_layout(g, normals=True), **encoding)
    h = load_ply(tmp_path / "x.ply")
    # plyfile's ASCII writer prints float32 with enough digits to round-trip exactly
    assert_same(h, g)


def test_double_properties_are_cast_to_float32(tmp_path):
    g = random_gaussians(10, 1, seed=9)
    cols = {k: v.astype(np.float64) for k, v in with_layout(g, normals=False).items()}
    write_by_hand(tmp_path / "d.ply", cols)
    assert_same(load_ply(tmp_path / "d.ply"), g)


def test_empty_scene_round_trips_with_its_degree(tmp_path):
    save_ply(tmp_path / "e.ply", Gaussians.empty(2))
    h = load_ply(tmp_path / "e.ply")
    assert len(h) == 0 and h.sh_degree == 2


def test_save_accepts_grad_float64_tensors(tmp_path):
    g = random_gaussians(5, 1).to(dtype=torch.float64).requires_grad_()
    save_ply(tmp_path / "g.ply", g)
    assert_same(load_ply(tmp_path / "g.ply"), g.detach().to(dtype=torch.float32))


def test_save_replaces_atomically_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "scene.ply"
    save_ply(target, random_gaussians(5, 0))
    save_ply(target, random_gaussians(7, 1))
    assert len(load_ply(target)) == 7 and sorted(tmp_path.iterdir()) == [target]
    before = target.read_bytes()

    def write_half_then_fail(self, stream):
        Path(stream).write_bytes(b"ply\nformat binary_little_endian 1.0\n")
        raise OSError("disk full")

    monkeypatch.setattr(PlyData, "write", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_ply(target, random_gaussians(9, 3))
    assert target.read_bytes() == before and sorted(tmp_path.iterdir()) == [target]


def test_save_refuses_non_finite_parameters(tmp_path):
    g = random_gaussians(6, 0)
    g.log_scales[4, 1] = float("inf")
    with pytest.raises(ValueError, match=r"g\.ply.*log_scales at index 4"):
        save_ply(tmp_path / "g.ply", g)
    assert not (tmp_path / "g.ply").exists()


# ---------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ply"):
        load_ply(tmp_path / "nope.ply")


def test_directory_is_not_a_ply(tmp_path):
    with pytest.raises(PlyFormatError, match="not a regular file"):
        load_ply(tmp_path)


@pytest.mark.parametrize("content", [b"", b"hello world\n", bytes(range(256)),
                                     b"ply\nformat binary_little_endian 1.0\n\xff\xfe\n"],
                         ids=["empty", "text", "binary", "non_ascii_header"])
def test_not_a_ply(tmp_path, content):
    (tmp_path / "x.ply").write_bytes(content)
    with pytest.raises(PlyFormatError, match=r"x\.ply: not a PLY file"):
        load_ply(tmp_path / "x.ply")


def test_truncated_binary_body(tmp_path):
    save_ply(tmp_path / "t.ply", random_gaussians(10, 1))
    data = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[:-5])
    with pytest.raises(PlyFormatError, match=r"t\.ply: the header declares 10 'vertex' rows of "
                       r"104 bytes, i\.e\. 1040 bytes after the header; the file has 1035 "
                       r"\(truncated"):
        load_ply(tmp_path / "t.ply")


_HEAD = b"ply\nformat binary_little_endian 1.0\n"
BAD_HEADERS = {
    # the issue's crash: no properties, so plyfile's row size was 0 and a division by it
    # killed the process with SIGFPE
    "negative count, no properties": (
        _HEAD + b"element vertex -1\nend_header\n",
        r"header line 3 \('element vertex -1'\): element 'vertex' declares -1 rows; expected "
        r"a count >= 0"),
    "rows without properties": (
        _HEAD + b"element vertex 5\nend_header\n",
        r"element 'vertex' declares 5 rows but no properties"),
    "count not an integer": (
        _HEAD + b"element vertex 1.5\nproperty float x\nend_header\n",
        r"element 'vertex' declares 1.5 rows; expected a count >= 0"),
    "count 1e20": (  # plyfile: OverflowError
        _HEAD + b"element vertex 100000000000000000000\nproperty float x\nend_header\n",
        r"declares 100000000000000000000 'vertex' rows of 4 bytes, i\.e\. 4(0)+ bytes after "
        r"the header; the file has 0 \(truncated"),
    "ascii count 1e20": (
        b"ply\nformat ascii 1.0\nelement vertex 100000000000000000000\nproperty float x\n"
        b"end_header\n1\n", r"need at least 19+ bytes of ASCII text; the file has 2 bytes"),
    "list rows beyond the file": (
        _HEAD + b"element face 1000000\nproperty list uchar int idx\nend_header\n\x00",
        r"1000000 'face' rows of at least 1 bytes, i\.e\. at least 1000000 bytes after the "
        r"header; the file has 1"),
    "duplicate property": (  # plyfile: "two properties with same name", no file named
        _HEAD + b"element vertex 1\nproperty float x\nproperty float x\nend_header\n" + bytes(8),
        r"header line 5 \('property float x'\): element 'vertex' has two properties named 'x'"),
    "duplicate element": (
        _HEAD + b"element vertex 0\nproperty float x\nelement vertex 0\nproperty float x\n"
        b"end_header\n", r"header line 5 .*a second element named 'vertex'"),
    "unknown keyword": (_HEAD + b"elemnt vertex 1\nend_header\n",
                        r"header line 3 .*unknown header keyword 'elemnt'"),
    "no format": (b"ply\nelement vertex 0\nproperty float x\nend_header\n",
                  r"header has no 'format' line"),
    "no end_header": (_HEAD + b"element vertex 1\nproperty float x\n",
                      r"no 'end_header' line in the first 70 bytes"),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_bad_headers_are_refused_before_plyfile_allocates(tmp_path, case):
    content, pattern = BAD_HEADERS[case]
    (tmp_path / "bad.ply").write_bytes(content)
    with pytest.raises(PlyFormatError, match=r"bad\.ply: .*" + pattern):
        load_ply(tmp_path / "bad.ply")


def test_binary_body_longer_than_declared_is_refused(tmp_path):
    # 100 vertices declared, 200 present: plyfile alone silently read the first 100
    save_ply(tmp_path / "a.ply", random_gaussians(200, 0))
    data = (tmp_path / "a.ply").read_bytes()
    (tmp_path / "a.ply").write_bytes(data.replace(b"element vertex 200", b"element vertex 100"))
    with pytest.raises(PlyFormatError, match=r"a\.ply: the header declares 100 'vertex' rows of "
                       r"68 bytes, i\.e\. 6800 bytes after the header; the file has 13600 "
                       r"\(trailing data, or the counts are too small\)"):
        load_ply(tmp_path / "a.ply")


def test_crlf_and_cr_headers_still_load(tmp_path):
    g = random_gaussians(3, 0)
    save_ply(tmp_path / "a.ply", g)
    header, body = (tmp_path / "a.ply").read_bytes().split(b"end_header\n", 1)
    for newline in (b"\r\n", b"\r"):
        lines = header.split(b"\n")[:-1] + [b"comment blank line next", b"  ", b"end_header"]
        (tmp_path / "b.ply").write_bytes(newline.join(lines) + newline + body)
        assert_same(load_ply(tmp_path / "b.ply"), g)


def test_half_precision_property_is_a_clear_error(tmp_path):
    # "half" is not a PLY type; we say which file, line and type
    (tmp_path / "h.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1\n"
                                     b"property half x\nend_header\n\x00\x00")
    with pytest.raises(PlyFormatError, match=r"h\.ply: header line 4 .*type 'half' is not a PLY "
                       r"scalar type"):
        load_ply(tmp_path / "h.ply")


def test_no_vertex_element(tmp_path):
    rows = np.zeros(3, [("x", "<f4")])
    PlyData([PlyElement.describe(rows, "point")]).write(str(tmp_path / "p.ply"))
    with pytest.raises(PlyFormatError, match=r"p\.ply: no 'vertex' element.*'point'"):
        load_ply(tmp_path / "p.ply")


def test_missing_properties_are_named(tmp_path):
    cols = reference_properties(random_gaussians(4, 0))
    del cols["opacity"], cols["rot_3"], cols["f_dc_1"]
    write_by_hand(tmp_path / "m.ply", cols)
    with pytest.raises(PlyFormatError, match=r"m\.ply: .*lacks required 3DGS properties "
                                             r"f_dc_1, opacity, rot_3$"):
        load_ply(tmp_path / "m.ply")


def test_plain_point_cloud_names_what_is_missing(tmp_path):
    rows = np.zeros(3, [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1")])
    PlyData([PlyElement.describe(rows, "vertex")]).write(str(tmp_path / "pc.ply"))
    with pytest.raises(PlyFormatError, match="f_dc_0, f_dc_1, f_dc_2, opacity, scale_0"):
        load_ply(tmp_path / "pc.ply")


@pytest.mark.parametrize("count", [1, 8, 10, 27, 48])
def test_f_rest_count_must_match_a_degree(tmp_path, count):
    cols = reference_properties(random_gaussians(3, 0))
    cols |= {f"f_rest_{i}": np.zeros(3, np.float32) for i in range(count)}
    write_by_hand(tmp_path / "r.ply", cols)
    with pytest.raises(PlyFormatError, match=rf"r\.ply: {count} f_rest_\* properties.*"
                                             r"\[0, 9, 24, 45\]"):
        load_ply(tmp_path / "r.ply")


def test_f_rest_indices_must_be_contiguous(tmp_path):
    cols = reference_properties(random_gaussians(3, 1))
    cols["f_rest_9"] = cols.pop("f_rest_4")
    write_by_hand(tmp_path / "r.ply", cols)
    with pytest.raises(PlyFormatError, match=r"r\.ply: f_rest_\* indices must run 0\.\.8; "
                                             r"f_rest_4 is missing"):
        load_ply(tmp_path / "r.ply")


@pytest.mark.parametrize("name,value", [("opacity", np.nan), ("y", np.inf),
                                        ("f_rest_20", -np.inf), ("rot_0", np.nan)])
def test_non_finite_values_name_property_and_first_vertex(tmp_path, name, value):
    cols = reference_properties(random_gaussians(30, 2))
    cols[name][[17, 25]] = value
    write_by_hand(tmp_path / "n.ply", cols)
    with pytest.raises(PlyFormatError,
                       match=rf"n\.ply: property '{name}' is {value} at vertex 17 \(2 of 30"):
        load_ply(tmp_path / "n.ply")


def test_double_beyond_float32_range_is_reported(tmp_path):
    props = reference_properties(random_gaussians(5, 0))
    cols = {k: v.astype(np.float64) for k, v in props.items()}
    cols["scale_2"][3] = 1e300
    write_by_hand(tmp_path / "o.ply", cols)
    with pytest.raises(PlyFormatError, match=r"'scale_2' is 1e\+300 \(beyond float32\) at v"):
        load_ply(tmp_path / "o.ply")


def test_integer_property_is_rejected(tmp_path):
    cols = reference_properties(random_gaussians(3, 0))
    cols["scale_0"] = np.zeros(3, np.uint8)
    write_by_hand(tmp_path / "i.ply", cols)
    with pytest.raises(PlyFormatError, match=r"i\.ply: property 'scale_0' is type uint8"):
        load_ply(tmp_path / "i.ply")


def test_list_property_is_rejected(tmp_path):
    cols = reference_properties(random_gaussians(2, 0))
    del cols["opacity"]
    rows = np.empty(2, [(n, "<f4") for n in cols] + [("opacity", "O")])
    for n, v in cols.items():
        rows[n] = v
    rows["opacity"] = [np.zeros(1, np.float32)] * 2
    PlyData([PlyElement.describe(rows, "vertex")]).write(str(tmp_path / "l.ply"))
    with pytest.raises(PlyFormatError, match=r"l\.ply: property 'opacity' is a list"):
        load_ply(tmp_path / "l.ply")


# ---------------------------------------------------------------------------- real data


def test_garden_sfm_points_round_trip(tmp_path):
    npz = DATA / "gsplat_test_garden" / "test_garden.npz"
    if not npz.is_file():
        pytest.skip(f"shared test data not found: {npz}")
    data = np.load(npz)
    points = torch.from_numpy(data["means3d"])
    g = Gaussians.from_points(points, torch.from_numpy(data["colors"]).float() / 255, sh_degree=3)
    save_ply(tmp_path / "garden.ply", g)
    h = load_ply(tmp_path / "garden.ply")
    assert_same(h, g)
    stats = describe_gaussians(h)
    assert stats["count"] == len(points) == 138_766
    assert stats["bounds_min"] == tuple(points.min(0).values.double().tolist())
    assert stats["bounds_max"] == tuple(points.max(0).values.double().tolist())


def test_info_on_the_issue_ply_is_one_line_not_a_crash(tmp_path):
    # issue #20: this header killed `splat3d info` (and render, view) with SIGFPE
    path = tmp_path / "crash.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex -1\nend_header\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-m", "splat3d.cli", "info", str(path)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"splat3d: error: {path}: header line 3 ('element vertex -1'): element 'vertex' "
        f"declares -1 rows; expected a count >= 0"]
