"""FCAF3D target assignment against a per-box, per-location Python reference."""

from __future__ import annotations

import math

import pytest
import torch

from detection.model.assign import AssignConfig, assign_targets


def _inside_and_centerness(p, box):
    c, s = math.cos(box[6]), math.sin(box[6])
    dx, dy, dz = (p[k] - box[k] for k in range(3))
    local = (c * dx + s * dy, -s * dx + c * dy, dz)
    ratios = []
    for a in range(3):
        lo, hi = box[3 + a] / 2 + local[a], box[3 + a] / 2 - local[a]
        if lo <= 0 or hi <= 0:
            return False, 0.0
        ratios.append(min(lo, hi) / max(lo, hi))
    return True, math.sqrt(ratios[0] * ratios[1] * ratios[2])


def _reference(levels, boxes, labels, cfg):
    points = [(p, lv) for lv, pts in enumerate(levels) for p in pts.tolist()]
    chosen_sets = []
    for box in boxes.tolist():
        info = [_inside_and_centerness(p, box) for p, _ in points]
        counts = [sum(1 for (p, lv), (ins, _) in zip(points, info, strict=True)
                      if ins and lv == v) for v in range(len(levels))]
        level = 0  # finest unless a coarser level keeps enough locations
        for v in range(len(levels)):
            if counts[v] >= cfg.min_locations:
                level = v
            else:
                break
        cand = [(info[i][1], i) for i, (p, lv) in enumerate(points)
                if info[i][0] and lv == level]
        cand.sort(reverse=True)
        kth = cand[min(cfg.top_k, len(cand)) - 1][0] if cand else None
        chosen = {i for ctr, i in cand if kth is not None and ctr >= kth}
        if not chosen:
            finest = [i for i, (p, lv) in enumerate(points) if lv == 0]
            chosen = {min(finest, key=lambda i: math.dist(points[i][0], box[:3]))}
        chosen_sets.append(chosen)
    out_labels, out_index, out_ctr = [], [], []
    for i, (p, _) in enumerate(points):
        owners = [g for g in range(len(boxes)) if i in chosen_sets[g]]
        if not owners:
            out_labels.append(-1)
            out_index.append(-1)
            out_ctr.append(0.0)
            continue
        g = min(owners, key=lambda g: boxes[g, 3:6].prod().item())
        out_labels.append(int(labels[g]))
        out_index.append(g)
        out_ctr.append(_inside_and_centerness(p, boxes[g].tolist())[1])
    return out_labels, out_index, out_ctr


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_assignment_matches_reference(seed):
    g = torch.Generator().manual_seed(seed)
    levels = []
    for size in (0.2, 0.4, 0.8):
        axis = torch.arange(0, 4.0, size) + size / 2
        grid = torch.stack(torch.meshgrid(axis, axis, axis[: max(1, len(axis) // 2)],
                                          indexing="ij"), -1).reshape(-1, 3)
        keep = torch.rand(len(grid), generator=g) < 0.6  # "occupied" locations only
        levels.append(grid[keep].double())
    n = 6
    boxes = torch.cat([torch.rand(n, 2, generator=g) * 3 + 0.5, torch.rand(n, 1, generator=g),
                       torch.rand(n, 3, generator=g) * 1.8 + 0.1,
                       (torch.rand(n, 1, generator=g) - 0.5) * (seed % 2) * 3], 1).double()
    boxes[0, 3:6] = 0.05  # a box too small to contain any location
    labels = torch.randint(0, 4, (n,), generator=g)
    cfg = AssignConfig(min_locations=4, top_k=7)
    got = assign_targets(levels, boxes, labels, cfg)
    ref_labels, ref_index, ref_ctr = _reference(levels, boxes, labels, cfg)
    assert got.labels.tolist() == ref_labels
    assert got.box_index.tolist() == ref_index
    torch.testing.assert_close(got.centerness, torch.tensor(ref_ctr, dtype=torch.float64))
    assert (got.box_index == 0).sum() == 1  # the tiny box still has its one positive


def test_assignment_without_boxes_is_all_background():
    got = assign_targets([torch.rand(5, 3)], torch.zeros(0, 7), torch.zeros(0, dtype=torch.long))
    assert (got.labels == -1).all() and (got.centerness == 0).all()
