// Which 16x16 tiles one projected Gaussian reaches, exactly, one Gaussian at a time: the
// device-agnostic form of the CPU binning's test (cpu/binning_cpu.cpp runs the same test on
// vectors of Gaussians), used by the CUDA binning and by the CPU reference binning that
// checks both (cpu/binning_reference_cpu.cpp).
//
// A Gaussian is listed in a tile when its alpha >= 1/255 ellipse {d : dᵀ Q d <= 2 ln(255 o)}
// reaches the rectangle spanned by the tile's pixel centres, with the level padded slightly so
// float rounding never drops a contributing pair, within the candidate box of
// splat3d/raster/binning.py (the conservative extent box). Per row band of tiles the
// ellipse's part inside the band is convex, so its x-range there is one interval
// [min L(dy), max R(dy)] over the band's dy, where L and R are the ellipse's left and right
// boundary; L is convex and R concave, so each extreme is at the ellipse's leftmost
// (rightmost) point when the band contains it and at the nearer band edge otherwise.
// Everything is computed in double, whatever the tensors' dtype.
#pragma once

#include "splat3d/raster_math.h"

namespace splat3d {

struct TileGrid {
  int64_t tiles_x, tiles_y, width, height;
};

constexpr double kTileLevelPad = 1e-3;  // relative and absolute slack on the ellipse level

// Calls visit(tx, ty) for every tile the Gaussian (mean, conic (a, b, c), opacity, extents)
// reaches, row by row, left to right; returns how many.
template <typename Visit>
SPLAT3D_HD int64_t visit_gaussian_tiles(double mx, double my, double a, double b, double c,
                                        double opacity, double ext_x, double ext_y,
                                        const TileGrid& g, Visit&& visit) {
  const double T = kTile;
  const double ex = ext_x * 1.0001 + 1e-3, ey = ext_y * 1.0001 + 1e-3;
  // tile t holds pixel centres [16 t + 0.5, 16 t + 15.5] (binning.py's box rule)
  const double lo_x = fmax(0.0, ceil((mx - ex - (T - 0.5)) / T));
  const double lo_y = fmax(0.0, ceil((my - ey - (T - 0.5)) / T));
  const double hi_x = fmin(double(g.tiles_x - 1), floor((mx + ex - 0.5) / T));
  const double hi_y = fmin(double(g.tiles_y - 1), floor((my + ey - 0.5) / T));
  if (!(lo_x <= hi_x && lo_y <= hi_y)) return 0;
  int64_t n = 0;
  const double o = fmax(opacity, 1.0 / 255.0);
  const double level = 2.0 * log(255.0 * o) * (1.0 + kTileLevelPad) + kTileLevelPad;
  const double det = a * c - b * b;
  if (!(det > 0 && a > 0 && c > 0 && level > 0 && isfinite(det * level))) {
    for (int64_t ty = int64_t(lo_y); ty <= int64_t(hi_y); ++ty) {  // the box alone
      for (int64_t tx = int64_t(lo_x); tx <= int64_t(hi_x); ++tx, ++n) visit(tx, ty);
    }
    return n;
  }
  const double inv_a = 1.0 / a, a_level = a * level;
  const double half_y = sqrt(level * a / det);        // y half-extent of the ellipse
  const double dy_left = b * sqrt(level / (c * det));  // dy of its leftmost point
  const double x_last = double(g.width) - 0.5;         // last pixel centre
  for (int64_t ty = int64_t(lo_y); ty <= int64_t(hi_y); ++ty) {
    const double y0 = double(ty) * T + 0.5;
    const double y1 = fmin(double(ty) * T + T - 1, double(g.height - 1)) + 0.5;
    const double d0 = fmax(y0 - my, -half_y), d1 = fmin(y1 - my, half_y);
    if (d0 > d1) continue;
    // leftmost point of the ellipse within the band, then the rightmost
    const double dl = fmin(fmax(dy_left, d0), d1), dr = fmin(fmax(-dy_left, d0), d1);
    const double x_min =
        mx + (-b * dl - sqrt(fmax(0.0, a_level - det * dl * dl))) * inv_a - 1e-3;
    const double x_max =
        mx + (-b * dr + sqrt(fmax(0.0, a_level - det * dr * dr))) * inv_a + 1e-3;
    if (x_max < 0.5 || x_min > x_last) continue;
    // tiles whose pixel centres [16 t + 0.5, 16 t + 15.5] meet [x_min, x_max]
    const int64_t t0 = int64_t(fmax(lo_x, ceil((x_min - (T - 0.5)) / T)));
    const int64_t t1 = int64_t(fmin(hi_x, floor((x_max - 0.5) / T)));
    for (int64_t tx = t0; tx <= t1; ++tx, ++n) visit(tx, ty);
  }
  return n;
}

// Order-preserving map of a float's bits to an unsigned key (the depth sort key).
SPLAT3D_HD uint32_t depth_sort_key(float z) {
  union {
    float f;
    uint32_t u;
  } bits;
  bits.f = z;
  return (bits.u & 0x80000000u) ? ~bits.u : bits.u | 0x80000000u;
}

}  // namespace splat3d
