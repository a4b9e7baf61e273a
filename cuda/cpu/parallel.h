// The one parallel primitive of the CPU kernels: for_each_chunk hands fixed chunks of work
// to threads from a shared counter (the split never depends on the thread count).
//
// Normal builds run it in an OpenMP parallel region, the same threads torch uses, which
// spin briefly between regions and so start at once on an idle machine. Builds with
// -DSPLAT3D_STD_THREADS (the ThreadSanitizer run, cuda/tests/run_tsan.sh) use a small
// pool of plain std::threads instead: libgomp is not instrumented, so TSan cannot see
// OpenMP's barriers, while std::thread, std::mutex, std::condition_variable and atomics are
// understood, so the kernels' own memory accesses are checked with several threads. Both
// call the kernels' chunk functions the same way (worker ids below num_workers(), each used
// by one thread at a time, chunks in no fixed order).
//
// The pool also never waits for a helper that has not woken up: the caller takes chunks
// itself and at the end waits only for chunks helpers have started. (An OpenMP join waits
// for every thread of the team, which stalls when the OS has descheduled one on a busy
// machine; torch's own ops have that behaviour too, so the pool is not the default.)
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#ifdef SPLAT3D_STD_THREADS
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#else
#include <omp.h>
#endif

namespace splat3d {

// Threads the kernels use, the caller included: torch's setting (torch.set_num_threads).
inline int num_workers() { return std::max(1, at::get_num_threads()); }

#ifdef SPLAT3D_STD_THREADS
namespace detail {

// One parallel call: fn(worker, chunk) for chunk < n_chunks. Kept alive by shared_ptr, so a
// helper that wakes after the call has returned finds the counter exhausted and leaves.
struct Job {
  std::function<void(int, int64_t)> fn;
  int64_t n_chunks = 0;
  std::atomic<int64_t> next{0};    // next chunk to claim
  std::atomic<int> running{0};     // helpers inside a chunk
  std::atomic<int> helper_ids{1};  // worker ids handed to helpers (the caller is 0)
  int max_helpers = 0;
};

class Pool {
 public:
  static Pool& get() {
    // a forked child has none of the parent's threads: it starts a pool of its own (the
    // parent's is leaked, its mutex may be held by a thread that does not exist here)
    static std::atomic<Pool*> pool{nullptr};
    static std::atomic<pid_t> owner{0};
    Pool* p = pool.load(std::memory_order_acquire);
    if (p == nullptr || owner.load(std::memory_order_acquire) != getpid()) {
      static std::mutex create;
      std::lock_guard<std::mutex> lock(create);
      p = pool.load(std::memory_order_acquire);
      if (p == nullptr || owner.load(std::memory_order_acquire) != getpid()) {
        p = new Pool();  // intentionally never destroyed: helpers block in it until exit
        owner.store(getpid(), std::memory_order_release);
        pool.store(p, std::memory_order_release);
      }
    }
    return *p;
  }

  // Runs the job with up to n_helpers helper threads besides the caller.
  void run(const std::shared_ptr<Job>& job, int n_helpers) {
    if (n_helpers > 0) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        while (static_cast<int>(threads_.size()) < n_helpers) {
          threads_.emplace_back([this] { helper_loop(); });
          threads_.back().detach();
        }
        job_ = job;
        ++generation_;
      }
      wake_.notify_all();
    }
    work(*job, 0);
    // wait for helpers that are inside a chunk; none can start one after this point, since
    // the counter is exhausted
    while (job->running.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    if (n_helpers > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (job_ == job) job_.reset();
    }
  }

 private:
  static void work(Job& job, int worker) {
    // acq_rel: a helper's claim (after its ``running`` increment) is visible to the caller
    // whose claim comes later, so the caller then sees the chunk in progress
    for (int64_t i = job.next.fetch_add(1, std::memory_order_acq_rel); i < job.n_chunks;
         i = job.next.fetch_add(1, std::memory_order_acq_rel)) {
      job.fn(worker, i);
    }
  }

  void helper_loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
      }
      if (!job) continue;
      const int id = job->helper_ids.fetch_add(1, std::memory_order_relaxed);
      if (id > job->max_helpers) continue;  // more helpers awake than the call asked for
      // announce before claiming, so the caller cannot miss a chunk in progress
      job->running.fetch_add(1, std::memory_order_acq_rel);
      work(*job, id);
      job->running.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> threads_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
};

}  // namespace detail
#endif

// Calls fn(worker, chunk) for chunk = 0 .. n_chunks-1, each exactly once, and returns when
// all are done. Worker ids are below num_workers() and never used by two threads at once,
// so they may index per-worker scratch; which chunks a worker gets is not deterministic.
template <typename Fn>
void for_each_chunk(int64_t n_chunks, const Fn& fn) {
  const int n_workers = static_cast<int>(std::min<int64_t>(num_workers(), n_chunks));
  if (n_workers <= 1) {
    for (int64_t i = 0; i < n_chunks; ++i) fn(0, i);
    return;
  }
#ifdef SPLAT3D_STD_THREADS
  auto job = std::make_shared<detail::Job>();
  job->fn = [&fn](int w, int64_t i) { fn(w, i); };
  job->n_chunks = n_chunks;
  job->max_helpers = n_workers - 1;
  detail::Pool::get().run(job, n_workers - 1);
#else
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(n_workers)
  {
    // a nested region may get fewer threads; ids stay unique and below n_workers
    const int w = omp_get_thread_num();
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n_chunks;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      fn(w, i);
    }
  }
#endif
}

// Calls fn(begin, end) over [0, n) in chunks of ``grain`` items.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, const Fn& fn) {
  const int64_t n_chunks = (n + grain - 1) / grain;
  for_each_chunk(n_chunks, [&](int, int64_t i) { fn(i * grain, std::min(n, (i + 1) * grain)); });
}

}  // namespace splat3d
