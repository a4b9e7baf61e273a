// The one fork/join primitive of the CPU kernels.
//
// Normal builds use an OpenMP parallel region. Builds with -DSPLAT3D_STD_THREADS (the
// ThreadSanitizer driver, cuda/tests/tsan_driver.cpp) use plain std::thread fork/join
// instead: libgomp is not instrumented, so TSan cannot see OpenMP's barriers and reports
// every access on either side of them, while thread creation and join are understood, so
// the kernels' own memory accesses are checked with several threads.
//
// Work is handed out in fixed chunks from a shared atomic counter: the split never depends
// on the number of threads, and a thread that the OS deschedules on a shared machine does
// not hold the others up at the join (the busy ones take its chunks).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#ifdef SPLAT3D_STD_THREADS
#include <thread>
#include <vector>
#else
#include <omp.h>
#endif

namespace splat3d {

// Threads the kernels use: torch's setting (torch.set_num_threads).
inline int num_workers() { return std::max(1, at::get_num_threads()); }

// Runs body(worker) for worker = 0 .. n_workers-1 concurrently and returns when all are
// done. Each worker id is used by exactly one thread, so it may index per-worker scratch.
template <typename Body>
void fork_join(int n_workers, const Body& body) {
  if (n_workers <= 1) {
    body(0);
    return;
  }
#ifdef SPLAT3D_STD_THREADS
  std::vector<std::thread> threads;
  threads.reserve(n_workers - 1);
  for (int w = 1; w < n_workers; ++w) threads.emplace_back([&body, w] { body(w); });
  body(0);
  for (std::thread& t : threads) t.join();
#else
#pragma omp parallel num_threads(n_workers)
  {
    // a nested or restricted region may get fewer threads: they share the worker ids
    const int n_threads = omp_get_num_threads();
    for (int w = omp_get_thread_num(); w < n_workers; w += n_threads) body(w);
  }
#endif
}

// Calls fn(worker, chunk) for chunk = 0 .. n_chunks-1, each exactly once, the workers taking
// the next chunk from a shared counter.
template <typename Fn>
void for_each_chunk(int64_t n_chunks, const Fn& fn) {
  const int n_workers = static_cast<int>(std::min<int64_t>(num_workers(), n_chunks));
  if (n_workers <= 1) {
    for (int64_t i = 0; i < n_chunks; ++i) fn(0, i);
    return;
  }
  std::atomic<int64_t> next{0};
  fork_join(n_workers, [&](int w) {
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n_chunks;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      fn(w, i);
    }
  });
}

// Calls fn(begin, end) over [0, n) in chunks of ``grain`` items.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, const Fn& fn) {
  const int64_t n_chunks = (n + grain - 1) / grain;
  for_each_chunk(n_chunks, [&](int, int64_t i) { fn(i * grain, std::min(n, (i + 1) * grain)); });
}

}  // namespace splat3d
