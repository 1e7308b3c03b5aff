// sfbuf_benchmark: what the page-mapping cache costs.
//
//   bazel run -c opt //libsyslink:sfbuf_benchmark [-- --quick]
//
// Every row is an alloc + free pair on a memfd, timed over many
// iterations (best of 5 runs), in ns per pair; the contention rows run one
// pair loop in each of 2 threads and give ns per pair per thread.
// Baselines: mmap + munmap of the page with no cache, and fstat() (what a
// hit would cost if struct sl_page did not carry the object's identity).
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "libsyslink/sfbuf.h"
#include "syslink/sfbuf.h"

namespace {

using libsyslink::SfBufCache;
using Clock = std::chrono::steady_clock;

size_t Page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

int MakeMemfd(size_t pages) {
  const int fd = memfd_create("sfbuf-bench", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(pages * Page())) != 0) {
    perror("memfd");
    exit(1);
  }
  return fd;
}

struct sl_page PageOf(int fd, uint64_t index) {
  struct sl_page pg;
  if (sl_page_init(&pg, fd, index) != 0) {
    perror("sl_page_init");
    exit(1);
  }
  return pg;
}

sl_sfbuf* MustAlloc(SfBufCache& c, const struct sl_page& pg, int flags) {
  sl_sfbuf* sf = nullptr;
  if (int err = c.Alloc(pg, flags, &sf); err != 0) {
    fprintf(stderr, "alloc: %s\n", strerror(err));
    exit(1);
  }
  return sf;
}

volatile unsigned char sink;

// Best of RUNS: ns per iteration of BODY(i), ITERS iterations a run.
double Time(int iters, const std::function<void(int)>& body, int runs = 5) {
  double best = 1e30;
  for (int r = 0; r < runs; r++) {
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; i++) body(i);
    const double ns =
        std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iters;
    best = std::min(best, ns);
  }
  return best;
}

// BODY(thread, i) in 2 threads at once: ns per iteration per thread.
double TimeTwoThreads(int iters, const std::function<void(int, int)>& body) {
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    double ns[2] = {0, 0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; t++) {
      ts.emplace_back([&, t] {
        body(t, -1);  // warm up: per-thread state
        ready++;
        while (!go) {
        }
        const auto t0 = Clock::now();
        for (int i = 0; i < iters; i++) body(t, i);
        ns[t] = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iters;
      });
    }
    while (ready < 2) {
    }
    go = true;
    for (auto& t : ts) t.join();
    best = std::min(best, std::max(ns[0], ns[1]));
  }
  return best;
}

