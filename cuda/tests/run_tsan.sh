#!/usr/bin/env bash
# Builds the native CPU kernels and cuda/tests/tsan_driver.cpp with ThreadSanitizer and runs
# it, the kernels using the std::thread pool of cuda/cpu/parallel.h (-DSPLAT3D_STD_THREADS)
# instead of OpenMP, whose uninstrumented libgomp barriers TSan cannot see.
# Usage: cuda/tests/run_tsan.sh [build folder, default /tmp/splat3d-tsan]
# Prints the driver's thread-count checks and the number of TSan reports (0 when clean).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-/tmp/splat3d-tsan}
mkdir -p "$OUT"
TI=$(python -c "import torch, os; print(os.path.dirname(torch.__file__))")
FLAGS=(-std=c++17 -fsanitize=thread -g -O1 -DSPLAT3D_STD_THREADS -mavx2 -mfma -Wno-psabi
       -I"$ROOT/cuda" -I"$ROOT/cuda/include" -isystem "$TI/include"
       -isystem "$TI/include/torch/csrc/api/include")
# the kernels' AVX-512 paths where this CPU has them, as the normal build (compile_flags)
if grep -q avx512bw /proc/cpuinfo; then
  FLAGS+=(-mavx512f -mavx512bw -mavx512vl -mavx512dq)
fi
OBJS=()
for f in "$ROOT"/cuda/cpu/*.cpp "$ROOT"/cuda/tests/tsan_driver.cpp; do
  o="$OUT/$(basename "$f").o"
  c++ "${FLAGS[@]}" -c "$f" -o "$o" &
  OBJS+=("$o")
done
wait
c++ -fsanitize=thread "${OBJS[@]}" -L"$TI/lib" -lc10 -ltorch_cpu -Wl,-rpath,"$TI/lib" \
    -o "$OUT/tsan_driver"
# ASLR off: TSan's shadow memory layout needs it on some kernels
tsan_run() {  # log folder, driver arguments...; prints the number of reports
  local logs=$1
  shift
  rm -rf "$logs" && mkdir -p "$logs"
  TSAN_OPTIONS="log_path=$logs/tsan halt_on_error=0 exitcode=0" setarch "$(uname -m)" -R \
      "$OUT/tsan_driver" "$@" >&2 || { echo "tsan_driver $* failed" >&2; exit 1; }
  cat "$logs"/tsan.* 2>/dev/null | grep -c "WARNING: ThreadSanitizer" || true
}
live=$(tsan_run "$OUT/race" --race)
echo "control run with a deliberate race: $live ThreadSanitizer report(s) (must be >= 1)"
reports=$(tsan_run "$OUT/kernels")
echo "kernels, 1/2/3 threads, float32 and float64: $reports ThreadSanitizer reports"
[ "$live" -ge 1 ] && [ "$reports" -eq 0 ]
