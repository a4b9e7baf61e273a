"""The per-scene pipeline and the benchmark at the ``small`` size: the contract's folder
layout, resumable steps, the sampling variants, results and the CLI dataclass."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from detection.model import read_detection_scenes
from detection.synthetic.benchmark import (
    BENCH_SIZES,
    BenchConfig,
    bench_scenes,
    format_ablation_table,
    run_benchmark,
)
from detection.synthetic.cli import DetectBench
from detection.synthetic.furniture import ROOM_CLASSES
from detection.synthetic.pipeline import (
    VARIANTS,
    read_gt_boxes,
    recon_dir,
    run_pipeline,
    sample_indices,
)
from splat3d.io import load_ply

SMALL = BENCH_SIZES["small"].pipeline


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    config = BenchConfig(seed=3, size="small", output=out)
    logs: list[str] = []
    results = run_benchmark(config, log=logs.append)
    return config, results, logs


def test_results_and_table(bench):
    config, results, _ = bench
    root = config.output / "seed_3"
    assert json.loads((root / "results.json").read_text())["variants"].keys() == {
        "basic", "boundary", "full"}
    for name, row in results["variants"].items():
        assert 0.0 <= row["mAP@0.25"] <= 1.0 and 0.0 <= row["mAP@0.5"] <= row["mAP@0.25"]
        assert set(row["per_class"]) <= set(ROOM_CLASSES)
        assert (root / "detect" / name / "detector" / "detector.pt").is_file()
        preds = sorted((root / "detect" / name / "predictions").glob("*.json"))
        assert [p.stem for p in preds] == results["splits"]["val"]
    table = format_ablation_table([results, results])
    assert "full" in table and "±0.000" in table


def test_contract_layout(bench):
    config, results, _ = bench
    scenes, splits = bench_scenes(config)
    assert splits == results["splits"] and len(splits["val"]) == 1
    for variant in VARIANTS:
        folder = config.output / "seed_3" / "detect" / variant.name
        assert json.loads((folder / "classes.json").read_text()) == list(ROOM_CLASSES)
        train, classes = read_detection_scenes(folder, "train")
        assert classes == ROOM_CLASSES and [s.name for s in train] == splits["train"]
        for scene in train:
            gt = read_gt_boxes(config.output / "seed_3" / "scenes" / scene.name / "gt_boxes.json")
            np.testing.assert_allclose(scene.boxes.params, gt.params)
            np.testing.assert_array_equal(scene.boxes.labels, gt.labels)
            recon = load_ply(recon_dir(folder.parents[1] / "scenes" / scene.name,
                                       variant.guided) / "point_cloud.ply")
            assert len(scene.gaussians) == min(SMALL.sampling.num_samples, len(recon))
            # sampled Gaussians are a subset of the reconstruction
            rows = {tuple(r) for r in recon.means.numpy().round(6)}
            assert all(tuple(r) in rows for r in scene.gaussians.means.numpy().round(6))


def test_steps_resume_and_rerun_only_what_is_missing(bench):
    config, _, _ = bench
    root = config.output / "seed_3"
    scenes, _ = bench_scenes(config)
    logs: list[str] = []
    run_pipeline(root, scenes, SMALL, VARIANTS, log=logs.append)
    assert all(line.endswith("already done") for line in logs)
    shutil.rmtree(root / "detect" / "full" / "room_000")
    (root / "scenes" / "room_001" / "recon_plain" / "point_cloud.ply").unlink()
    logs.clear()
    run_pipeline(root, scenes, SMALL, VARIANTS, log=logs.append)
    assert logs == ["room_000: sample:full", "room_001: recon_plain", "room_002: already done"]
    again = run_benchmark(config, log=lambda _: None)  # detectors reload, same numbers
    assert again["variants"] == bench[1]["variants"]


def test_box_focused_sampling_prefers_objects(bench):
    config, _, _ = bench
    scene_dir = config.output / "seed_3" / "scenes" / "room_000"
    gaussians = load_ply(recon_dir(scene_dir, True) / "point_cloud.ply")
    boxes = read_gt_boxes(scene_dir / "gt_boxes.json").params
    means = gaussians.means.double().numpy()
    in_object = np.zeros(len(means), bool)
    for b in boxes:  # axis-aligned boxes, grown by 10 cm
        in_object |= (np.abs(means - b[:3]) <= b[3:6] / 2 + 0.1).all(1)
    sampling = replace(SMALL.sampling, num_samples=len(means) // 4)
    box = sample_indices(scene_dir, gaussians.means, "box", sampling, seed=0).numpy()
    rand = sample_indices(scene_dir, gaussians.means, "random", sampling, seed=0).numpy()
    fps = sample_indices(scene_dir, gaussians.means, "fps", sampling, seed=0).numpy()
    for idx in (box, rand, fps):
        assert len(np.unique(idx)) == len(idx) == len(means) // 4
    assert in_object[box].mean() > in_object[rand].mean() + 0.1
    assert torch.equal(sample_indices(scene_dir, gaussians.means, "none", sampling, 0),
                       torch.arange(len(means)))
    with pytest.raises(ValueError, match="sampling"):
        sample_indices(scene_dir, gaussians.means, "grid", sampling, 0)


def test_bad_configs(tmp_path):
    with pytest.raises(ValueError, match="rooms"):
        bench_scenes(BenchConfig(rooms=1))
    with pytest.raises(ValueError, match="variants"):
        run_benchmark(BenchConfig(size="small", variants=("magic",), output=tmp_path))
    with pytest.raises(ValueError, match="size"):
        run_benchmark(BenchConfig(size="huge", output=tmp_path))


def test_cli_dataclass_runs_the_cached_benchmark(bench, capsys):
    config, results, _ = bench
    DetectBench(seed=3, size="small", output=config.output, progress=False).run()
    out = capsys.readouterr().out
    assert "mAP@0.25" in out and "boundary" in out
