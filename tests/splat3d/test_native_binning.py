"""The native tile binning (``bin_gaussians`` of the C++ extension) against its contract,
checked in float64 by brute force over every (Gaussian, tile) pair of small synthetic scenes:

- a Gaussian is listed in every tile whose pixel-centre rectangle its alpha >= 1/255 ellipse
  {d : dᵀ Q d <= 2 ln(255 o)} reaches (and whose candidate box, binning.py's rule, holds it),
  and in no tile that the ellipse, with the kernel's small padding, misses;
- Gaussians whose conic is not positive definite fill their whole candidate box;
- each tile's list is front to back: float32 depth, ties by index; starts and counts agree;
- the result does not depend on the thread count.

The minimum of dᵀ Q d over a rectangle is found in closed form (the centre when it lies
inside, else the best point of the four edges, each a clamped 1-D minimum).
"""

from __future__ import annotations

import math

import pytest
import torch

from splat3d.raster import native_backend

TILE = 16


@pytest.fixture(scope="module")
def ext():
    ext = native_backend.load()
    if ext is None:
        pytest.skip("native extension cannot be built here (see the warning for why)")
    return ext


def synthetic(C: int, N: int, W: int, H: int, seed: int, dtype=torch.float32,
              degenerate: float = 0.0, invalid: float = 0.1, ties: bool = False):
    """Projected Gaussians as the projection hands them over: means, conics, opacities,
    exact opacity-aware extents, depths and a validity mask."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.rand(C, N, 2, generator=gen, dtype=torch.float64)
    means = means * torch.tensor([W + 40.0, H + 40.0], dtype=torch.float64) - 20
    sx = torch.exp(torch.empty(C, N).uniform_(math.log(0.3), math.log(25), generator=gen))
    sy = torch.exp(torch.empty(C, N).uniform_(math.log(0.3), math.log(25), generator=gen))
    th = torch.rand(C, N, generator=gen) * math.pi
    cs, sn = torch.cos(th), torch.sin(th)
    cov = torch.stack([
        torch.stack([cs**2 * sx**2 + sn**2 * sy**2, cs * sn * (sx**2 - sy**2)], -1),
        torch.stack([cs * sn * (sx**2 - sy**2), sn**2 * sx**2 + cs**2 * sy**2], -1),
    ], -2).double()
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[..., 0, 0], inv[..., 0, 1], inv[..., 1, 1]], -1)
    opac = torch.rand(C, N, generator=gen, dtype=torch.float64) * 0.999 + 0.001
    level = 2 * torch.log(torch.clamp(255 * opac, min=1.0))
    extents = torch.sqrt(level[..., None] * torch.stack([cov[..., 0, 0], cov[..., 1, 1]], -1))
    depths = torch.rand(C, N, generator=gen, dtype=torch.float64) * 5 + 0.5
    if ties:
        depths = torch.round(depths * 4) / 4  # many equal depths
    bad = torch.rand(C, N, generator=gen) < degenerate
    conics[bad] = torch.randn(int(bad.sum()), 3, generator=gen, dtype=torch.float64)
    conics[bad, 0] = -conics[bad, 0].abs()  # never positive definite
    valid = torch.rand(C, N, generator=gen) >= invalid
    return tuple(t.to(dtype).contiguous() for t in (means, conics, opac, extents, depths)) + (
        valid, W, H)


def rect_min_q(d0x, d1x, d0y, d1y, a, b, c):
    """min of a x² + 2 b x y + c y² over [d0x, d1x] x [d0y, d1y] (offsets from the mean)."""
    def q(x, y):
        return a * x * x + 2 * b * x * y + c * y * y

    best = torch.full_like(a, math.inf)
    for x in (d0x, d1x):  # vertical edges: y minimises at -b x / c, clamped
        y = torch.minimum(torch.maximum(-b * x / c, d0y), d1y)
        best = torch.minimum(best, q(x, y))
    for y in (d0y, d1y):
        x = torch.minimum(torch.maximum(-b * y / a, d0x), d1x)
        best = torch.minimum(best, q(x, y))
    inside = (d0x <= 0) & (d1x >= 0) & (d0y <= 0) & (d1y >= 0)
    return torch.where(inside, torch.zeros_like(best), best)


def expected_pairs(inputs):
    """Per (Gaussian, tile) of its candidate box: must it be listed (``need``), may it be
    (``may``)? Flattened ids ``gid``, ``tile``."""
    means, conics, opac, extents, depths, valid, W, H = inputs
    C, N = depths.shape
    tx_n, ty_n = -(-W // TILE), -(-H // TILE)
    m = means.double().reshape(-1, 2)
    r = extents.double().reshape(-1, 2) * 1.0001 + 1e-3
    lo = torch.clamp(torch.ceil((m - r - (TILE - 0.5)) / TILE), min=0)
    hi = torch.minimum(torch.floor((m + r - 0.5) / TILE),
                       torch.tensor([tx_n - 1.0, ty_n - 1.0], dtype=torch.float64))
    gids, tiles = [], []
    for g in torch.nonzero(valid.reshape(-1)).squeeze(1).tolist():
        cam = g // N
        for ty in range(int(lo[g, 1]), int(hi[g, 1]) + 1):
            for tx in range(int(lo[g, 0]), int(hi[g, 0]) + 1):
                gids.append(g)
                tiles.append((cam * ty_n + ty) * tx_n + tx)
    gid = torch.tensor(gids, dtype=torch.long)
    tile = torch.tensor(tiles, dtype=torch.long)
    tx = tile % tx_n
    ty = (tile // tx_n) % ty_n
    # the tile's pixel centres, clipped to the image
    x0 = tx * TILE + 0.5
    x1 = torch.clamp(tx * TILE + TILE - 1, max=W - 1) + 0.5
    y0 = ty * TILE + 0.5
    y1 = torch.clamp(ty * TILE + TILE - 1, max=H - 1) + 0.5
    a, b, c = conics.double().reshape(-1, 3)[gid].unbind(-1)
    o = torch.clamp(opac.double().reshape(-1)[gid], min=1 / 255)
    level = 2 * torch.log(255 * o)
    proper = (a > 0) & (c > 0) & (a * c - b * b > 0)  # (the padded level is > 0)
    mx, my = m[gid].unbind(-1)
    q_in = rect_min_q(x0 - mx, x1 - mx, y0 - my, y1 - my, a, b, c)
    pad = 0.01  # the kernel pads the level by 1e-3 (relative and absolute), x by 1e-3 px
    q_out = rect_min_q(x0 - pad - mx, x1 + pad - mx, y0 - pad - my, y1 + pad - my, a, b, c)
    need = ~proper | (q_in <= level * (1 - 1e-9))
    may = ~proper | (q_out <= level * (1 + 1e-3) + 1e-3 + 1e-9)
    return gid, tile, need, may


def check_contract(ext, inputs, threads=(1, 2)):
    means, conics, opac, extents, depths, valid, W, H = inputs
    C = depths.shape[0]
    n_tiles = C * -(-W // TILE) * -(-H // TILE)
    results = []
    old = torch.get_num_threads()
    try:
        for t in threads:
            torch.set_num_threads(t)
            results.append(ext.bin_gaussians(*inputs))
    finally:
        torch.set_num_threads(old)
    for other in results[1:]:
        for x, y in zip(results[0], other, strict=True):
            assert torch.equal(x, y), "binning depends on the thread count"
    ids, starts, counts = results[0]
    assert starts.shape == counts.shape == (n_tiles,)
    assert int(counts.sum()) == len(ids)
    assert torch.equal(starts, torch.cumsum(counts, 0) - counts)
    tile_of = torch.repeat_interleave(torch.arange(n_tiles), counts)
    # order: tile, then the float32 depth, then the index
    z = depths.reshape(-1).float().double()[ids]
    same_tile = tile_of[1:] == tile_of[:-1]
    assert bool(torch.all(tile_of[1:] >= tile_of[:-1]))
    step_ok = (z[1:] > z[:-1]) | ((z[1:] == z[:-1]) & (ids[1:] > ids[:-1]))
    assert bool(torch.all(step_ok | ~same_tile)), "a tile's list is not front to back"
    # which pairs: compare with the brute-force classification of the candidate boxes
    gid, tile, need, may = expected_pairs(inputs)
    got = set((ids * n_tiles + tile_of).tolist())
    cand = (gid * n_tiles + tile).tolist()
    assert got <= set(cand), "a pair outside the Gaussian's candidate box"
    missing = [p for p, nd in zip(cand, need.tolist(), strict=True) if nd and p not in got]
    extra = [p for p, ok in zip(cand, may.tolist(), strict=True) if not ok and p in got]
    assert not missing, f"{len(missing)} pairs whose ellipse reaches the tile are missing"
    assert not extra, f"{len(extra)} pairs whose ellipse misses the tile are listed"
    return ids, need, may


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", [0, 1])
def test_pairs_order_and_threads_against_bruteforce(ext, dtype, seed):
    inputs = synthetic(C=2, N=700, W=83, H=61, seed=seed, dtype=dtype, degenerate=0.05)
    ids, need, may = check_contract(ext, inputs)
    assert len(ids) > 1000 and bool((~may).any())  # the scene exercises both decisions


def test_exact_test_prunes_box_pairs(ext):
    """Elongated diagonal Gaussians: their boxes hold many tiles the ellipse misses."""
    inputs = synthetic(C=1, N=400, W=128, H=128, seed=3, degenerate=0.0, invalid=0.0)
    ids, need, may = check_contract(ext, inputs)
    assert int((~may).sum()) > 100  # pairs the exact test must drop (and did, above)


def test_depth_ties_are_broken_by_index_and_edges(ext):
    inputs = synthetic(C=3, N=300, W=40, H=17, seed=4, ties=True, degenerate=0.1, invalid=0.3)
    check_contract(ext, inputs, threads=(1, 2, 3))


def test_large_scene_threads_and_chunks(ext):
    """More Gaussians than one chunk of each internal pass (index blocks, depth chunks,
    radix sort chunks), several cameras."""
    inputs = synthetic(C=2, N=20000, W=96, H=64, seed=5, degenerate=0.01)
    check_contract(ext, inputs, threads=(1, 2, 3))


def test_degenerate_conics_fill_their_box(ext):
    inputs = synthetic(C=1, N=50, W=64, H=64, seed=6, degenerate=1.0, invalid=0.0)
    ids, need, may = check_contract(ext, inputs)
    assert bool(need.all()) and len(ids) == len(need)


def test_empty_and_all_invalid(ext):
    for N in (0, 5):
        inputs = synthetic(C=2, N=N, W=20, H=20, seed=7, invalid=1.0)
        ids, starts, counts = ext.bin_gaussians(*inputs)
        assert len(ids) == 0 and starts.shape == (2 * 2 * 2,) and int(counts.sum()) == 0
