"""The native tile compositor (cuda/cpu/composite_cpu.cpp) on its own, and its SIMD packs.

- The compositing ops, forward and backward, against a float64 brute-force compositor that
  blends every Gaussian at every pixel (no tiles, no footprints) with the stopping rules of
  raster_math.h, and autograd for the gradients: thin rotated ellipses across tile rows and
  edges, saturated pixels that stop early, partial edge tiles, a run-time feature count.
- The pack operations of cuda/cpu/simd.h (and its AVX-512 log and transpose) built for each
  instruction set the compositor may be compiled for (AVX-512 rows of 16 pixels, AVX2 half
  rows, plain vector extensions), run where this CPU can, against scalar math: the build
  here uses only one of them.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from splat3d.raster import native_backend

ALPHA_MIN, ALPHA_MAX, T_STOP = 1.0 / 255.0, 0.999, 1e-4


@pytest.fixture(scope="module")
def ext():
    mod = native_backend.load()
    if mod is None:
        pytest.skip("native extension cannot be built here (see the warning for why)")
    return mod


def splats(n: int, width: int, height: int, seed: int, *, thin: bool, cams: int = 2,
           features: int = 4):
    """Screen-space Gaussians as the projection makes them: means, conics (inverse
    covariances), opacities, features, depths and the opacity-aware extents."""
    gen = torch.Generator().manual_seed(seed)
    shape = (cams, n)
    means = torch.rand(*shape, 2, generator=gen, dtype=torch.float64)
    means = means * torch.tensor([width + 8.0, height + 8.0], dtype=torch.float64) - 4.0
    theta = torch.rand(shape, generator=gen, dtype=torch.float64) * math.pi
    if thin:  # needles up to 40 pixels long and under one pixel wide
        s1 = 2.0 + 18.0 * torch.rand(shape, generator=gen, dtype=torch.float64)
        s2 = 0.3 + 0.6 * torch.rand(shape, generator=gen, dtype=torch.float64)
    else:
        s1 = 0.7 + 4.0 * torch.rand(shape, generator=gen, dtype=torch.float64)
        s2 = s1 * (0.3 + 0.7 * torch.rand(shape, generator=gen, dtype=torch.float64))
    cos, sin = torch.cos(theta), torch.sin(theta)
    cov_xx = cos**2 * s1**2 + sin**2 * s2**2
    cov_yy = sin**2 * s1**2 + cos**2 * s2**2
    cov_xy = cos * sin * (s1**2 - s2**2)
    det = cov_xx * cov_yy - cov_xy**2
    conics = torch.stack([cov_yy / det, -cov_xy / det, cov_xx / det], -1)
    opacities = 0.02 + 0.97 * torch.rand(shape, generator=gen, dtype=torch.float64)
    feats = torch.rand(*shape, features, generator=gen, dtype=torch.float64)
    depths = torch.rand(shape, generator=gen, dtype=torch.float64) + 1.0
    level = 2.0 * torch.log(255.0 * opacities)  # projection.py: alpha >= 1/255 inside
    extents = torch.stack([torch.sqrt(level * cov_xx), torch.sqrt(level * cov_yy)], -1)
    return means, conics, opacities, feats, depths, extents


def reference(means, conics, opacities, feats, depths, width, height):
    """Float64 front-to-back blending of every Gaussian at every pixel centre: the summed
    features [C,H,W,F] and the final transmittance [C,H,W] (differentiable)."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                            torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    fsums, transes = [], []
    for cam in range(means.shape[0]):
        trans = torch.ones(height, width, dtype=torch.float64)
        fsum = torch.zeros(height, width, feats.shape[-1], dtype=torch.float64)
        done = torch.zeros(height, width, dtype=torch.bool)
        for i in torch.argsort(depths[cam], stable=True).tolist():
            dx, dy = xs - means[cam, i, 0], ys - means[cam, i, 1]
            a, b, c = conics[cam, i]
            sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
            alpha = torch.clamp(opacities[cam, i] * torch.exp(-sigma), max=ALPHA_MAX)
            with torch.no_grad():
                blend = (alpha >= ALPHA_MIN) & ~done
                stop = blend & (trans * (1 - alpha) <= T_STOP)
                take = blend & ~stop
                done = done | stop
            fsum = fsum + torch.where(take, alpha * trans, 0.0)[..., None] * feats[cam, i]
            trans = torch.where(take, trans * (1 - alpha), trans)
        fsums.append(fsum)
        transes.append(trans)
    return torch.stack(fsums), torch.stack(transes)


