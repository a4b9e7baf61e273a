"""The catalogue of bad (and a few good) command lines that :mod:`cli_fuzz` runs.

Each :class:`Case` says what is correct: ``error`` (a non-zero exit with one line
``splat3d: error: ...`` naming the file or flag), ``ok`` (exit 0, and its ``check`` passes) or
``either`` (a clean error or a correct success are both fine, e.g. training without a test
split). Inputs are generated per case into the case's own folder; the shared fixtures (a good
PLY, a Blender scene, a trained run folder, a detector...) are built once by
:func:`build_fixtures` and only ever copied.

Names of every case: ``COMMAND/TOPIC/VARIANT``; ``--filter`` in :mod:`cli_fuzz` matches them.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from cli_fuzz_files import (
    DET_CLASSES,
    SIZE,
    MarkerPickle,
    box_json,
    colmap_binary,
    colmap_text,
    good_box,
    good_ply_bytes,
    good_poses_bounds,
    grey16_image,
    nerfstudio_cameras,
    ply_variants,
    png_bomb,
    rgba_image,
    scannet_bbox_rows,
    write_blender,
    write_colmap,
    write_detector,
    write_llff,
    write_torch_pickle,
)
from PIL import Image

Expect = Literal["error", "ok", "either"]
Check = Callable[[Path, str, set], "str | None"]
"""``check(case_dir, stdout, files_before_run) -> None`` when right, else why it is wrong."""

MARKER = "PWNED"
"""A :class:`MarkerPickle` in a case creates ``case_dir/PWNED`` if something unpickles it."""

TRAIN_FLAGS = ("--preset", "fast", "--max-steps", "2", "--backend", "torch")
"""Two steps of the CPU preset on the torch backend: accepted inputs train in seconds."""


@dataclass(frozen=True)
class Case:
    """One command line and what is correct for it."""

    name: str
    """``COMMAND/TOPIC/VARIANT``."""
    argv: Callable[[Path], list[str]]
    """Arguments after ``splat3d``, given the case folder."""
    expect: Expect = "error"
    mentions: tuple[str, ...] = ()
    """An error line must contain one of these (the file or the flag; ``{dir}`` stands for the
    case folder); empty: anything."""
    setup: Callable[[Path], None] | None = None
    """Writes the case's inputs into its folder."""
    check: Check | None = None
    """Run after exit 0."""
    marker: bool = False
    """The case plants a :class:`MarkerPickle`; ``case_dir/PWNED`` must never appear."""
    serves: bool = False
    """A server command: reaching the timeout means it started serving the bad input."""
    timeout: float = 180.0
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables (e.g. hiding CUDA)."""
    why: str = ""

    @property
    def command(self) -> str:
        return self.name.split("/")[0]


@dataclass(frozen=True)
class Fixtures:
    """Good inputs shared by all cases (read-only; cases copy what they change)."""

    root: Path
    ply: Path
    blender: Path
    cameras: Path
    run: Path
    detector: Path
    det_scene: Path
    preds: Path
    gt: Path
    ply_bytes: bytes = field(repr=False, default=b"")


def build_fixtures(root: Path, run_cli: Callable[[list[str], Path], Any]) -> Fixtures:
    """Write the shared fixtures under ``root``; the run folder is trained with the CLI itself
    (``run_cli(argv, cwd)``), so a broken ``train`` leaves it missing and the cases that need
    it report a setup failure."""
    root.mkdir(parents=True, exist_ok=True)
    ply_bytes = good_ply_bytes()
    (root / "good.ply").write_bytes(ply_bytes)
    blender = write_blender(root / "blender")
    cameras = root / "cameras.json"
    cameras.write_text(json.dumps(nerfstudio_cameras()))
    run = root / "run"
    if not (run / "config.json").is_file():
        run_cli(["train", "--data", str(blender), *TRAIN_FLAGS, "--output", str(run)], root)
    detector = write_detector(root / "det" / "detector.pt")
    det_scene = root / "det" / "scene0001_00"
    det_scene.mkdir(parents=True, exist_ok=True)
    (det_scene / "point_cloud.ply").write_bytes(ply_bytes)
    preds = root / "det" / "preds"
    preds.mkdir(exist_ok=True)
    (preds / "scene0001_00.json").write_text(box_json("scene0001_00", [good_box()]))
    gt = root / "det" / "gt"
    gt.mkdir(exist_ok=True)
    np.save(gt / "scene0001_00_bbox.npy", scannet_bbox_rows())
    return Fixtures(root, root / "good.ply", blender, cameras, run, detector, det_scene, preds,
                    gt, ply_bytes)


# ---------------------------------------------------------------- checks


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def only_inside(sub: str, count: int | None = None) -> Check:
    """Every file the run created is under ``case_dir/sub`` (or is one of its parent folders);
    with ``count``, that many PNGs."""
    parents = {"/".join(sub.split("/")[:i]) for i in range(1, sub.count("/") + 2)}

    def check(d: Path, _: str, before: set) -> str | None:
        outside = sorted(p for p in files_under(d) - before
                         if p not in parents and not p.startswith(f"{sub}/"))
        if outside:
            return f"wrote outside {sub}/: {outside[:3]}"
        pngs = len(list((d / sub).rglob("*.png")))
        if count is not None and pngs != count:
            return f"{pngs} PNGs in {sub}/, expected {count} (one per frame)"
        return None
    return check


def exists(*names: str) -> Check:
    def check(d: Path, _: str, __: set) -> str | None:
        missing = [n for n in names if not (d / n).exists()]
        return f"missing {missing}" if missing else None
    return check


def prints(text: str) -> Check:
    def check(_: Path, stdout: str, __: set) -> str | None:
        return None if text in stdout else f"stdout lacks {text!r}"
    return check


def finite_metrics(run: str = "run") -> Check:
    def check(d: Path, _: str, __: set) -> str | None:
        path = d / run / "metrics.json"
        if not path.is_file():
            return f"no {run}/metrics.json"
        text = path.read_text()
        return "metrics.json holds NaN/null" if ("NaN" in text or "null" in text) else None
    return check


def unchanged(folder: str) -> Check:
    """``case_dir/folder`` is byte for byte what setup left (see :func:`snapshot`)."""
    def check(d: Path, _: str, __: set) -> str | None:
        saved = json.loads((d / f"{folder}.snapshot.json").read_text())
        now = snapshot(d / folder)
        changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        return f"{folder}/ was modified: {changed[:4]}" if changed else None
    return check


def snapshot(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def image_mean(scene: str, want: float, tol: float = 0.02) -> Check:
    """The dataset at ``case_dir/scene`` reads as images of mean ``want`` (in a subprocess
    with the code under test)."""
    def check(d: Path, _: str, __: set) -> str | None:
        import subprocess
        import sys

        code = ("import sys; from splat3d.data import load_dataset; "
                f"ds = load_dataset({str(d / scene)!r}); print(float(ds.images.mean()))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, env=_ENV)
        if out.returncode != 0:
            return f"could not load the dataset: {out.stderr.strip().splitlines()[-1:]}"
        got = float(out.stdout.strip().splitlines()[-1])
        return None if abs(got - want) <= tol else f"images read with mean {got:.3f}, " \
                                                   f"expected {want:.3f}"
    return check


_ENV: dict[str, str] = {}
"""The subprocess environment; :mod:`cli_fuzz` fills it before running checks."""


def both(*checks: Check) -> Check:
    def check(d: Path, stdout: str, before: set) -> str | None:
        for c in checks:
            reason = c(d, stdout, before)
            if reason:
                return reason
        return None
    return check


# ---------------------------------------------------------------- helpers for setups


def write(rel: str, data: bytes | str | Callable[[], bytes | str]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        path = d / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        value = data() if callable(data) else data
        if isinstance(value, bytes):
            path.write_bytes(value)
        else:
            path.write_text(value)
    return setup


def copy_run(fx: Fixtures, edit: Callable[[Path], None] | None = None,
             keep_origin: bool = False) -> Callable[[Path], None]:
    """Copy the fixture run to ``case_dir/run``; its ``config.json`` names that copy as its
    folder, or (``keep_origin``) a pristine ``case_dir/orig`` it was copied from."""
    def setup(d: Path) -> None:
        if not (fx.run / "config.json").is_file():
            raise FileNotFoundError(f"fixture run {fx.run} missing (train failed)")
        for name in ("orig", "run") if keep_origin else ("run",):
            shutil.copytree(fx.run, d / name)
            config = json.loads((d / name / "config.json").read_text())
            config["output_dir"] = str(d / "orig" if keep_origin else d / name)
            (d / name / "config.json").write_text(json.dumps(config, indent=2))
        if keep_origin:
            (d / "orig.snapshot.json").write_text(json.dumps(snapshot(d / "orig")))
        if edit is not None:
            edit(d / "run")
    return setup


def newest_checkpoint(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step_*.pt"))[-1]


def edit_checkpoint(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        import torch

        from splat3d.tensorfile import load_tensor_file

        path = newest_checkpoint(run)
        state = load_tensor_file(path, "checkpoint")
        change(state)
        torch.save(state, path)
    return edit


def replace_checkpoint(data: bytes | Callable[[Path], bytes]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        path = newest_checkpoint(run)
        path.write_bytes(data(path) if callable(data) else data)
    return edit


def malicious_checkpoint(run: Path) -> None:
    path = newest_checkpoint(run)
    write_torch_pickle(path, {"step": 3, "params": MarkerPickle(run.parent / MARKER)})


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# ---------------------------------------------------------------- the catalogue


def ply_cases(fx: Fixtures) -> list[Case]:
    cases = []
    variants = ply_variants(fx.ply_bytes)
    for name, (data, expect, why) in variants.items():
        check = prints("Gaussians") if expect != "error" else None
        cases.append(Case(f"info/ply/{name}", lambda d: ["info", str(d / "bad.ply")], expect,
                          ("bad.ply",), write("bad.ply", data), check, why=why))
    for name in ("vertex_-1", "vertex_1e20", "more_present", "fewer_present", "nan_position",
                 "duplicate_property", "empty", "zero_quaternion"):
        data, expect, why = variants[name]
        cases.append(Case(f"render/ply/{name}", lambda d: [
            "render", "--ply", str(d / "bad.ply"), "--cameras", str(fx.cameras), "--out",
            str(d / "out"), "--backend", "torch"], expect, ("bad.ply",),
            write("bad.ply", data), why=why))
    for name in ("vertex_-1", "vertex_1e20", "fewer_present", "nan_position", "not_ply"):
        data, expect, why = variants[name]
        cases.append(Case(f"view/ply/{name}", lambda d: ["view", str(d / "bad.ply"), "--port",
                                                          "0"], expect, ("bad.ply",),
                          write("bad.ply", data), serves=True, timeout=60, why=why))
    for name in ("vertex_-1", "nan_position", "vertex_0"):
        data, expect, why = variants[name]
        cases.append(Case(f"detect-run/ply/{name}", lambda d: [
            "detect", "run", "--scene", str(d / "bad.ply"), "--detector", str(fx.detector),
            "--out", str(d / "pred.json")], "either" if expect == "ok" else expect,
            ("bad.ply",), write("bad.ply", data), why=why))
    cases += [
        Case("info/ply/missing", lambda d: ["info", str(d / "nope.ply")], "error", ("nope.ply",)),
        Case("info/ply/directory", lambda d: ["info", str(d)], "error", ("{dir}",),
             why="a folder instead of a file"),
        Case("info/ply/splat_file", lambda d: ["info", str(d / "x.ply")], "error", ("x.ply",),
             write("x.ply", b"\0" * 64), why=".splat bytes named .ply"),
    ]
    return cases


def _camera_angle(value: Any) -> Callable[[dict], None]:
    def mutate(meta: dict) -> None:
        for key in ("fl_x", "fl_y", "cx", "cy"):
            meta.pop(key, None)
        meta["camera_angle_x"] = value
    return mutate


def _set(**values: Any) -> Callable[[dict], None]:
    def mutate(meta: dict) -> None:
        meta.update(values)
    return mutate


def _frame(i: int = 0, **values: Any) -> Callable[[dict], None]:
    def mutate(meta: dict) -> None:
        meta["frames"][i].update(values)
    return mutate


def _pop(*keys: str) -> Callable[[dict], None]:
    def mutate(meta: dict) -> None:
        for key in keys:
            meta.pop(key, None)
    return mutate


def _matrix(change: Callable[[np.ndarray], Any]) -> Callable[[dict], None]:
    def mutate(meta: dict) -> None:
        m = np.array(meta["frames"][0]["transform_matrix"], dtype=float)
        meta["frames"][0]["transform_matrix"] = change(m)
    return mutate


def _scaled(m: np.ndarray) -> list:
    m[:3, :3] *= 2
    return m.tolist()


def _far(m: np.ndarray) -> list:
    m[:3, 3] = 1e300
    return m.tolist()


TRANSFORMS_VARIANTS: list[tuple[str, Callable[[dict], None], Expect, str]] = [
    ("cax_0", _camera_angle(0), "error", "camera_angle_x 0 (ZeroDivisionError in #20)"),
    ("cax_pi", _camera_angle(math.pi), "error", "camera_angle_x pi (accepted in #20)"),
    ("cax_4", _camera_angle(4.0), "error", "camera_angle_x 4 > pi"),
    ("cax_negative", _camera_angle(-0.7), "error", "negative field of view"),
    ("cax_nan", _camera_angle(float("nan")), "error", "camera_angle_x NaN"),
    ("cax_inf", _camera_angle(float("inf")), "error", "camera_angle_x Infinity"),
    ("cax_string", _camera_angle("0.7"), "error", "camera_angle_x as a string"),
    ("cax_bool", _camera_angle(True), "error", "camera_angle_x true"),
    ("no_focal", _pop("fl_x", "fl_y", "camera_angle_x"), "error", "no focal length at all"),
    ("fl_0", _set(fl_x=0.0, fl_y=0.0), "error", "fl_x 0"),
    ("fl_negative", _set(fl_x=-14.0, fl_y=-14.0), "error", "negative focal length"),
    ("fl_nan", _set(fl_x=float("nan")), "error", "fl_x NaN"),
    ("cx_nan", _set(cx=float("nan")), "error", "cx NaN"),
    ("wh_huge", _set(w=1_000_000_000, h=1_000_000_000), "error", "w = h = 1e9"),
    ("wh_zero", _set(w=0, h=0), "error", "w = h = 0"),
    ("wh_negative", _set(w=-16, h=-16), "error", "negative w/h"),
    ("wh_fraction", _set(w=16.5, h=16), "error", "w 16.5"),
    ("fisheye", _set(camera_model="OPENCV_FISHEYE"), "error", "unsupported camera model"),
    ("frames_missing", _pop("frames"), "error", "no frames key"),
    ("frames_empty", _set(frames=[]), "error", "frames []"),
    ("frames_object", _set(frames={"a": 1}), "error", "frames as an object"),
    ("frame_null", _set(frames=[None]), "error", "a null frame"),
    ("no_matrix", lambda m: m["frames"][0].pop("transform_matrix"), "error",
     "frame without transform_matrix"),
    ("matrix_3x3", _frame(transform_matrix=np.eye(3).tolist()), "error", "a 3x3 matrix"),
    ("matrix_nan", _matrix(lambda m: np.where(np.eye(4) > 0, np.nan, m).tolist()), "error",
     "NaN in transform_matrix"),
    ("matrix_zero", _frame(transform_matrix=np.zeros((4, 4)).tolist()), "error",
     "all-zero matrix"),
    ("matrix_scaled", _matrix(_scaled), "error", "rotation scaled by 2 (not rigid)"),
    ("matrix_strings", _frame(transform_matrix=[["a"] * 4] * 4), "error", "strings in matrix"),
    ("camera_1e300", _matrix(_far), "error", "camera at 1e300 (accepted in #20)"),
    ("file_path_number", _frame(file_path=3), "error", "file_path 3"),
    ("file_path_empty", _frame(file_path=""), "error", "file_path ''"),
]
"""transforms.json mutations applied to both ``render --cameras`` (nerfstudio intrinsics) and
``train`` (a Blender scene's transforms_train.json)."""

TRAVERSAL_NAMES = ["../../x", "a/../../x", "..", "C:\\x", "x", "OUTSIDE/x", "CON", "sub/x"]
"""Frame file_paths aimed out of ``--out`` (``OUTSIDE`` becomes an absolute path inside the
case folder, so a broken writer cannot reach beyond it)."""


def transforms_cases(fx: Fixtures) -> list[Case]:
    cases = []
    base_cams = nerfstudio_cameras()
    for name, mutate, expect, why in TRANSFORMS_VARIANTS:
        def render_setup(d: Path, mutate: Callable = mutate) -> None:
            meta = json.loads(json.dumps(base_cams))
            mutate(meta)
            (d / "cams.json").write_text(json.dumps(meta))

        def train_setup(d: Path, mutate: Callable = mutate) -> None:
            shutil.copytree(fx.blender, d / "scene")
            path = d / "scene" / "transforms_train.json"
            meta = json.loads(path.read_text())
            mutate(meta)
            path.write_text(json.dumps(meta))

        cases.append(Case(f"render/transforms/{name}", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(d / "cams.json"), "--out",
            str(d / "out"), "--backend", "torch"], expect, ("cams.json",), render_setup,
            why=why))
        if name.startswith(("fl_", "cx_")):
            continue  # Blender files have camera_angle_x; these keys are nerfstudio's
        cases.append(Case(f"train/transforms/{name}", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
            expect, ("transforms_train.json",), train_setup, why=why))
    for name, text in (("top_level_list", "[1, 2]"), ("invalid_json", '{"frames": [1,'),
                       ("deep_nesting", '{"frames": ' + deep_json() + "}"),
                       ("non_utf8", b'{"fl_x": "\xff\xfe"}')):
        cases.append(Case(f"render/transforms/{name}", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(d / "cams.json"), "--out",
            str(d / "out")], "error", ("cams.json",), write("cams.json", text)))

        def train_setup(d: Path, text: str | bytes = text) -> None:
            shutil.copytree(fx.blender, d / "scene")
            path = d / "scene" / "transforms_train.json"
            path.write_bytes(text if isinstance(text, bytes) else text.encode())

        cases.append(Case(f"train/transforms/{name}", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
            "error", ("transforms_train.json",), train_setup))

    def traversal_setup(d: Path, save_npy: bool = False) -> None:
        meta = json.loads(json.dumps(base_cams))
        names = [n.replace("OUTSIDE", str(d / "outside")) for n in TRAVERSAL_NAMES]
        meta["frames"] = [dict(meta["frames"][i % 2], file_path=n) for i, n in enumerate(names)]
        (d / "cams.json").write_text(json.dumps(meta))

    out = ["--out", "box/a/out"]  # relative to the case folder: "../../x" stays inside it
    cases += [
        Case("render/names/traversal", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(d / "cams.json"), *out,
            "--backend", "torch"], "either", ("cams.json",), traversal_setup,
            check=only_inside("box/a/out", len(TRAVERSAL_NAMES)),
            why="frame names climbing out of --out (#20 item 3): refused by the reader, or "
                "written inside --out"),
        Case("render/names/traversal_npy", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(d / "cams.json"), *out,
            "--backend", "torch", "--save-npy"], "either", ("cams.json",), traversal_setup,
            check=only_inside("box/a/out", len(TRAVERSAL_NAMES)),
            why="the same with --save-npy (four files per frame)"),
        Case("render/names/symlink_out", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(d / "cams.json"), "--out",
            str(d / "out"), "--backend", "torch"], "error", ("evil",),
            lambda d: (write("cams.json", json.dumps(dict(base_cams, frames=[
                dict(base_cams["frames"][0], file_path="evil/x.png"),
                dict(base_cams["frames"][1], file_path="fine/x.png")])))(d),
                (d / "elsewhere").mkdir(), (d / "out").mkdir(),
                (d / "out" / "evil").symlink_to(d / "elsewhere")),
            why="a symlink inside --out leading out of it"),
        Case("render/transforms/matrix_3x4", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(d / "cams.json"), "--out",
            str(d / "out"), "--backend", "torch"], "ok",
            setup=lambda d: (d / "cams.json").write_text(json.dumps(dict(base_cams, frames=[
                dict(f, transform_matrix=f["transform_matrix"][:3])
                for f in base_cams["frames"]]))), check=only_inside("out", 2),
            why="3x4 matrices are allowed"),
        Case("render/transforms/good", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(fx.cameras), "--out",
            str(d / "out"), "--backend", "torch"], "ok", check=only_inside("out", 2)),
        Case("train/transforms/file_path_traversal", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
            "error", ("transforms_train.json", "x.png"),
            lambda d: _edit_blender(fx, d, _frame(0, file_path="../../../x"))),
        Case("train/transforms/file_path_etc_passwd", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
            "error", ("passwd",), lambda d: _edit_blender(fx, d, _frame(0,
                                                                        file_path="/etc/passwd"))),
        Case("train/transforms/good", lambda d: [
            "train", "--data", str(fx.blender), *TRAIN_FLAGS, "--output", str(d / "run")],
            "ok", check=finite_metrics()),
        Case("train/transforms/no_test_split", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
            "either", ("test",), lambda d: write_blender(d / "scene", test_split=False),
            why="no transforms_test.json (KeyError traceback in #20, the most realistic)"),
    ]
    return cases