void Row(const char* what, double ns) {
  if (ns >= 1000) {
    printf("  %-58s %9.2f us\n", what, ns / 1000);
  } else {
    printf("  %-58s %9.1f ns\n", what, ns);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  const int kHitIters = quick ? 20000 : 2000000;
  const int kMissIters = quick ? 2000 : 50000;
  constexpr size_t kObjectPages = 4096;  // 16 MiB
  const int fd = MakeMemfd(kObjectPages);

  printf("sfbuf_benchmark: %zu-byte pages, %u CPUs, ns or us per alloc+free pair\n",
         Page(), std::thread::hardware_concurrency());

  printf("\nhits\n");
  {
    SfBufCache c(SfBufCache::Options{});
    const struct sl_page pg = PageOf(fd, 7);
    SfBufCache::Free(MustAlloc(c, pg, 0));
    Row("shared hit, inactive page (revive + back to LRU)", Time(kHitIters, [&](int) {
          sl_sfbuf* sf = MustAlloc(c, pg, 0);
          sink = *static_cast<unsigned char*>(sl_sfbuf_kva(sf));
          SfBufCache::Free(sf);
        }));
    sl_sfbuf* held = MustAlloc(c, pg, 0);
    Row("shared hit, page in use (refs 1 -> 2 -> 1)", Time(kHitIters, [&](int) {
          sl_sfbuf* sf = MustAlloc(c, pg, 0);
          SfBufCache::Free(sf);
        }));
    SfBufCache::Free(held);
    SfBufCache::Free(MustAlloc(c, pg, SFB_CPUPRIVATE));
    Row("SFB_CPUPRIVATE hit (no lock)", Time(kHitIters, [&](int) {
          sl_sfbuf* sf = MustAlloc(c, pg, SFB_CPUPRIVATE);
          sink = *static_cast<unsigned char*>(sl_sfbuf_kva(sf));
          SfBufCache::Free(sf);
        }));
    held = MustAlloc(c, pg, SFB_CPUPRIVATE);
    Row("SFB_CPUPRIVATE hit, page in use (refs 1 -> 2 -> 1)", Time(kHitIters, [&](int) {
          SfBufCache::Free(MustAlloc(c, pg, SFB_CPUPRIVATE));
        }));
    SfBufCache::Free(held);
    struct sl_page unfilled = {};
    unfilled.fd = fd;
    unfilled.index = 7;
    Row("shared hit, page not filled (fstat + fcntl each call)",
        Time(kHitIters / 10, [&](int) { SfBufCache::Free(MustAlloc(c, unfilled, 0)); }));
    struct stat st;
    Row("baseline: one fstat()", Time(kHitIters / 10, [&](int) { fstat(fd, &st); }));
  }

  printf("\nmisses (a 64-page pool over a %zu-page memfd, pages in turn)\n",
         kObjectPages);
  {
    SfBufCache c(SfBufCache::Options{64, SL_SFBUF_CPUPRIVATE_PAGES});
    struct sl_page pg = PageOf(fd, 0);
    uint64_t next = 0;
    Row("shared miss, recycling the LRU slot (mmap MAP_FIXED)", Time(kMissIters, [&](int) {
          pg.index = next++ % kObjectPages;
          sl_sfbuf* sf = MustAlloc(c, pg, 0);
          sink = *static_cast<unsigned char*>(sl_sfbuf_kva(sf));  // fault it in
          SfBufCache::Free(sf);
        }));
    Row("SFB_CPUPRIVATE miss, recycling its own LRU slot", Time(kMissIters, [&](int) {
          pg.index = next++ % kObjectPages;
          sl_sfbuf* sf = MustAlloc(c, pg, SFB_CPUPRIVATE);
          sink = *static_cast<unsigned char*>(sl_sfbuf_kva(sf));
          SfBufCache::Free(sf);
        }));
    Row("baseline: mmap + touch + munmap, no cache", Time(kMissIters, [&](int i) {
          void* p = mmap(nullptr, Page(), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                         static_cast<off_t>((i % kObjectPages) * Page()));
          sink = *static_cast<unsigned char*>(p);
          munmap(p, Page());
        }));
  }
  {
    // Fresh slots: a pool as large as the object, each page once.
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
      SfBufCache c(SfBufCache::Options{kObjectPages, 0});
      struct sl_page pg = PageOf(fd, 0);
      best = std::min(best, Time(static_cast<int>(kObjectPages), [&](int i) {
                        pg.index = static_cast<uint64_t>(i);
                        sl_sfbuf* sf = MustAlloc(c, pg, 0);
                        sink = *static_cast<unsigned char*>(sl_sfbuf_kva(sf));
                        SfBufCache::Free(sf);
                      }, 1));
    }
    Row("shared miss into a new slot (mmap)", best);
  }

  printf("\ncontention: 2 threads, each an alloc+free loop (ns per pair per thread)\n");
  {
    SfBufCache c(SfBufCache::Options{});
    const struct sl_page same = PageOf(fd, 1);
    Row("shared hits, both threads on one page", TimeTwoThreads(kHitIters / 4, [&](int, int) {
          SfBufCache::Free(MustAlloc(c, same, 0));
        }));
    Row("shared hits, each thread its own page",
        TimeTwoThreads(kHitIters / 4, [&](int t, int) {
          struct sl_page pg = same;
          pg.index = 2 + static_cast<uint64_t>(t);
          SfBufCache::Free(MustAlloc(c, pg, 0));
        }));
    Row("SFB_CPUPRIVATE hits, both threads on one page",
        TimeTwoThreads(kHitIters / 4, [&](int, int) {
          SfBufCache::Free(MustAlloc(c, same, SFB_CPUPRIVATE));
        }));
    SfBufCache small(SfBufCache::Options{64, SL_SFBUF_CPUPRIVATE_PAGES});
    Row("shared misses (64-page pool), threads on separate ranges",
        TimeTwoThreads(kMissIters / 4, [&](int t, int i) {
          struct sl_page pg = same;
          pg.index = static_cast<uint64_t>(t) * (kObjectPages / 2) +
                     static_cast<uint64_t>(i < 0 ? 0 : i) % (kObjectPages / 2);
          SfBufCache::Free(MustAlloc(small, pg, 0));
        }));
  }
  struct sl_sfbuf_stats s = SfBufCache::Default().Stats();
  (void)s;
  close(fd);
  return 0;
}