def native(ext, means, conics, opacities, feats, depths, extents, width, height, g_fsum,
           g_trans):
    valid = torch.ones(opacities.shape, dtype=torch.bool)
    ids, starts, counts = ext.bin_gaussians(means, conics, opacities, extents, depths, valid,
                                            width, height)
    fsum, trans, last = ext.composite_forward(means, conics, opacities, feats, extents, ids,
                                              starts, counts, width, height)
    grads = ext.composite_backward(means, conics, opacities, feats, extents, ids, starts,
                                   counts, fsum, trans, last, g_fsum, g_trans)
    return fsum, trans, grads


CASES = [  # seed, Gaussians, thin, width, height, features
    (0, 120, True, 45, 38, 4),    # needles across tile rows, partial right/bottom tiles
    (1, 400, False, 40, 33, 4),   # dense: most pixels saturate and stop early
    (2, 150, True, 16, 16, 3),    # one tile; run-time feature count
    (3, 200, False, 23, 50, 1),   # a tile column wider than the image
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed,n,thin,width,height,features", CASES)
def test_composite_matches_float64_bruteforce(ext, dtype, seed, n, thin, width, height,
                                              features):
    scene = splats(n, width, height, seed, thin=thin, features=features)
    means, conics, opacities, feats, depths, extents = scene
    leaves = [t.clone().requires_grad_(True) for t in (means, conics, opacities, feats)]
    ref_fsum, ref_trans = reference(*leaves, depths, width, height)
    assert (ref_trans < 0.5).float().mean() > 0.2, "scene should cover the image"
    if n >= 400:
        assert (ref_trans < 1e-3).any(), "some pixels should stop early"
    gen = torch.Generator().manual_seed(seed + 100)
    g_fsum = torch.randn(ref_fsum.shape, generator=gen, dtype=torch.float64)
    g_trans = torch.randn(ref_trans.shape, generator=gen, dtype=torch.float64)
    ref_grads = torch.autograd.grad((ref_fsum * g_fsum).sum() + (ref_trans * g_trans).sum(),
                                    leaves)

    cast = [t.to(dtype).contiguous() for t in (*scene, g_fsum, g_trans)]
    fsum, trans, grads = native(ext, *cast[:6], width, height, *cast[6:])
    if dtype == torch.float64:
        tol = dict(rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(fsum, ref_fsum.detach(), **tol)
        torch.testing.assert_close(trans, ref_trans.detach(), **tol)
        for name, ours, theirs in zip(("means2d", "conics", "opacities", "features"), grads,
                                      ref_grads, strict=True):
            torch.testing.assert_close(ours, theirs, **tol, msg=lambda m, n=name: f"d{n}: {m}")
    else:
        torch.testing.assert_close(fsum.double(), ref_fsum.detach(), rtol=2e-3, atol=2e-4)
        torch.testing.assert_close(trans.double(), ref_trans.detach(), rtol=2e-3, atol=2e-4)
        for name, ours, theirs in zip(("means2d", "conics", "opacities", "features"), grads,
                                      ref_grads, strict=True):
            scale = theirs.abs().max().clamp(min=1e-6)
            torch.testing.assert_close(ours.double() / scale, theirs / scale, rtol=0,
                                       atol=2e-4, msg=lambda m, n=name: f"d{n}: {m}")


def test_thread_count_does_not_change_the_compositor(ext):
    width, height = 70, 52
    scene = [t.float() for t in splats(600, width, height, 5, thin=False)]
    gen = torch.Generator().manual_seed(5)
    g_fsum = torch.randn(2, height, width, 4, generator=gen)
    g_trans = torch.randn(2, height, width, generator=gen)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = native(ext, *scene, width, height, g_fsum, g_trans)
        torch.set_num_threads(2)
        two = native(ext, *scene, width, height, g_fsum, g_trans)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1]), "forward differs"
    for ours, theirs in zip(one[2], two[2], strict=True):  # sums in another order
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


# --- the SIMD packs on every target --------------------------------------------------------