def _edit_blender(fx: Fixtures, d: Path, mutate: Callable[[dict], None]) -> None:
    shutil.copytree(fx.blender, d / "scene")
    path = d / "scene" / "transforms_train.json"
    meta = json.loads(path.read_text())
    mutate(meta)
    path.write_text(json.dumps(meta))


def image_cases(fx: Fixtures) -> list[Case]:
    def scene_with(image: Callable[[str, int], Any], test: bool = True) -> Callable[[Path], None]:
        return lambda d: write_blender(d / "scene", image=image, test_split=test) and None

    def one_bad(data: Callable[[], Any]) -> Callable[[str, int], Any]:
        return lambda split, i: data() if (split, i) == ("train", 1) else rgba_image(i)

    truncated = rgba_image(0)
    import io

    buf = io.BytesIO()
    truncated.save(buf, format="PNG")
    png = buf.getvalue()
    variants: list[tuple[str, Callable[[str, int], Any], Expect, str, Check | None]] = [
        ("grey16", lambda s, i: grey16_image(16384), "ok",
         "16-bit greyscale PNGs (read as solid white in #20)", image_mean("scene", 0.25)),
        ("grey8", lambda s, i: Image.new("L", (SIZE, SIZE), 64), "ok", "8-bit greyscale",
         image_mean("scene", 64 / 255)),
        ("palette", lambda s, i: Image.new("RGB", (SIZE, SIZE), (64, 64, 64)).convert("P"),
         "ok", "palette PNGs", image_mean("scene", 64 / 255)),
        ("grey_alpha", lambda s, i: Image.new("LA", (SIZE, SIZE), (64, 255)), "ok",
         "greyscale + alpha", image_mean("scene", 64 / 255)),
        ("bilevel", lambda s, i: Image.new("1", (SIZE, SIZE), 1), "ok", "1-bit images",
         image_mean("scene", 1.0)),
        ("bomb_header", one_bad(lambda: png_bomb(100_000, 100_000)), "error",
         "a PNG header claiming 1e10 pixels (DecompressionBombError in #20)", None),
        ("truncated", one_bad(lambda: png[: len(png) // 2]), "error", "half a PNG", None),
        ("empty", one_bad(lambda: b""), "error", "a 0-byte image", None),
        ("text", one_bad(lambda: b"not an image\n"), "error", "text named .png", None),
        ("other_size", one_bad(lambda: rgba_image(1, size=SIZE * 2)), "error",
         "one image twice the size", None),
    ]
    cases = []
    for name, image, expect, why, check in variants:
        cases.append(Case(f"train/image/{name}", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")], expect,
            ("r_1.png", "train"), scene_with(image), check, why=why))

    def missing(d: Path) -> None:
        write_blender(d / "scene")
        (d / "scene" / "train" / "r_1.png").unlink()

    def directory(d: Path) -> None:
        missing(d)
        (d / "scene" / "train" / "r_1.png").mkdir()

    def loop(d: Path) -> None:
        missing(d)
        (d / "scene" / "train" / "r_1.png").symlink_to(d / "scene" / "train" / "r_1.png")

    for name, setup in (("missing", missing), ("directory", directory), ("symlink_loop", loop)):
        cases.append(Case(f"train/image/{name}", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
            "error", ("r_1",), setup))
    return cases


def llff_cases(fx: Fixtures) -> list[Case]:
    import io

    npz = io.BytesIO()
    np.savez(npz, poses=good_poses_bounds())
    npy = io.BytesIO()
    np.save(npy, good_poses_bounds())
    pb = good_poses_bounds()
    nan = pb.copy()
    nan[2, 3] = np.nan
    bounds = pb.copy()
    bounds[:, 15:] = [-1.0, -2.0]
    focal0 = pb.copy()
    focal0[:, 14] = 0.0
    huge = pb.copy()
    huge[:, 4], huge[:, 9] = 1e9, 1e9
    variants: list[tuple[str, Any, Expect, str]] = [
        ("empty", b"", "error", "0-byte poses_bounds.npy (EOFError in #20)"),
        ("npz", npz.getvalue(), "error", ".npz saved as .npy"),
        ("truncated", npy.getvalue()[:-100], "error", "data cut short"),
        ("text", b"1 2 3\n", "error", "text named .npy"),
        ("shape_15", pb[:, :15], "error", "[N,15]"),
        ("shape_1d", pb.reshape(-1), "error", "a flat array"),
        ("rows_8", pb[:8], "error", "8 poses for 9 images"),
        ("nan", nan, "error", "NaN in a pose"),
        ("bounds_negative", bounds, "either", "negative near/far (3DGS does not use them)"),
        ("focal_0", focal0, "error", "hwf focal 0"),
        ("hw_huge", huge, "error", "hwf claims 1e9 x 1e9 images (naming the image is fine)"),
        ("strings", np.array([["a"] * 17] * 9), "error", "a string array"),
        ("good", pb, "ok", "a valid LLFF scene (every 8th view held out)"),
    ]
    cases = []
    for name, data, expect, why in variants:
        mentions = ("poses_bounds.npy", "img_00") if name == "hw_huge" else ("poses_bounds.npy",)
        cases.append(Case(f"train/llff/{name}", lambda d: [
            "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
            expect, mentions, lambda d, data=data: write_llff(d / "scene", data) and None,
            finite_metrics() if expect == "ok" else None, why=why))

    def pickled(d: Path) -> None:
        arr = np.empty(17 * 9, dtype=object)
        arr[:] = [MarkerPickle(d / MARKER)] * arr.size
        write_llff(d / "scene", arr.reshape(9, 17))

    cases.append(Case("train/llff/object_pickle", lambda d: [
        "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")],
        "error", ("poses_bounds.npy",), pickled, marker=True,
        why="an object array whose unpickling runs code"))
    return cases


def colmap_cases(fx: Fixtures) -> list[Case]:
    text, binary = colmap_text(), colmap_binary()
    import struct

    def huge_count(data: bytes) -> bytes:
        return struct.pack("<Q", 10**18) + data[8:]

    variants: list[tuple[str, dict[str, Any], Expect, str, tuple[str, ...]]] = [
        ("text_good", text, "ok", "a valid text model", ()),
        ("bin_good", binary, "ok", "a valid binary model", ()),
        ("cameras_txt_short", {**text, "cameras.txt": "1 PINHOLE 16 16 14\n"}, "error",
         "PINHOLE with one parameter", ("cameras.txt",)),
        ("cameras_txt_empty", {**text, "cameras.txt": ""}, "error", "no cameras",
         ("cameras.txt", "camera")),
        ("camera_model_unknown", {**text, "cameras.txt": "1 FOO 16 16 1 2 3\n"}, "error",
         "camera model FOO", ("cameras.txt", "FOO")),
        ("camera_width_0", {**text, "cameras.txt": "1 PINHOLE 0 0 14 14 8 8\n"}, "error",
         "width 0", ("cameras.txt", "width")),
        ("camera_nan", {**text, "cameras.txt": "1 PINHOLE 16 16 nan 14 8 8\n"}, "error",
         "NaN focal", ("cameras.txt",)),
        ("image_camera_missing", {**text, "images.txt": text["images.txt"].replace(
            " 1 img_00.png", " 7 img_00.png")}, "error", "an image of camera 7",
         ("images.txt", "camera")),
        ("image_quaternion_zero", {**text, "images.txt": "1 0 0 0 0 0 0 3 1 img_00.png\n\n"
                                   + text["images.txt"].split("\n\n", 1)[1]}, "error",
         "quaternion 0", ("images.txt",)),
        ("image_nan", {**text, "images.txt": "1 1 0 0 0 nan 0 3 1 img_00.png\n\n"
                       + text["images.txt"].split("\n\n", 1)[1]}, "error",
         "NaN in an image's translation", ("images.txt",)),
        ("image_traversal", {**text, "images.txt": text["images.txt"].replace(
            "img_00.png", "../../../etc/passwd")}, "error", "image name ../../../etc/passwd",
         ("passwd",)),
        ("cameras_bin_truncated", {**binary, "cameras.bin": binary["cameras.bin"][:20]},
         "error", "cameras.bin cut short", ("cameras.bin",)),
        ("images_bin_truncated", {**binary, "images.bin": binary["images.bin"][:-30]},
         "error", "images.bin cut short", ("images.bin",)),
        ("points_bin_truncated", {**binary, "points3D.bin": binary["points3D.bin"][:-11]},
         "error", "points3D.bin cut short", ("points3D.bin",)),
        ("cameras_bin_count_1e18", {**binary, "cameras.bin": huge_count(binary["cameras.bin"])},
         "error", "cameras.bin claims 1e18 cameras", ("cameras.bin",)),
        ("points_bin_count_1e18", {**binary, "points3D.bin": huge_count(
            binary["points3D.bin"])}, "error", "points3D.bin claims 1e18 points",
         ("points3D.bin",)),
        ("cameras_bin_empty", {**binary, "cameras.bin": b""}, "error", "0-byte cameras.bin",
         ("cameras.bin",)),
    ]
    # the model folder with the image or camera id names the place as well as the file does
    return [Case(f"train/colmap/{name}", lambda d: [
        "train", "--data", str(d / "scene"), *TRAIN_FLAGS, "--output", str(d / "run")], expect,
        (*mentions, "sparse/0 image", "sparse/0 camera") if mentions else (),
        lambda d, files=files: write_colmap(d / "scene", files) and None,
        finite_metrics() if expect == "ok" else None, why=why)
        for name, files, expect, why, mentions in variants]


def run_cases(fx: Fixtures) -> list[Case]:
    run = lambda d: str(d / "run")  # noqa: E731
    ckpt = ("step_", "checkpoint")
    cases = [
        Case("eval/run/good", lambda d: ["eval", "--run", run(d)], "ok", setup=copy_run(fx),
             check=exists("run/evaluation.json")),
        Case("export/run/ply", lambda d: ["export", "--run", run(d)], "ok", setup=copy_run(fx),
             check=exists("run/exports/point_cloud.ply")),
        Case("export/run/splat", lambda d: ["export", "--run", run(d), "--format", "splat"],
             "ok", setup=copy_run(fx), check=exists("run/exports/point_cloud.splat")),
        Case("export/run/glb", lambda d: ["export", "--run", run(d), "--format", "glb",
                                          "--mesh-resolution", "16"], "ok", setup=copy_run(fx),
             check=exists("run/exports/mesh.glb")),
        Case("export/run/bad_suffix", lambda d: ["export", "--run", run(d), "--format", "glb",
                                                 "--out", str(d / "x.ply")], "error", ("x.ply",),
             copy_run(fx)),
        Case("export/run/out_is_folder", lambda d: ["export", "--run", run(d), "--out",
                                                    str(d)], "error", ("{dir}",),
             copy_run(fx)),
        Case("eval/run/missing", lambda d: ["eval", "--run", str(d / "nope")], "error",
             ("nope",)),
        Case("export/run/missing", lambda d: ["export", "--run", str(d / "nope")], "error",
             ("nope",)),
        Case("eval/run/is_a_file", lambda d: ["eval", "--run", str(d / "f")], "error", ("f",),
             write("f", "x")),
        Case("eval/run/copy_leaves_original", lambda d: ["eval", "--run", run(d)], "ok",
             setup=copy_run(fx, keep_origin=True), check=both(
                 exists("run/evaluation.json"), unchanged("orig")),
             why="eval of a copied run wrote into the original (#20 item 4)"),
        Case("train/resume/copy_leaves_original", lambda d: [
            "train", "--data", str(fx.blender), "--preset", "fast", "--max-steps", "4",
            "--backend", "torch", "--resume", "--output", run(d)], "ok",
            setup=copy_run(fx, keep_origin=True), check=unchanged("orig"),
            why="train --resume --output COPY wrote into the original (#20 item 4)"),
        Case("train/resume/no_checkpoint", lambda d: [
            "train", "--data", str(fx.blender), *TRAIN_FLAGS, "--resume", "--output",
            str(d / "empty")], "either", ("empty", "checkpoint")),
        Case("train/output/existing_run", lambda d: [
            "train", "--data", str(fx.blender), *TRAIN_FLAGS, "--output", run(d)], "error",
            ("run", "--overwrite", "--resume"), copy_run(fx),
            why="a non-empty --output without --resume/--overwrite"),
        Case("train/output/is_a_file", lambda d: [
            "train", "--data", str(fx.blender), *TRAIN_FLAGS, "--output", str(d / "f")],
            "error", ("f",), write("f", "x")),
    ]
    for command in ("eval", "export", "view", "train-resume"):
        argv = {
            "eval": lambda d: ["eval", "--run", run(d)],
            "export": lambda d: ["export", "--run", run(d)],
            "view": lambda d: ["view", run(d), "--port", "0"],
            "train-resume": lambda d: ["train", "--data", str(fx.blender), *TRAIN_FLAGS,
                                       "--resume", "--output", run(d)],
        }[command]
        # view may show point_cloud.ply and never open the checkpoint: serving is fine there
        cases.append(Case(f"{command.split('-')[0]}/checkpoint/malicious_pickle", argv,
                          "either" if command == "view" else "error", ckpt,
                          copy_run(fx, malicious_checkpoint), marker=True,
                          serves=command == "view", timeout=90 if command == "view" else 180,
                          why=f"a pickle that runs code, loaded by {command} (#20 item 1)"))
    bad_checkpoints: list[tuple[str, Callable[[Path], None], Expect, str]] = [
        ("truncated", replace_checkpoint(lambda p: p.read_bytes()[:2000]), "error",
         "a cut zip (PytorchStreamReader in #20)"),
        ("random_bytes", replace_checkpoint(bytes(range(256)) * 16), "error",
         "random bytes (UnpicklingError in #20)"),
        ("empty_file", replace_checkpoint(b""), "error", "a 0-byte checkpoint"),
        ("nan_params", edit_checkpoint(lambda s: s["params"]["means"].fill_(float("nan"))),
         "error", "NaN means: must not become a NaN model"),
        ("means_shape", edit_checkpoint(lambda s: s["params"].__setitem__(
            "means", s["params"]["means"][:, :2])), "error", "means [N,2]"),
        ("params_missing", edit_checkpoint(lambda s: s.pop("params")), "error",
         "no params key"),
    ]
    for name, edit, expect, why in bad_checkpoints:
        for command in ("eval", "export"):
            cases.append(Case(f"{command}/checkpoint/{name}", lambda d, c=command: [
                c, "--run", run(d)], expect, ckpt, copy_run(fx, edit), why=why))

    def older_good(run_dir: Path) -> None:
        newest = newest_checkpoint(run_dir)
        shutil.copy(newest, newest.with_name("step_0000001.pt"))
        newest.write_bytes(b"garbage")

    def no_checkpoints(run_dir: Path) -> None:
        for p in (run_dir / "checkpoints").iterdir():
            p.unlink()
        (run_dir / "point_cloud.ply").unlink()

    def config_text(text: str) -> Callable[[Path], None]:
        return lambda run_dir: (run_dir / "config.json").write_text(text)

    def config_data(run_dir: Path) -> None:
        config = json.loads((run_dir / "config.json").read_text())
        config["data"] = str(run_dir / "no_such_scene")
        (run_dir / "config.json").write_text(json.dumps(config))

    def config_no_test(run_dir: Path) -> None:
        write_blender(run_dir.parent / "scene", test_split=False)
        config = json.loads((run_dir / "config.json").read_text())
        config["data"] = str(run_dir.parent / "scene")
        (run_dir / "config.json").write_text(json.dumps(config))

    cases += [
        Case("eval/checkpoint/newest_corrupt", lambda d: ["eval", "--run", run(d)], "ok",
             setup=copy_run(fx, older_good), check=exists("run/evaluation.json"),
             why="a corrupt newest checkpoint and a good older one (#20 item 8)"),
        Case("eval/checkpoint/none", lambda d: ["eval", "--run", run(d)], "error",
             ("checkpoint", "run"), copy_run(fx, no_checkpoints)),
        Case("export/checkpoint/none", lambda d: ["export", "--run", run(d)], "error",
             ("checkpoint", "run"), copy_run(fx, no_checkpoints)),
        Case("view/checkpoint/none", lambda d: ["view", run(d), "--port", "0"], "error",
             ("checkpoint", "run", "point_cloud"), copy_run(fx, no_checkpoints), serves=True,
             timeout=60),
        Case("eval/config/invalid_json", lambda d: ["eval", "--run", run(d)], "error",
             ("config.json",), copy_run(fx, config_text("{"))),
        Case("export/config/invalid_json", lambda d: ["export", "--run", run(d)], "either",
             ("config.json",), copy_run(fx, config_text("{")),
             check=exists("run/exports/point_cloud.ply")),
        Case("eval/config/deep_nesting", lambda d: ["eval", "--run", run(d)], "error",
             ("config.json",), copy_run(fx, config_text(deep_json()))),
        Case("eval/config/list", lambda d: ["eval", "--run", run(d)], "error",
             ("config.json",), copy_run(fx, config_text("[]"))),
        Case("eval/config/missing", lambda d: ["eval", "--run", run(d)], "error",
             ("config.json",), copy_run(fx, lambda r: (r / "config.json").unlink())),
        Case("eval/config/data_missing", lambda d: ["eval", "--run", run(d)], "error",
             ("no_such_scene",), copy_run(fx, config_data)),
        Case("eval/config/no_test_split", lambda d: ["eval", "--run", run(d)], "error",
             ("test",), copy_run(fx, config_no_test),
             why="the run's data lost its test split (KeyError traceback in #20)"),
    ]
    for value in ("0", "-3", "100000"):
        cases.append(Case(f"export/flags/mesh_resolution_{value}", lambda d, v=value: [
            "export", "--run", run(d), "--format", "obj", "--mesh-resolution", v], "error",
            ("mesh-resolution", "mesh_resolution", "resolution"), copy_run(fx)))
    return cases


def flag_cases(fx: Fixtures) -> list[Case]:
    def train(*flags: str) -> Callable[[Path], list[str]]:
        return lambda d: ["train", "--data", str(fx.blender), "--preset", "fast", "--backend",
                          "torch", "--output", str(d / "run"), *flags]

    def render(*flags: str) -> Callable[[Path], list[str]]:
        return lambda d: ["render", "--ply", str(fx.ply), "--cameras", str(fx.cameras), "--out",
                          str(d / "out"), "--backend", "torch", *flags]

    no_cuda = (("CUDA_VISIBLE_DEVICES", ""),)
    cases = [
        Case("train/flags/max_steps_0", train("--max-steps", "0"), "error", ("max-steps",
                                                                             "max_steps"),
             why="accepted silently in #20"),
        Case("train/flags/max_steps_-5", train("--max-steps", "-5"), "error",
             ("max-steps", "max_steps"), why="accepted silently in #20"),
        Case("train/flags/downscale_0", train("--max-steps", "2", "--downscale", "0"), "error",
             ("downscale",)),
        Case("train/flags/downscale_-2", train("--max-steps", "2", "--downscale", "-2"),
             "error", ("downscale",)),
        Case("train/flags/downscale_1000", train("--max-steps", "2", "--downscale", "1000"),
             "error", ("downscale",), why="images of 16 px downscaled 1000 times"),
        Case("train/flags/data_missing", lambda d: [
            "train", "--data", str(d / "nope"), *TRAIN_FLAGS, "--output", str(d / "run")],
            "error", ("nope",)),
        Case("train/flags/format_mismatch", train("--max-steps", "2", "--data-format",
                                                  "colmap"), "error", ("blender", "COLMAP",
                                                                       "colmap")),
        Case("train/flags/max_steps_not_int", train("--max-steps", "abc"), "error",
             ("max-steps",), why="tyro's own usage error"),
        Case("render/flags/background_nan", render("--background", "nan", "nan", "nan"),
             "error", ("background",), why="accepted silently in #20"),
        Case("render/flags/background_2", render("--background", "0", "2", "0"), "error",
             ("background",)),
        Case("render/flags/background_negative", render("--background", "-0.1", "0", "0"),
             "error", ("background",)),
        Case("render/flags/width_1e8", render("--width", "100000000"), "error",
             ("width", "size"), why="allocation failure in #20"),
        Case("render/flags/width_height_1e5", render("--width", "100000", "--height",
                                                     "100000"), "error", ("width", "size")),
        Case("render/flags/width_0", render("--width", "0"), "error", ("size", "width")),
        Case("render/flags/height_-5", render("--height", "-5"), "error", ("size", "height")),
        Case("render/flags/device_cuda", render("--device", "cuda"), "error", ("--device",),
             env=no_cuda, why="AssertionError traceback in #20"),
        Case("render/flags/device_bogus", render("--device", "gpu7"), "error", ("--device",)),
        Case("render/flags/sh_degree_7", render("--sh-degree", "7"), "error", ("sh_degree",
                                                                               "sh-degree")),
        Case("render/flags/sh_degree_-1", render("--sh-degree", "-1"), "error",
             ("sh_degree", "sh-degree")),
        Case("render/flags/ply_missing", lambda d: [
            "render", "--ply", str(d / "nope.ply"), "--cameras", str(fx.cameras), "--out",
            str(d / "out")], "error", ("nope.ply",)),
        Case("render/flags/cameras_missing", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(d / "nope.json"), "--out",
            str(d / "out")], "error", ("nope.json",)),
        Case("render/flags/out_is_a_file", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(fx.cameras), "--out",
            str(d / "f")], "error", ("f",), write("f", "x")),
        Case("render/flags/cameras_is_ply", lambda d: [
            "render", "--ply", str(fx.ply), "--cameras", str(fx.ply), "--out", str(d / "out")],
            "error", ("good.ply",)),
    ]
    return cases


def detection_cases(fx: Fixtures) -> list[Case]:
    def eval_det(pred: str = "preds", gt: str = "gt", *flags: str) -> Callable[[Path],
                                                                            list[str]]:
        return lambda d: ["eval-det", "--pred", str(d / pred), "--gt", str(d / gt), *flags]

    def dirs(pred_files: dict[str, Any] | None = None,
             gt_files: dict[str, Any] | None = None) -> Callable[[Path], None]:
        def setup(d: Path) -> None:
            shutil.copytree(fx.preds, d / "preds")
            shutil.copytree(fx.gt, d / "gt")
            for folder, files in (("preds", pred_files or {}), ("gt", gt_files or {})):
                for name, data in files.items():
                    path = d / folder / name
                    if isinstance(data, np.ndarray):
                        np.save(path, data, allow_pickle=data.dtype == object)
                    elif isinstance(data, bytes):
                        path.write_bytes(data)
                    else:
                        path.write_text(data)
        return setup

    scene = "scene0001_00"
    pred = f"{scene}.json"
    gt = f"{scene}_bbox.npy"
    import io

    npz = io.BytesIO()
    np.savez(npz, scannet_bbox_rows())
    pickled = np.empty(7, dtype=object)

    def pickled_gt(d: Path) -> None:
        dirs()(d)
        pickled[:] = [MarkerPickle(d / MARKER)] * 7
        np.save(d / "gt" / gt, pickled.reshape(1, 7), allow_pickle=True)

    cases = [
        Case("eval-det/good", eval_det(), "ok", setup=dirs(), check=prints("mAP")),
        Case("eval-det/pred/nan_center", eval_det(), "error", (pred,), dirs(
            {pred: box_json(scene, [good_box(center=[float("nan"), 0, 0])])})),
        Case("eval-det/pred/inf_yaw", eval_det(), "error", (pred,), dirs(
            {pred: box_json(scene, [good_box(yaw=float("inf"))])})),
        Case("eval-det/pred/nan_score", eval_det(), "error", (pred,), dirs(
            {pred: box_json(scene, [good_box(score=float("nan"))])})),
        Case("eval-det/pred/score_string", eval_det(), "error", (pred,), dirs(
            {pred: box_json(scene, [good_box(score="high")])})),
        Case("eval-det/pred/unknown_label", eval_det(), "error", (pred,), dirs(
            {pred: box_json(scene, [good_box(label="dragon")])})),
        Case("eval-det/pred/boxes_object", eval_det(), "error", (pred,), dirs(
            {pred: json.dumps({"scene": scene, "boxes": {}})})),
        Case("eval-det/pred/deep_nesting", eval_det(), "error", (pred,), dirs(
            {pred: deep_json()})),
        Case("eval-det/pred/invalid_json", eval_det(), "error", (pred,), dirs({pred: "{"})),
        Case("eval-det/pred/duplicate_scene", eval_det(), "error", ("copy.json", pred),
             dirs({"copy.json": box_json(scene, [good_box()])})),
        Case("eval-det/pred/empty_folder", lambda d: ["eval-det", "--pred", str(d / "p"),
                                                      "--gt", str(fx.gt)], "error", ("p",),
             lambda d: (d / "p").mkdir()),
        Case("eval-det/pred/missing", lambda d: ["eval-det", "--pred", str(d / "nope"),
                                                 "--gt", str(fx.gt)], "error", ("nope",)),
        Case("eval-det/gt/empty_npy", eval_det(), "error", (gt,), dirs(gt_files={gt: b""}),
             why="EOFError in #20"),
        Case("eval-det/gt/npz_as_npy", eval_det(), "error", (gt,),
             dirs(gt_files={gt: npz.getvalue()})),
        Case("eval-det/gt/class_inf", eval_det(), "error", (gt,), dirs(gt_files={
            gt: scannet_bbox_rows([0.5, 0.5, 0.5, 0.4, 0.4, 0.6, np.inf])}),
            why="class id inf: traceback in #20"),
        Case("eval-det/gt/class_unknown", eval_det(), "error", (gt,), dirs(gt_files={
            gt: scannet_bbox_rows([0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 999])})),
        Case("eval-det/gt/nan_box", eval_det(), "error", (gt,), dirs(gt_files={
            gt: scannet_bbox_rows([np.nan, 0.5, 0.5, 0.4, 0.4, 0.6, 5])}),
            why="accepted silently in #20"),
        Case("eval-det/gt/negative_size", eval_det(), "error", (gt,), dirs(gt_files={
            gt: scannet_bbox_rows([0.5, 0.5, 0.5, -0.4, 0.4, 0.6, 5])})),
        Case("eval-det/gt/shape_6", eval_det(), "error", (gt,), dirs(gt_files={
            gt: np.zeros((2, 6))})),
        Case("eval-det/gt/object_pickle", eval_det(), "error", (gt,), pickled_gt, marker=True),
        Case("eval-det/gt/missing", lambda d: ["eval-det", "--pred", str(fx.preds), "--gt",
                                               str(d / "nope")], "error", ("nope",)),
        Case("eval-det/gt/wrong_dataset", eval_det("preds", "gt", "--dataset", "arkitscenes"),
             "error", ("arkitscenes", "scannet"), dirs()),
        Case("eval-det/out_inside_pred_twice", eval_det("preds", "gt", "--out",
                                                        "preds/metrics.json"), "ok",
             setup=lambda d: (dirs()(d), _run_cli_in(d, ["eval-det", "--pred", str(d / "preds"),
                                                         "--gt", str(d / "gt"), "--out",
                                                         str(d / "preds" / "metrics.json")])),
             check=prints("mAP"),
             why="--out inside --pred: the second run read metrics.json as a prediction"),
    ]

    def detect(*flags: str, scene_dir: str | None = None, detector: str | None = None,
               out: str = "pred.json") -> Callable[[Path], list[str]]:
        def argv(d: Path) -> list[str]:
            return ["detect", "run",
                    "--scene", str(d / scene_dir) if scene_dir else str(fx.det_scene),
                    "--detector", str(d / detector) if detector else str(fx.detector),
                    "--out", str(d / out),
                    *(str(d / "gt.json") if f == "GT" else f for f in flags)]
        return argv

    def detector_file(data: bytes | Callable[[Path], None]) -> Callable[[Path], None]:
        def setup(d: Path) -> None:
            if callable(data):
                data(d)
            else:
                (d / "det.pt").write_bytes(data)
        return setup

    no_cuda = (("CUDA_VISIBLE_DEVICES", ""),)
    cases += [
        Case("detect-run/good", detect(), "ok", check=exists("pred.json")),
        Case("detect-run/out_folder", detect(out="preds"), "ok",
             setup=lambda d: (d / "preds").mkdir(), check=exists(f"preds/{scene}.json")),
        Case("detect-run/name_traversal", detect("--name", "../../x", out="a/b/preds"), "ok",
             setup=lambda d: (d / "a" / "b" / "preds").mkdir(parents=True),
             check=only_inside("a/b/preds")),
        Case("detect-run/detector/malicious_pickle", detect(detector="det.pt"), "error",
             ("det.pt",), detector_file(lambda d: write_torch_pickle(
                 d / "det.pt", {"format": MarkerPickle(d / MARKER)}) and None), marker=True),
        Case("detect-run/detector/truncated", detect(detector="det.pt"), "error", ("det.pt",),
             detector_file(lambda d: (d / "det.pt").write_bytes(
                 fx.detector.read_bytes()[:1000]) and None)),
        Case("detect-run/detector/random_bytes", detect(detector="det.pt"), "error",
             ("det.pt",), detector_file(bytes(range(256)) * 8)),
        Case("detect-run/detector/missing", detect(detector="nope.pt"), "error", ("nope.pt",)),
        Case("detect-run/scene/missing_ply", detect(scene_dir="empty"), "error", ("empty",),
             lambda d: (d / "empty").mkdir()),
        Case("detect-run/gt/nan_box", detect("--gt", "GT"), "error", ("gt.json",),
             write("gt.json", box_json(scene, [good_box(center=[float("nan"), 0, 0])]))),
        Case("detect-run/flags/score_threshold_nan", detect("--score-threshold", "nan"),
             "error", ("score",)),
        Case("detect-run/flags/nms_iou_2", detect("--nms-iou", "2"), "error", ("nms",)),
        Case("detect-run/flags/device_cuda", detect("--device", "cuda"), "error", ("--device",
                                                                                   "cuda"),
             env=no_cuda),
    ]
    def det_data(edit: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
        def setup(d: Path) -> None:
            root = d / "data"
            for name in ("room_0", "room_1"):
                (root / name).mkdir(parents=True)
                (root / name / "point_cloud.ply").write_bytes(fx.ply_bytes)
                (root / name / "gt_boxes.json").write_text(box_json(name, [good_box()]))
            (root / "classes.json").write_text(json.dumps(list(DET_CLASSES)))
            if edit is not None:
                edit(root)
        return setup

    def detect_train(*flags: str) -> Callable[[Path], list[str]]:
        return lambda d: ["detect", "train", "--data", str(d / "data"), "--output",
                          str(d / "det"), "--no-progress", "--split", "None", *flags]

    def malicious_resume(root: Path) -> None:
        write_torch_pickle(root.parent / "det" / "checkpoint.pt",
                           {"epoch": MarkerPickle(root.parent / MARKER)})

    cases += [
        Case("detect-train/data/missing", lambda d: [
            "detect", "train", "--data", str(d / "nope"), "--output", str(d / "det")],
            "error", ("nope",)),
        Case("detect-train/data/nan_gt", detect_train("--epochs", "1"), "error",
             ("gt_boxes.json",), det_data(lambda r: (r / "room_0" / "gt_boxes.json").write_text(
                 box_json("room_0", [good_box(size=[float("nan"), 1, 1])])))),
        Case("detect-train/data/split_missing_scene", lambda d: [
            "detect", "train", "--data", str(d / "data"), "--output", str(d / "det"),
            "--no-progress"], "error", ("room_9", "splits.json"),
            det_data(lambda r: (r / "splits.json").write_text(json.dumps(
                {"train": ["room_9"]})))),
        Case("detect-train/flags/epochs_0", detect_train("--epochs", "0"), "error",
             ("epochs",)),
        Case("detect-train/flags/epochs_-1", detect_train("--epochs", "-1"), "error",
             ("epochs",)),
        Case("detect-train/checkpoint/malicious_pickle", detect_train("--epochs", "1"),
             "either", ("checkpoint.pt",), det_data(malicious_resume), marker=True,
             why="refusing the checkpoint or starting afresh are both fine; running it is not"),
    ]
    return cases


def _run_cli_in(d: Path, argv: list[str]) -> None:
    """Run the CLI once during setup (output ignored); used for 'run twice' cases."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "splat3d.cli", *argv], cwd=d, env=_ENV,
                   capture_output=True, timeout=120)


def sample_cases(fx: Fixtures) -> list[Case]:
    def sample(*flags: str, out: str = "x.png") -> Callable[[Path], list[str]]:
        return lambda d: ["sample", "a red cube", "--out", str(d / out), "--steps", "2", *flags]

    return [
        Case("sample/good", sample(), "ok", check=exists("x.png")),
        Case("sample/num_3", sample("--num", "3"), "ok",
             check=exists("x_0.png", "x_1.png", "x_2.png")),
        Case("sample/flags/num_0", sample("--num", "0"), "error", ("--num",)),
        Case("sample/flags/num_-2", sample("--num", "-2"), "error", ("--num",)),
        Case("sample/flags/size_0", sample("--size", "0"), "error", ("--size",)),
        Case("sample/flags/size_1e5", sample("--size", "100000"), "error", ("--size",)),
        Case("sample/flags/guidance_nan", sample("--guidance", "nan"), "error",
             ("--guidance",)),
        Case("sample/flags/steps_0", sample("--steps", "0"), "error", ("steps",)),
        Case("sample/flags/method_bogus", sample("--method", "bogus"), "error", ("bogus",)),
        Case("sample/flags/prior_bogus", sample("--prior", "bogus"), "error", ("bogus",)),
        Case("sample/flags/prior_sd_missing", lambda d: [
            "sample", "a red cube", "--out", str(d / "x.png"), "--prior",
            f"sd:{d / 'nope'}"], "error", ("nope",)),
        Case("sample/flags/out_folder", sample(out="."), "error", ("--out",)),
        Case("sample/flags/out_no_suffix", sample(out="x"), "error", ("--out", "suffix")),
        Case("sample/flags/device_cuda", sample("--device", "cuda"), "error", ("--device",
                                                                               "cuda"),
             env=(("CUDA_VISIBLE_DEVICES", ""),)),
        Case("sample/prompt/unknown_words", lambda d: ["sample", "a flying spaghetti monster",
                                                       "--out", str(d / "x.png")], "error",
             ("spaghetti", "vocabulary", "prompt")),
    ]


def view_cases(fx: Fixtures) -> list[Case]:
    def view(*flags: str, path: Path | None = None) -> Callable[[Path], list[str]]:
        return lambda d: ["view", str(path or fx.ply), "--port", "0", *flags]

    def serve(name: str, argv: Callable[[Path], list[str]], mentions: tuple[str, ...],
              setup: Callable[[Path], None] | None = None, why: str = "") -> Case:
        return Case(f"view/{name}", argv, "error", mentions, setup, serves=True, timeout=60,
                    why=why)

    return [
        serve("flags/host_0.0.0.0", view("--host", "0.0.0.0"), ("--allow-remote",)),
        serve("flags/port_-1", lambda d: ["view", str(fx.ply), "--port", "-1"], ("port",)),
        serve("flags/port_70000", lambda d: ["view", str(fx.ply), "--port", "70000"],
              ("port",)),
        serve("flags/min_score_nan", view("--min-score", "nan"), ("min-score", "min_score")),
        serve("path/missing", lambda d: ["view", str(d / "nope.ply"), "--port", "0"],
              ("nope.ply",)),
        serve("path/empty_folder", lambda d: ["view", str(d / "e"), "--port", "0"], ("e",),
              lambda d: (d / "e").mkdir()),
        serve("boxes/nan", lambda d: ["view", str(fx.ply), "--port", "0", "--boxes",
                                      str(d / "b.json")], ("b.json",),
              write("b.json", box_json("s", [good_box(center=[float("nan"), 0, 0])]))),
        serve("boxes/missing", lambda d: ["view", str(fx.ply), "--port", "0", "--boxes",
                                          str(d / "nope.json")], ("nope.json",)),
        serve("boxes/empty_npy", lambda d: ["view", str(fx.ply), "--port", "0", "--boxes",
                                            str(d / "s_bbox.npy")], ("s_bbox.npy",),
              write("s_bbox.npy", b"")),
    ]


def build_cases(fx: Fixtures) -> list[Case]:
    """Every case of the catalogue, in a fixed order."""
    cases = [*ply_cases(fx), *transforms_cases(fx), *image_cases(fx), *llff_cases(fx),
             *colmap_cases(fx), *run_cases(fx), *flag_cases(fx), *detection_cases(fx),
             *sample_cases(fx), *view_cases(fx)]
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    return cases

