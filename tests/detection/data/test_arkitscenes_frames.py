"""ARKitScenes ``lowres_wide`` frames against fixtures in the documented formats
(``DATA.md``: ``.pincam`` = ``w h fx fy cx cy``; ``.traj`` = ``t ax ay az tx ty tz``)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from detection.data.arkitscenes_frames import (
    TrajPose,
    axis_angle_to_matrix,
    match_timestamps,
    read_arkitscenes_frames,
    read_pincam,
    read_traj,
)
from splat3d.data.errors import DatasetWarning

VIDEO = "41254925"  # a real 3DOD video id (../shared/data/arkitscenes_metadata split list)
W, H = 32, 24
FX, FY, CX, CY = 28.0, 29.0, 15.5, 12.25


def skew(v):
    return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])


@pytest.mark.parametrize("rotvec", [[0.0, 0.0, 0.0], [0.3, -0.2, 1.1], [1e-9, 0, 0],
                                    [np.pi, 0, 0], [-2.0, 1.0, 0.5]])
def test_axis_angle_matches_the_matrix_exponential(rotvec):
    np.testing.assert_allclose(axis_angle_to_matrix(np.array(rotvec)),
                               scipy.linalg.expm(skew(np.array(rotvec))), atol=1e-12)


def rotvec_of(R):
    """Axis-angle vector of a rotation (angle < pi), via the matrix logarithm."""
    log = np.real(scipy.linalg.logm(R))
    return np.array([log[2, 1], log[0, 2], log[1, 0]])


def camera_w2c(i: int) -> np.ndarray:
    """World-to-camera of a camera circling the origin at height 1.2, looking at it
    (OpenCV axes; world z up)."""
    angle = 0.4 * i
    eye = np.array([2.0 * np.cos(angle), 2.0 * np.sin(angle), 1.2])
    forward = -eye / np.linalg.norm(eye)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([right, down, forward], axis=1)
    c2w[:3, 3] = eye
    return np.linalg.inv(c2w)


def traj_line(t: float, w2c: np.ndarray) -> str:
    a, tr = rotvec_of(w2c[:3, :3]), w2c[:3, 3]
    return " ".join(f"{v:.9f}" for v in [t, *a, *tr])


STAMPS = ["6845.706", "6845.806", "6845.906", "6846.006", "6846.106", "6846.206"]
"""Frame file timestamps. Trajectory entries (below): frame 0 exact after rounding, frame 1
nearest of two candidates within 5 ms, frame 2 none within 5 ms, frame 3 exact, frame 4's
pincam is stored under t - 1 ms, frame 5 has no pincam at all."""
TRAJ = [(6845.70605696, 0), (6845.8032, 1), (6845.8095, 99), (6845.9140, 2), (6846.0060, 3),
        (6846.1060, 4), (6846.2060, 5)]


def write_video(root, stamps=STAMPS, traj=TRAJ, depth=True):
    """A 3DOD video folder as downloaded: <id>/<id>_frames/{lowres_wide, lowres_depth,
    lowres_wide_intrinsics, lowres_wide.traj}."""
    frames = root / VIDEO / f"{VIDEO}_frames"
    for sub in ("lowres_wide", "lowres_depth", "lowres_wide_intrinsics"):
        (frames / sub).mkdir(parents=True, exist_ok=True)
    for i, stamp in enumerate(stamps):
        yy, xx = np.mgrid[0:H, 0:W]
        rgb = np.stack([xx * 8, yy * 10, np.full_like(xx, 30 * i)], -1).astype(np.uint8)
        Image.fromarray(rgb).save(frames / "lowres_wide" / f"{VIDEO}_{stamp}.png")
        if depth:
            mm = (1000 + 10 * xx + 100 * i).astype(np.uint16)
            Image.fromarray(mm).save(frames / "lowres_depth" / f"{VIDEO}_{stamp}.png")
        if i == 5:
            continue
        pin = f"{float(stamp) - 0.001:.3f}" if i == 4 else stamp
        (frames / "lowres_wide_intrinsics" / f"{VIDEO}_{pin}.pincam").write_text(
            f"{W} {H} {FX + i} {FY + i} {CX} {CY}\n")
    lines = [traj_line(t, camera_w2c(k)) for t, k in traj]
    (frames / "lowres_wide.traj").write_text("\n".join(lines) + "\n")
    return frames


def test_read_pincam_and_errors(tmp_path):
    path = tmp_path / "a.pincam"
    path.write_text("256 192 211.5 211.6 127.9 95.8\n")
    cam = read_pincam(path)
    assert (cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy) == (
        256, 192, 211.5, 211.6, 127.9, 95.8)
    path.write_text("256 192 211.5 211.6 127.9\n")
    with pytest.raises(ValueError, match=r"a\.pincam: expected six numbers"):
        read_pincam(path)
    path.write_text("256.5 192 211.5 211.6 127.9 95.8\n")
    with pytest.raises(ValueError, match="integers"):
        read_pincam(path)
    path.write_text("256 192 -1 211.6 127.9 95.8\n")
    with pytest.raises(ValueError, match="focal"):
        read_pincam(path)
    with pytest.raises(ValueError, match="not found"):
        read_pincam(tmp_path / "missing.pincam")


def test_read_traj_direction_and_errors(tmp_path):
    path = tmp_path / "lowres_wide.traj"
    rotvec, t = np.array([0.1, -0.4, 0.7]), np.array([0.5, -1.0, 2.0])
    path.write_text(f"\n12.5 {' '.join(map(str, rotvec))} {' '.join(map(str, t))}\n\n")
    (pose,) = read_traj(path)
    assert pose.timestamp == 12.5 and pose.line == 2 and pose.key == "12.500"
    # world_to_cam maps a world point x to R x + t (the file's r_w_to_p, t_w_to_p)
    x = np.array([0.3, 0.2, -0.1])
    np.testing.assert_allclose(pose.world_to_cam @ np.append(x, 1.0),
                               np.append(scipy.linalg.expm(skew(rotvec)) @ x + t, 1.0),
                               atol=1e-12)
    path.write_text("1.0 0 0 0 0 0 0\n2.0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="line 2: expected seven finite numbers"):
        read_traj(path)
    path.write_text("1.0 0 0 nan 0 0 0\n")
    with pytest.raises(ValueError, match="line 1"):
        read_traj(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="no poses"):
        read_traj(path)


def brute_force_match(frames, times, keys, tolerance):
    out = []
    for f in frames:
        exact = [i for i, k in enumerate(keys) if k == f]
        if exact:
            out.append(exact[0])
            continue
        d = [abs(float(f) - t) for t in times]
        best = int(np.argmin(d))  # first minimum = earlier pose on ties
        out.append(best if d[best] < tolerance else None)
    return out


def test_match_timestamps_against_brute_force():
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(100.0, 101.0, 60))
    poses = [TrajPose(float(t), np.eye(4), i + 1) for i, t in enumerate(times)]
    frames = [f"{t:.3f}" for t in rng.uniform(99.99, 101.01, 300)]
    frames += [p.key for p in poses[::7]]
    got = match_timestamps(frames, poses, 0.005)
    assert got == brute_force_match(frames, times, [p.key for p in poses], 0.005)
    assert any(g is None for g in got) and sum(g is not None for g in got) > 100


def test_match_timestamps_rules():
    poses = [TrajPose(t, np.eye(4), i) for i, t in enumerate([1.0004, 1.0031, 1.0069, 2.0])]
    assert match_timestamps(["1.000"], poses) == [0]          # exact rounded key
    assert match_timestamps(["1.005"], poses) == [1]          # nearest: 1.7 ms vs 1.9 ms
    assert match_timestamps(["1.010"], poses) == [2]          # 3.1 ms < 5 ms
    assert match_timestamps(["1.500", "2.0049"], poses) == [None, 3]
    assert match_timestamps(["2.006"], poses, tolerance=0.01) == [3]


def test_frames_dataset_convention_and_matching(tmp_path):
    write_video(tmp_path)
    with pytest.warns(DatasetWarning) as record:
        data = read_arkitscenes_frames(tmp_path / VIDEO)
    messages = " ".join(str(w.message) for w in record)
    assert "no pose within 0.005 s" in messages and "['6845.906']" in messages
    assert "no .pincam" in messages and "['6846.206']" in messages
    assert data.names == ["6845.706", "6845.806", "6846.006", "6846.106"]
    assert data.format == "arkitscenes" and data.images.shape == (4, H, W, 3)
    traj_index = [0, 1, 3, 4]  # which synthetic camera each kept frame must carry
    fx = [FX + 0, FX + 1, FX + 3, FX + 4]
    point = np.array([0.1, -0.2, 0.3])  # a world point all cameras see
    for j, k in enumerate(traj_index):
        K = np.array([[fx[j], 0, CX], [0, FY + [0, 1, 3, 4][j], CY], [0, 0, 1]])
        torch.testing.assert_close(data.cameras.K[j].double(), torch.tensor(K),
                                   check_dtype=False)
        # known point -> expected pixel, through the dataset's cameras
        w2c = data.cameras.world_to_cam[j].double().numpy()
        cam = w2c[:3, :3] @ point + w2c[:3, 3]
        uv = (K @ cam)[:2] / cam[2]
        ref_cam = camera_w2c(k)[:3, :3] @ point + camera_w2c(k)[:3, 3]
        np.testing.assert_allclose(uv, (K @ ref_cam)[:2] / ref_cam[2], atol=1e-4)
        assert 0 < uv[0] < W and 0 < uv[1] < H and cam[2] > 0
        # the official unprojection: pose = inv(traj matrix), x = pose @ K^-1 [u d, v d, d]
        u, v, d = 5.0, 17.0, 1.7
        official = np.linalg.inv(camera_w2c(k)) @ np.append(np.linalg.solve(K, [u * d, v * d,
                                                                                   d]), 1.0)
        c2w = np.linalg.inv(w2c)
        ours = c2w @ np.append(np.linalg.solve(K, [u * d, v * d, d]), 1.0)
        np.testing.assert_allclose(ours, official, atol=1e-5)
    assert data.depth is not None
    xx = np.arange(W)[None, :].repeat(H, 0)
    np.testing.assert_allclose(data.depth[2, ..., 0].numpy(), (1000 + 10 * xx + 300) / 1000.0,
                               rtol=1e-6)


def test_frames_folder_step_downscale_and_no_depth(tmp_path):
    frames = write_video(tmp_path, depth=False)
    with pytest.warns(DatasetWarning):
        data = read_arkitscenes_frames(frames, step=2, downscale=2)
    assert data.names == ["6845.706", "6846.106"] and data.depth is None  # 6845.906: no pose
    assert data.images.shape == (2, H // 2, W // 2, 3)
    torch.testing.assert_close(data.cameras.K[0, 0, 0], torch.tensor(FX / 2))


def test_frames_errors(tmp_path):
    with pytest.raises(ValueError, match="no lowres_wide/"):
        read_arkitscenes_frames(tmp_path)
    frames = write_video(tmp_path)
    (frames / "lowres_depth" / f"{VIDEO}_6845.706.png").unlink()
    with pytest.warns(DatasetWarning), pytest.raises(ValueError, match="depth frame missing"):
        read_arkitscenes_frames(frames, with_depth=True)
    (frames / "lowres_wide" / "other_1.000.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"other_1\.000\.png: expected a file name 41254925_"):
        read_arkitscenes_frames(frames)
    (frames / "lowres_wide" / "other_1.000.png").unlink()
    (frames / "lowres_wide.traj").write_text("1.0 0 0 0 0 0 0\n")
    with pytest.warns(DatasetWarning), pytest.raises(ValueError, match="no frame has both"):
        read_arkitscenes_frames(frames)
    (frames / "lowres_wide.traj").unlink()
    with pytest.raises(ValueError, match="trajectory file not found"):
        read_arkitscenes_frames(frames)


def test_known_points_project_where_expected(tmp_path):
    """Hand-computed: the .traj line maps world to camera, so with rotation 90 deg about
    camera z and translation (0, 0, 2) the world point (1, 0, 0) lands at camera (0, 1, 2):
    pixel (cx, cy + fy / 2); the world origin lands on the principal point; the camera
    centre is -R^T t = (0, 0, -2)."""
    frames = write_video(tmp_path, stamps=["10.000"], traj=[], depth=False)
    (frames / "lowres_wide.traj").write_text(f"10.000 0 0 {np.pi / 2:.12f} 0 0 2\n")
    data = read_arkitscenes_frames(frames)
    K = data.cameras.K[0].double()
    w2c = data.cameras.world_to_cam[0].double()
    for world, pixel in (([1.0, 0, 0], [CX, CY + FY / 2]), ([0.0, 0, 0], [CX, CY]),
                         ([0.0, -1.0, 1.0], [CX + FX / 3, CY])):
        cam = w2c[:3, :3] @ torch.tensor(world, dtype=torch.float64) + w2c[:3, 3]
        uv = (K @ cam)[:2] / cam[2]
        torch.testing.assert_close(uv, torch.tensor(pixel, dtype=torch.float64), atol=1e-5,
                                   rtol=0)
    torch.testing.assert_close(data.cameras.centers[0].double(),
                               torch.tensor([0.0, 0.0, -2.0], dtype=torch.float64),
                               atol=1e-6, rtol=0)