DRIVER = r"""
// Checks the pack operations of cuda/cpu/simd.h against scalar math; prints FAIL lines.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "cpu/simd.h"
#include "splat3d/raster_math.h"

using namespace splat3d;
static int failures = 0;
#define CHECK(cond, ...) \
  do { if (!(cond)) { ++failures; std::printf("FAIL %s: ", #cond); \
       std::printf(__VA_ARGS__); std::printf("\n"); } } while (0)

template <typename T>
void check_masks() {
  using P = Pack<T>;
  using V = typename P::V;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  V a, b;
  for (int i = 0; i < kPack; ++i) {
    a[i] = T(i % 5) - T(2);
    b[i] = T((7 * i) % 4) - T(1.5);
  }
  a[1] = nan;
  b[2] = nan;
  const auto lt = P::lt(a, b), ge = P::ge(a, b), le = P::le(a, b), gt = P::gt(a, b);
  const V mn = P::min(a, b), mx = P::max(a, b);
  const V sel = P::select(lt, a, b), wh = P::where(ge, a);
  const auto both = P::both(le, gt), but = P::but_not(ge, gt);
  for (int i = 0; i < kPack; ++i) {
    const T x = a[i], y = b[i];
    const bool l = x < y, g = x >= y, e = x <= y, h = x > y;
    CHECK(((P::bits(lt) >> i) & 1) == l, "lt lane %d", i);
    CHECK(((P::bits(ge) >> i) & 1) == g, "ge lane %d", i);
    CHECK(((P::bits(both) >> i) & 1) == (e && h), "both lane %d", i);
    CHECK(((P::bits(but) >> i) & 1) == (g && !h), "but_not lane %d", i);
    const T want_mn = x < y ? x : y, want_mx = x > y ? x : y;
    CHECK(std::memcmp(&mn[i], &want_mn, sizeof(T)) == 0, "min lane %d", i);
    CHECK(std::memcmp(&mx[i], &want_mx, sizeof(T)) == 0, "max lane %d", i);
    const T want_sel = l ? x : y, want_wh = g ? x : T(0);
    CHECK(std::memcmp(&sel[i], &want_sel, sizeof(T)) == 0, "select lane %d", i);
    CHECK(std::memcmp(&wh[i], &want_wh, sizeof(T)) == 0, "where lane %d", i);
  }
  int n = 0;
  for (int i = 0; i < kPack; ++i) n += a[i] >= b[i];
  CHECK(P::count(ge) == n, "count %d vs %d", P::count(ge), n);
  for (uint32_t bits : {0u, 1u, 0x5au, (1u << kPack) - 1u, 1u << (kPack - 1)}) {
    CHECK(P::bits(P::from_bits(bits)) == bits, "from_bits %x", bits);
  }
  int32_t last[kPack], dst[kPack];
  for (int i = 0; i < kPack; ++i) {
    last[i] = i % 3 + 4;
    dst[i] = -1;
  }
  const auto before = P::before(5, last);
  P::store_where(dst, before, 9);
  for (int i = 0; i < kPack; ++i) {
    CHECK(((P::bits(before) >> i) & 1) == (5 < last[i]), "before lane %d", i);
    CHECK(dst[i] == (5 < last[i] ? 9 : -1), "store_where int lane %d", i);
  }
  T out[kPack];
  for (int i = 0; i < kPack; ++i) out[i] = T(-7);
  P::store_where(out, lt, a);
  for (int i = 0; i < kPack; ++i) {
    const T want = a[i] < b[i] ? a[i] : T(-7);
    CHECK(std::memcmp(&out[i], &want, sizeof(T)) == 0, "store_where lane %d", i);
  }
}

template <typename T>
void check_math() {
  using P = Pack<T>;
  using V = typename P::V;
  // exp on a grid over the clamped range and beyond, and at NaN
  for (int j = 0; j < 4000; j += kPack) {
    V x;
    for (int i = 0; i < kPack; ++i) x[i] = T(-100.0 + 0.05 * (j + i));
    if (j == 0) x[3] = std::numeric_limits<T>::quiet_NaN();
    const V e = P::exp(x);
    for (int i = 0; i < kPack; ++i) {
      const T want = exp_vec(x[i]);  // raster_math.h: float polynomial, double libm
      CHECK(std::memcmp(&e[i], &want, sizeof(T)) == 0 || (std::isnan(e[i]) && std::isnan(want)),
            "exp(%g) = %.9g, scalar %.9g", double(x[i]), double(e[i]), double(want));
    }
  }
  V num, den;
  for (int i = 0; i < kPack; ++i) {
    num[i] = T(0.37) * T(i + 1) - T(2);
    den[i] = T(1e-3) + T(i) / T(kPack - 1) * T(0.999);
  }
  const V q = P::div(num, den);
  for (int i = 0; i < kPack; ++i) {
    const double want = double(num[i]) / double(den[i]);
    CHECK(std::fabs(q[i] - want) <= 3e-7 * std::fabs(want), "div lane %d: %.9g vs %.9g", i,
          double(q[i]), want);
  }
  V sums[11];
  double want[11];
  for (int s = 0; s < 11; ++s) {
    want[s] = 0;
    for (int i = 0; i < kPack; ++i) {
      sums[s][i] = T(std::sin(1.0 + s * 17 + i));
      want[s] += double(sums[s][i]);
    }
  }
  T got[16];
  reduce_lanes(sums, 11, got);
  for (int s = 0; s < 11; ++s) {
    CHECK(std::fabs(got[s] - want[s]) <= 1e-5, "reduce_lanes %d: %.9g vs %.9g", s,
          double(got[s]), want[s]);
  }
  typename Rows<T>::V r;
  for (int i = 0; i < 16; ++i) r[i] = T(i * i) + T(0.25);
  const auto root = Rows<T>::sqrt(r);
  for (int i = 0; i < 16; ++i) CHECK(root[i] == std::sqrt(r[i]), "sqrt lane %d", i);
  CHECK(Rows<T>::bits(Rows<T>::gt(r, typename Rows<T>::V{} + T(50))) == 0xFF00u, "row bits");
}

void check_avx512_helpers() {
#if defined(__AVX512F__)
  Float16 rows[16];
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) rows[i][j] = float(100 * i + j);
  }
  transpose16(rows);
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) CHECK(rows[i][j] == float(100 * j + i), "transpose %d %d", i, j);
  }
  for (int k = 0; k < 400; k += 16) {
    Float16 x;
    for (int i = 0; i < 16; ++i) x[i] = std::exp(-40.0f + 0.2f * float(k + i));
    const Float16 l = log16(x);
    for (int i = 0; i < 16; ++i) {
      const double want = std::log(double(x[i]));
      CHECK(std::fabs(l[i] - want) <= 1e-6 * std::fmax(1.0, std::fabs(want)),
            "log16(%g) = %.9g vs %.9g", double(x[i]), double(l[i]), want);
    }
  }
#endif
}

int main() {
  check_avx512_helpers();
  check_masks<float>();
  check_masks<double>();
  check_math<float>();
  check_math<double>();
  CHECK(spread_bits(0xFFFFu) == 0x55555555u && spread_bits(0x8001u) == 0x40000001u, "spread");
  std::printf("kPack %d, %d failures\n", kPack, failures);
  return failures == 0 ? 0 : 1;
}
"""

TARGETS = {  # the flags native_backend.compile_flags gives for each CPU capability
    "avx512": (["-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"],
               ("avx512f", "avx512bw", "avx512vl", "avx512dq"), 16),
    "avx2": (["-mavx2", "-mfma"], ("avx2", "fma"), 8),
    "generic": (["-mno-avx"], (), 8),
}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


@pytest.mark.parametrize("target", list(TARGETS))
def test_simd_packs_match_scalar_math(target, tmp_path):
    compiler = shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler")
    flags, needs, lanes = TARGETS[target]
    source = tmp_path / "packs.cpp"
    source.write_text(DRIVER)
    binary = tmp_path / "packs"
    cuda = native_backend.SOURCE_DIR
    build = subprocess.run([compiler, "-std=c++17", "-O2", "-Wno-psabi", *flags,
                            f"-I{cuda}", f"-I{cuda / 'include'}", str(source), "-o",
                            str(binary)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr[-3000:]
    if not set(needs) <= _cpu_flags():
        pytest.skip(f"this CPU cannot run {target} code (compiled only)")
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]
    assert f"kPack {lanes}," in run.stdout
