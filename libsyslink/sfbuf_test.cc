// The page-mapping cache: every flag, error path and counter, through
// SfBufCache instances (each test its own pool) and the C API (the
// process's cache). The concurrency tests are meant for --config=tsan too.
#include "libsyslink/sfbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "syslink/sfbuf.h"

namespace libsyslink {

// Holds a cache's lock, to show which paths do without it.
class SfBufCachePeer {
 public:
  static void Lock(SfBufCache& c) { c.mu_.Lock(); }
  static void Unlock(SfBufCache& c) { c.mu_.Unlock(); }
};

namespace {

size_t Page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// The byte at OFF of page INDEX in every test object.
unsigned char Pattern(uint64_t index, size_t off) {
  return static_cast<unsigned char>(index * 31 + off * 7 + 1);
}

void FillPattern(int fd, uint64_t pages, size_t extra = 0) {
  std::vector<unsigned char> buf(Page());
  for (uint64_t i = 0; i < pages; i++) {
    for (size_t j = 0; j < Page(); j++) buf[j] = Pattern(i, j);
    ASSERT_EQ(pwrite(fd, buf.data(), Page(), static_cast<off_t>(i * Page())),
              static_cast<ssize_t>(Page()));
  }
  if (extra > 0) {
    for (size_t j = 0; j < extra; j++) buf[j] = Pattern(pages, j);
    ASSERT_EQ(pwrite(fd, buf.data(), extra, static_cast<off_t>(pages * Page())),
              static_cast<ssize_t>(extra));
  }
}

bool HoldsPage(const void* kva, uint64_t index, size_t bytes = 0) {
  const unsigned char* p = static_cast<const unsigned char*>(kva);
  if (bytes == 0) bytes = Page();
  for (size_t j = 0; j < bytes; j++) {
    if (p[j] != Pattern(index, j)) return false;
  }
  return true;
}

// A memfd of PAGES pages (and EXTRA bytes), filled with Pattern().
class Memfd {
 public:
  explicit Memfd(uint64_t pages, size_t extra = 0) {
    fd_ = memfd_create("sfbuf-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(pages * Page() + extra)), 0);
    FillPattern(fd_, pages, extra);
  }
  ~Memfd() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }
  // Another open file description of the same memfd.
  int Reopen(int flags) const {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd_);
    return open(path, flags | O_CLOEXEC);
  }
  void Close() {
    close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct sl_page PageOf(int fd, uint64_t index) {
  struct sl_page pg = {};
  EXPECT_EQ(sl_page_init(&pg, fd, index), 0) << strerror(errno);
  return pg;
}

sl_sfbuf* Get(SfBufCache& c, int fd, uint64_t index, int flags = 0) {
  sl_sfbuf* sf = nullptr;
  const int err = c.Alloc(PageOf(fd, index), flags, &sf);
  EXPECT_EQ(err, 0) << strerror(err);
  return sf;
}

// Alloc's errno (freeing what it got).
int AllocErr(SfBufCache& c, const struct sl_page& pg, int flags = 0) {
  sl_sfbuf* sf = nullptr;
  const int err = c.Alloc(pg, flags, &sf);
  if (err == 0) SfBufCache::Free(sf);
  return err;
}

// The permissions column of /proc/self/maps for the mapping holding ADDR.
std::string MapPerms(const void* addr) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  while (std::getline(maps, line)) {
    uintptr_t lo, hi;
    char perms[8];
    if (sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= a &&
        a < hi) {
      return perms;
    }
  }
  return "";
}

bool WaitFor(const std::function<bool()>& cond) {
  for (int i = 0; i < 10000; i++) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

SfBufCache::Options Pool(size_t max_pages, size_t cpuprivate_pages = 4) {
  SfBufCache::Options o;
  o.max_pages = max_pages;
  o.cpuprivate_pages = cpuprivate_pages;
  return o;
}

// ---------------------------------------------------------------------------
// Mapping, hits, the LRU list

TEST(SfBuf, MapsThePageAndCachesItAfterFree) {
  SfBufCache c(Pool(8));
  Memfd m(4);
  sl_sfbuf* sf = Get(c, m.fd(), 2);
  ASSERT_NE(sf, nullptr);
  void* kva = sl_sfbuf_kva(sf);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(kva) % Page(), 0u);
  EXPECT_TRUE(HoldsPage(kva, 2));
  const struct sl_page* pg = sl_sfbuf_page(sf);
  EXPECT_EQ(pg->index, 2u);
  EXPECT_EQ(pg->fd, -1);
  EXPECT_EQ(pg->prot, PROT_READ | PROT_WRITE);
  struct stat st;
  ASSERT_EQ(fstat(m.fd(), &st), 0);
  EXPECT_EQ(pg->dev, static_cast<uint64_t>(st.st_dev));
  EXPECT_EQ(pg->ino, static_cast<uint64_t>(st.st_ino));
  EXPECT_EQ(MapPerms(kva), "rw-s");

  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.in_use, 1u);
  EXPECT_EQ(s.mapped, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 0u);
  SfBufCache::Free(sf);
  s = c.Stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.mapped, 1u);  // inactive, still mapped
  EXPECT_EQ(MapPerms(kva), "rw-s");
}

// A hit on an inactive mapping revives it: same address, counted as a hit,
// and the object's current bytes visible through it (MAP_SHARED).
TEST(SfBuf, InactiveMappingIsRevivedAsAHitAndSeesNewData) {
  SfBufCache c(Pool(8));
  Memfd m(2);
  sl_sfbuf* sf = Get(c, m.fd(), 1);
  char* kva = static_cast<char*>(sl_sfbuf_kva(sf));
  SfBufCache::Free(sf);
  ASSERT_EQ(pwrite(m.fd(), "fresh", 5, static_cast<off_t>(Page())), 5);
  sl_sfbuf* again = Get(c, m.fd(), 1);
  EXPECT_EQ(again, sf);
  EXPECT_EQ(sl_sfbuf_kva(again), kva);
  EXPECT_EQ(memcmp(kva, "fresh", 5), 0);
  // And the other way: a store through the mapping reaches the object.
  memcpy(kva + 100, "store", 5);
  char back[5];
  ASSERT_EQ(pread(m.fd(), back, 5, static_cast<off_t>(Page() + 100)), 5);
  EXPECT_EQ(memcmp(back, "store", 5), 0);
  const struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.recycles, 0u);
  EXPECT_EQ(s.mapped, 1u);
  SfBufCache::Free(again);
}

// A miss with the pool full takes the least recently used inactive slot.
TEST(SfBuf, MissRecyclesTheLeastRecentlyUsedInactiveSlot) {
  SfBufCache c(Pool(2));
  Memfd m(4);
  sl_sfbuf* p0 = Get(c, m.fd(), 0);
  sl_sfbuf* p1 = Get(c, m.fd(), 1);
  void* p1_kva = sl_sfbuf_kva(p1);
  SfBufCache::Free(p0);
  SfBufCache::Free(p1);
  SfBufCache::Free(Get(c, m.fd(), 0));  // p0 is now the most recent
  sl_sfbuf* p2 = Get(c, m.fd(), 2);     // takes p1's slot
  EXPECT_EQ(sl_sfbuf_kva(p2), p1_kva);  // the same address, remapped
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(p2), 2));
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.recycles, 1u);
  EXPECT_EQ(s.mapped, 2u);
  SfBufCache::Free(Get(c, m.fd(), 0));  // still cached: a hit
  EXPECT_EQ(c.Stats().hits, 2u);
  SfBufCache::Free(p2);
  sl_sfbuf* p1b = Get(c, m.fd(), 1);  // was recycled: a miss
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(p1b), 1));
  s = c.Stats();
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.recycles, 2u);
  SfBufCache::Free(p1b);
}

TEST(SfBuf, TwoDescriptorsOfOneMemfdShareOneMapping) {
  SfBufCache c(Pool(8));
  Memfd m(2);
  const int dup_fd = dup(m.fd());
  const int reopened = m.Reopen(O_RDWR);
  ASSERT_GE(reopened, 0);
  sl_sfbuf* a = Get(c, m.fd(), 1);
  sl_sfbuf* b = Get(c, dup_fd, 1);
  sl_sfbuf* d = Get(c, reopened, 1);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, d);
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.in_use, 1u);  // one mapping, three references
  EXPECT_EQ(s.mapped, 1u);

  // Every descriptor closed: the mapping stays valid, and a page that
  // names the object by identity alone still finds it.
  struct sl_page by_id = *sl_sfbuf_page(a);
  close(dup_fd);
  close(reopened);
  m.Close();
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(a), 1));
  sl_sfbuf* e = nullptr;
  ASSERT_EQ(c.Alloc(by_id, 0, &e), 0);
  EXPECT_EQ(e, a);
  // A page not cached cannot be mapped without a descriptor.
  by_id.index = 0;
  EXPECT_EQ(AllocErr(c, by_id), EBADF);
  for (int i = 0; i < 4; i++) SfBufCache::Free(a);
  EXPECT_EQ(c.Stats().in_use, 0u);
}

// A read-only descriptor gets (and a page may ask for) a read-only mapping:
// a different mapping of the same bytes.
TEST(SfBuf, ReadOnlyAccessIsASeparateReadOnlyMapping) {
  SfBufCache c(Pool(8));
  Memfd m(2);
  const int ro = m.Reopen(O_RDONLY);
  ASSERT_GE(ro, 0);
  struct sl_page ro_page = PageOf(ro, 0);
  EXPECT_EQ(ro_page.prot, PROT_READ);
  sl_sfbuf* r = nullptr;
  ASSERT_EQ(c.Alloc(ro_page, 0, &r), 0);
  sl_sfbuf* w = Get(c, m.fd(), 0);
  EXPECT_NE(r, w);
  EXPECT_EQ(MapPerms(sl_sfbuf_kva(r)), "r--s");
  EXPECT_EQ(MapPerms(sl_sfbuf_kva(w)), "rw-s");
  static_cast<char*>(sl_sfbuf_kva(w))[9] = 'x';
  EXPECT_EQ(static_cast<char*>(sl_sfbuf_kva(r))[9], 'x');  // same bytes
  // Lowering prot by hand on a writable descriptor: the read-only mapping.
  struct sl_page lowered = PageOf(m.fd(), 0);
  lowered.prot = PROT_READ;
  sl_sfbuf* r2 = nullptr;
  ASSERT_EQ(c.Alloc(lowered, 0, &r2), 0);
  EXPECT_EQ(r2, r);
  // Asking for writing through a read-only descriptor: EACCES (for a page
  // not cached: a hit never looks at the descriptor).
  struct sl_page ro_page1 = PageOf(ro, 1);
  ro_page1.prot = PROT_READ | PROT_WRITE;
  EXPECT_EQ(AllocErr(c, ro_page1), EACCES);
  SfBufCache::Free(r);
  SfBufCache::Free(r2);
  SfBufCache::Free(w);
  close(ro);
}

TEST(SfBuf, ReadOnlyFileGivesAReadableReadOnlyMapping) {
  char path[] = "/tmp/sfbuf-test-XXXXXX";
  const int wfd = mkstemp(path);
  ASSERT_GE(wfd, 0);
  FillPattern(wfd, 2);
  close(wfd);
  ASSERT_EQ(chmod(path, 0444), 0);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  unlink(path);
  SfBufCache c(Pool(8));
  sl_sfbuf* sf = Get(c, fd, 1);
  ASSERT_NE(sf, nullptr);
  EXPECT_EQ(sl_sfbuf_page(sf)->prot, PROT_READ);
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(sf), 1));
  EXPECT_EQ(MapPerms(sl_sfbuf_kva(sf)), "r--s");
  SfBufCache::Free(sf);
  close(fd);
}

// A memfd sealed against writing maps read-only; forcing PROT_WRITE: EPERM.
TEST(SfBuf, WriteSealedMemfdMapsReadOnly) {
  SfBufCache c(Pool(8));
  Memfd m(1);
  ASSERT_EQ(fcntl(m.fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);
  struct sl_page pg = PageOf(m.fd(), 0);
  EXPECT_EQ(pg.prot, PROT_READ);
  EXPECT_EQ(AllocErr(c, pg), 0);
  pg.prot = PROT_READ | PROT_WRITE;
  EXPECT_EQ(AllocErr(c, pg), EPERM);
  EXPECT_EQ(c.Stats().mapped, 1u);  // the failed miss gave its slot back
}

// ---------------------------------------------------------------------------
// Bounds and errors

TEST(SfBuf, IndexPastTheEndIsEinvalAndMapsNothing) {
  SfBufCache c(Pool(8));
  Memfd m(2, 100);  // two pages and 100 bytes
  sl_sfbuf* last = Get(c, m.fd(), 2);  // the partial page is fine
  ASSERT_NE(last, nullptr);
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(last), 2, 100));
  const char* tail = static_cast<const char*>(sl_sfbuf_kva(last));
  for (size_t j = 100; j < Page(); j++) ASSERT_EQ(tail[j], 0);  // past EOF: zeros
  SfBufCache::Free(last);
  const struct sl_sfbuf_stats before = c.Stats();
  for (uint64_t index : {uint64_t{3}, uint64_t{1} << 40, UINT64_MAX / 2, UINT64_MAX}) {
    struct sl_page pg = PageOf(m.fd(), index);
    EXPECT_EQ(AllocErr(c, pg), EINVAL) << index;
    EXPECT_EQ(AllocErr(c, pg, SFB_CPUPRIVATE), EINVAL) << index;
  }
  const struct sl_sfbuf_stats after = c.Stats();
  EXPECT_EQ(after.mapped, before.mapped);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.failures, before.failures);
  // The object grows: the page becomes mappable.
  ASSERT_EQ(ftruncate(m.fd(), static_cast<off_t>(4 * Page())), 0);
  EXPECT_EQ(AllocErr(c, PageOf(m.fd(), 3)), 0);
}

TEST(SfBuf, BadArguments) {
  SfBufCache c(Pool(8));
  Memfd m(1);
  Memfd other(1);
  struct sl_page pg = PageOf(m.fd(), 0);
  EXPECT_EQ(AllocErr(c, pg, 0x100), EINVAL);  // unknown flag
  struct sl_page bad = pg;
  bad.prot = PROT_WRITE;  // write-only
  EXPECT_EQ(AllocErr(c, bad), EINVAL);
  bad.prot = PROT_READ | PROT_EXEC;
  EXPECT_EQ(AllocErr(c, bad), EINVAL);
  // A descriptor that is not the object named: EINVAL.
  bad = pg;
  bad.fd = other.fd();
  EXPECT_EQ(AllocErr(c, bad), EINVAL);
  // Not filled and no descriptor: EBADF; a closed one: EBADF.
  struct sl_page unfilled = {};
  unfilled.fd = -1;
  EXPECT_EQ(AllocErr(c, unfilled), EBADF);
  bad = pg;
  bad.fd = 1000;
  EXPECT_EQ(AllocErr(c, bad), EBADF);
  // Not filled: Alloc fills it itself (same mapping as a filled page).
  unfilled.fd = m.fd();
  sl_sfbuf* a = nullptr;
  ASSERT_EQ(c.Alloc(unfilled, 0, &a), 0);
  sl_sfbuf* b = nullptr;
  ASSERT_EQ(c.Alloc(pg, 0, &b), 0);
  EXPECT_EQ(a, b);
  SfBufCache::Free(a);
  SfBufCache::Free(b);
  // Not a regular file.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  struct sl_page piped = {};
  EXPECT_EQ(sl_page_init(&piped, p[0], 0), -1);
  EXPECT_EQ(errno, EINVAL);
  piped = pg;
  piped.fd = p[0];
  piped.index = 1;  // not cached: the descriptor is looked at
  EXPECT_EQ(AllocErr(c, piped), EINVAL);
  close(p[0]);
  close(p[1]);
  // sl_page_init's own errors.
  EXPECT_EQ(sl_page_init(nullptr, m.fd(), 0), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(sl_page_init(&piped, -1, 0), -1);
  EXPECT_EQ(errno, EBADF);
  const int wo = m.Reopen(O_WRONLY);
  ASSERT_GE(wo, 0);
  EXPECT_EQ(sl_page_init(&piped, wo, 0), -1);
  EXPECT_EQ(errno, EACCES);
  bad = pg;
  bad.fd = wo;
  bad.index = 1;
  EXPECT_EQ(AllocErr(c, bad), EACCES);
  close(wo);
  // Nothing above took a slot for good.
  const struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.mapped, 1u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.failures, 0u);
}

TEST(SfBuf, SetMaxBounds) {
  SfBufCache c(Pool(8));
  EXPECT_EQ(c.SetMax(0), EINVAL);
  EXPECT_EQ(c.SetMax(SL_SFBUF_MAX_LIMIT + 1), EINVAL);
  EXPECT_EQ(c.SetMax(SL_SFBUF_MAX_LIMIT), 0);
  EXPECT_EQ(c.Stats().max, SL_SFBUF_MAX_LIMIT);
  EXPECT_EQ(c.SetMax(1), 0);
  EXPECT_EQ(c.Stats().max, 1u);
}

// ---------------------------------------------------------------------------
// References

TEST(SfBuf, RefAndFreeCount) {
  SfBufCache c(Pool(8));
  Memfd m(1);
  sl_sfbuf* sf = Get(c, m.fd(), 0);
  SfBufCache::Ref(sf);
  SfBufCache::Ref(sf);
  SfBufCache::Free(sf);
  SfBufCache::Free(sf);
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.in_use, 1u);  // one reference left
  // Still in use: a pool of one has no slot for another page.
  ASSERT_EQ(c.SetMax(1), 0);
  Memfd m2(1);
  EXPECT_EQ(AllocErr(c, PageOf(m2.fd(), 0), SFB_NOWAIT), EAGAIN);
  SfBufCache::Free(sf);
  s = c.Stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.mapped, 1u);
  EXPECT_EQ(s.peak, 1u);
  EXPECT_EQ(AllocErr(c, PageOf(m2.fd(), 0), SFB_NOWAIT), 0);  // recycles it
  SfBufCache::Free(nullptr);  // ignored
}

TEST(SfBufDeathTest, FreeingAnUnreferencedHandleAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        SfBufCache c(Pool(8));
        Memfd m(1);
        sl_sfbuf* sf = Get(c, m.fd(), 0);
        SfBufCache::Free(sf);
        SfBufCache::Free(sf);  // cached, but not referenced
      },
      "not referenced");
}

// ---------------------------------------------------------------------------
// The pool: NOWAIT, waiting, CATCH

TEST(SfBuf, NowaitFailsWithEagainWhenEverySlotIsInUse) {
  SfBufCache c(Pool(2));
  Memfd m(3);
  sl_sfbuf* a = Get(c, m.fd(), 0);
  sl_sfbuf* b = Get(c, m.fd(), 1);
  struct sl_page pg = PageOf(m.fd(), 2);
  EXPECT_EQ(AllocErr(c, pg, SFB_NOWAIT), EAGAIN);
  EXPECT_EQ(AllocErr(c, pg, SFB_NOWAIT | SFB_CATCH), EAGAIN);
  // A page already mapped needs no slot.
  EXPECT_EQ(AllocErr(c, PageOf(m.fd(), 1), SFB_NOWAIT), 0);
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.failures, 2u);
  EXPECT_EQ(s.waits, 0u);
  EXPECT_EQ(s.in_use, 2u);
  EXPECT_EQ(s.peak, 2u);
  SfBufCache::Free(a);
  EXPECT_EQ(AllocErr(c, pg, SFB_NOWAIT), 0);
  SfBufCache::Free(b);
}

TEST(SfBuf, BlockingAllocWaitsUntilAnotherThreadFrees) {
  SfBufCache c(Pool(1));
  Memfd m(2);
  sl_sfbuf* held = Get(c, m.fd(), 0);
  std::atomic<bool> done{false};
  sl_sfbuf* got = nullptr;
  int err = -1;
  std::thread t([&] {
    err = c.Alloc(PageOf(m.fd(), 1), 0, &got);
    done = true;
  });
  ASSERT_TRUE(WaitFor([&] { return c.Stats().waits == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(done);
  SfBufCache::Free(held);
  t.join();
  ASSERT_EQ(err, 0);
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(got), 1));
  const struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.waits, 1u);
  EXPECT_EQ(s.failures, 0u);
  EXPECT_EQ(s.recycles, 1u);
  EXPECT_EQ(s.misses, 2u);
  SfBufCache::Free(got);
}

std::atomic<int> signals_seen{0};
void OnSignal(int) { signals_seen.fetch_add(1); }

void InstallHandler(bool restart) {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = restart ? SA_RESTART : 0;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
}

// SFB_CATCH: a signal delivered to the waiting thread ends the wait with
// EINTR, whether or not its handler asked for SA_RESTART.
TEST(SfBuf, CatchLetsASignalAbortTheWait) {
  for (bool restart : {false, true}) {
    SCOPED_TRACE(restart ? "SA_RESTART" : "no SA_RESTART");
    InstallHandler(restart);
    SfBufCache c(Pool(1));
    Memfd m(2);
    sl_sfbuf* held = Get(c, m.fd(), 0);
    std::atomic<bool> done{false};
    int err = -1;
    sl_sfbuf* got = nullptr;
    std::thread t([&] {
      err = c.Alloc(PageOf(m.fd(), 1), SFB_CATCH, &got);
      done = true;
    });
    ASSERT_TRUE(WaitFor([&] { return c.Stats().waits == 1; }));
    const int before = signals_seen.load();
    // Signal until the waiter returns (one is enough once it sleeps).
    for (int i = 0; i < 2000 && !done; i++) {
      pthread_kill(t.native_handle(), SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    t.join();
    EXPECT_EQ(err, EINTR);
    EXPECT_EQ(got, nullptr);
    EXPECT_GT(signals_seen.load(), before);
    struct sl_sfbuf_stats s = c.Stats();
    EXPECT_EQ(s.waits, 1u);
    EXPECT_EQ(s.failures, 1u);
    EXPECT_EQ(s.in_use, 1u);
    // The waiter left the queue: the pool works on.
    SfBufCache::Free(held);
    EXPECT_EQ(AllocErr(c, PageOf(m.fd(), 1), SFB_NOWAIT), 0);
  }
  signal(SIGUSR1, SIG_DFL);
}

// The same through the C API on the process's cache: NULL with errno
// EINTR (SFB_CATCH) and EAGAIN (SFB_NOWAIT).
TEST(SfBuf, CApiCatchAndNowaitReturnNullWithErrno) {
  InstallHandler(false);
  ASSERT_EQ(sl_sfbuf_setmax(1), 0);
  Memfd m(2);
  struct sl_page p0, p1;
  ASSERT_EQ(sl_page_init(&p0, m.fd(), 0), 0);
  ASSERT_EQ(sl_page_init(&p1, m.fd(), 1), 0);
  struct sl_sfbuf* held = sl_sfbuf_alloc(&p0, 0);
  ASSERT_NE(held, nullptr);
  errno = 0;
  EXPECT_EQ(sl_sfbuf_alloc(&p1, SFB_NOWAIT), nullptr);
  EXPECT_EQ(errno, EAGAIN);
  struct sl_sfbuf_stats before;
  ASSERT_EQ(sl_sfbuf_stats(&before), 0);
  std::atomic<bool> done{false};
  struct sl_sfbuf* got = held;
  int err = 0;
  std::thread t([&] {
    got = sl_sfbuf_alloc(&p1, SFB_CATCH);
    err = errno;
    done = true;
  });
  ASSERT_TRUE(WaitFor([&] {
    struct sl_sfbuf_stats s;
    sl_sfbuf_stats(&s);
    return s.waits == before.waits + 1;
  }));
  for (int i = 0; i < 2000 && !done; i++) {
    pthread_kill(t.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  t.join();
  EXPECT_EQ(got, nullptr);
  EXPECT_EQ(err, EINTR);
  struct sl_sfbuf_stats after;
  ASSERT_EQ(sl_sfbuf_stats(&after), 0);
  EXPECT_EQ(after.failures, before.failures + 1);
  sl_sfbuf_free(held);
  ASSERT_EQ(sl_sfbuf_setmax(SL_SFBUF_DEFAULT_MAX), 0);
  signal(SIGUSR1, SIG_DFL);
}

// Without SFB_CATCH, handlers run and the wait goes on.
TEST(SfBuf, WithoutCatchSignalsDoNotAbortTheWait) {
  InstallHandler(false);
  SfBufCache c(Pool(1));
  Memfd m(2);
  sl_sfbuf* held = Get(c, m.fd(), 0);
  std::atomic<bool> done{false};
  int err = -1;
  sl_sfbuf* got = nullptr;
  std::thread t([&] {
    err = c.Alloc(PageOf(m.fd(), 1), 0, &got);
    done = true;
  });
  ASSERT_TRUE(WaitFor([&] { return c.Stats().waits == 1; }));
  const int before = signals_seen.load();
  for (int i = 0; i < 10; i++) {
    pthread_kill(t.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(WaitFor([&] { return signals_seen.load() >= before + 10; }));
  EXPECT_FALSE(done);
  SfBufCache::Free(held);
  t.join();
  EXPECT_EQ(err, 0);
  EXPECT_EQ(c.Stats().failures, 0u);
  SfBufCache::Free(got);
  signal(SIGUSR1, SIG_DFL);
}

// Several waiters, each served once a slot is free; raising max lets
// waiters go on at once.
TEST(SfBuf, WaitersAreServedAsSlotsFreeAndWhenMaxIsRaised) {
  SfBufCache c(Pool(1));
  Memfd m(8);
  sl_sfbuf* held = Get(c, m.fd(), 0);
  constexpr int kWaiters = 3;
  std::vector<sl_sfbuf*> got(kWaiters, nullptr);
  std::vector<int> errs(kWaiters, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; i++) {
    threads.emplace_back([&, i] { errs[i] = c.Alloc(PageOf(m.fd(), 1 + i), 0, &got[i]); });
  }
  ASSERT_TRUE(WaitFor([&] { return c.Stats().waits == kWaiters; }));
  ASSERT_EQ(c.SetMax(1 + kWaiters), 0);
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWaiters; i++) {
    ASSERT_EQ(errs[i], 0);
    EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(got[i]), 1 + i));
    SfBufCache::Free(got[i]);
  }
  SfBufCache::Free(held);
  const struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.peak, 1u + kWaiters);
  EXPECT_EQ(s.mapped, 1u + kWaiters);
}

// ---------------------------------------------------------------------------
// setmax

TEST(SfBuf, LoweringMaxUnmapsInactiveFirstAndInUseWhenFreed) {
  SfBufCache c(Pool(8));
  Memfd m(8);
  std::vector<sl_sfbuf*> sfs;
  for (int i = 0; i < 8; i++) sfs.push_back(Get(c, m.fd(), i));
  std::vector<void*> kvas;
  for (sl_sfbuf* sf : sfs) kvas.push_back(sl_sfbuf_kva(sf));
  for (int i = 2; i < 8; i++) SfBufCache::Free(sfs[i]);  // 0, 1 stay in use
  ASSERT_EQ(c.SetMax(3), 0);
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.max, 3u);
  EXPECT_EQ(s.mapped, 3u);  // 0, 1 and the most recent inactive, 7
  EXPECT_EQ(s.in_use, 2u);
  EXPECT_EQ(MapPerms(kvas[2]), "");  // unmapped
  EXPECT_EQ(MapPerms(kvas[7]), "rw-s");
  SfBufCache::Free(Get(c, m.fd(), 7));  // still cached
  EXPECT_EQ(c.Stats().hits, 1u);
  ASSERT_EQ(c.SetMax(1), 0);
  s = c.Stats();
  EXPECT_EQ(s.mapped, 2u);  // in use: never revoked
  EXPECT_TRUE(HoldsPage(kvas[0], 0));
  EXPECT_EQ(AllocErr(c, PageOf(m.fd(), 5), SFB_NOWAIT), EAGAIN);
  SfBufCache::Free(sfs[0]);  // over max: unmapped at once
  s = c.Stats();
  EXPECT_EQ(s.mapped, 1u);
  EXPECT_EQ(MapPerms(kvas[0]), "");
  SfBufCache::Free(sfs[1]);  // at max: stays cached
  s = c.Stats();
  EXPECT_EQ(s.mapped, 1u);
  EXPECT_EQ(s.in_use, 0u);
  SfBufCache::Free(Get(c, m.fd(), 1));
  EXPECT_EQ(c.Stats().hits, 2u);
  // Raising it again: new slots, nothing recycled.
  ASSERT_EQ(c.SetMax(4), 0);
  const uint64_t recycles = c.Stats().recycles;
  for (int i = 2; i < 5; i++) SfBufCache::Free(Get(c, m.fd(), i));
  s = c.Stats();
  EXPECT_EQ(s.mapped, 4u);
  EXPECT_EQ(s.recycles, recycles);
}

// ---------------------------------------------------------------------------
// SFB_CPUPRIVATE

TEST(SfBuf, CpuPrivateHitsInTheThreadsOwnCache) {
  SfBufCache c(Pool(16, 4));
  Memfd m(8);
  sl_sfbuf* priv = Get(c, m.fd(), 0, SFB_CPUPRIVATE);
  sl_sfbuf* shared = Get(c, m.fd(), 0);
  EXPECT_NE(priv, shared);  // separate mappings of the same bytes
  EXPECT_NE(sl_sfbuf_kva(priv), sl_sfbuf_kva(shared));
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(priv), 0));
  SfBufCache::Free(priv);
  sl_sfbuf* again = Get(c, m.fd(), 0, SFB_CPUPRIVATE);
  EXPECT_EQ(again, priv);
  SfBufCache::Ref(again);
  SfBufCache::Free(again);
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.cpuprivate_hits, 1u);
  EXPECT_EQ(s.cpuprivate_misses, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.cpuprivate_mapped, 1u);
  EXPECT_EQ(s.mapped, 2u);  // private pages are slots of the pool
  EXPECT_EQ(s.in_use, 2u);
  SfBufCache::Free(again);
  SfBufCache::Free(shared);
  EXPECT_EQ(c.Stats().in_use, 0u);
}

// SFB_CPUPRIVATE hits, references, frees and own-slot recycling take no
// lock: they go on while another thread holds the cache's lock.
TEST(SfBuf, CpuPrivatePathsTakeNoLock) {
  SfBufCache c(Pool(16, 2));
  Memfd m(8);
  SfBufCache::Free(Get(c, m.fd(), 0, SFB_CPUPRIVATE));
  SfBufCache::Free(Get(c, m.fd(), 1, SFB_CPUPRIVATE));  // private cache full
  const struct sl_page p0 = PageOf(m.fd(), 0), p5 = PageOf(m.fd(), 5);
  std::atomic<int> phase{0};
  std::thread holder([&] {
    SfBufCachePeer::Lock(c);
    phase = 1;
    while (phase != 2) std::this_thread::yield();
    SfBufCachePeer::Unlock(c);
  });
  while (phase != 1) std::this_thread::yield();
  for (int i = 0; i < 1000; i++) {
    sl_sfbuf* sf = nullptr;
    ASSERT_EQ(c.Alloc(p0, SFB_CPUPRIVATE, &sf), 0);  // hit
    SfBufCache::Ref(sf);
    SfBufCache::Free(sf);
    SfBufCache::Free(sf);
  }
  sl_sfbuf* sf = nullptr;
  ASSERT_EQ(c.Alloc(p5, SFB_CPUPRIVATE, &sf), 0);  // miss: recycles page 1
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(sf), 5));
  SfBufCache::Free(sf);
  phase = 2;
  holder.join();
  const struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.cpuprivate_hits, 1000u);
  EXPECT_EQ(s.cpuprivate_misses, 3u);
  EXPECT_EQ(s.recycles, 1u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.peak, 2u);  // a per-thread cache's pages count in full
}

// The per-thread cache holds cpuprivate_pages; when they are all in use the
// allocation is served by the shared cache; when they are inactive the
// least recently used one is recycled without touching the pool.
TEST(SfBuf, CpuPrivateCacheIsBoundedAndFallsBackToShared) {
  SfBufCache c(Pool(16, 2));
  Memfd m(8);
  sl_sfbuf* a = Get(c, m.fd(), 0, SFB_CPUPRIVATE);
  sl_sfbuf* b = Get(c, m.fd(), 1, SFB_CPUPRIVATE);
  sl_sfbuf* d = Get(c, m.fd(), 2, SFB_CPUPRIVATE);  // private cache full
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.cpuprivate_misses, 2u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.cpuprivate_mapped, 2u);
  EXPECT_EQ(s.mapped, 3u);
  // The shared handle may be freed by any thread.
  std::thread([&] { SfBufCache::Free(d); }).join();
  void* a_kva = sl_sfbuf_kva(a);
  SfBufCache::Free(a);
  SfBufCache::Free(b);
  sl_sfbuf* e = Get(c, m.fd(), 3, SFB_CPUPRIVATE);  // recycles a's slot
  EXPECT_EQ(sl_sfbuf_kva(e), a_kva);
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(e), 3));
  s = c.Stats();
  EXPECT_EQ(s.cpuprivate_misses, 3u);
  EXPECT_EQ(s.recycles, 1u);
  EXPECT_EQ(s.cpuprivate_mapped, 2u);
  EXPECT_EQ(s.mapped, 3u);
  SfBufCache::Free(e);
}

// All threads' private caches together hold at most half the pool.
TEST(SfBuf, CpuPrivateCachesHoldAtMostHalfThePool) {
  SfBufCache c(Pool(4, 16));
  Memfd m(8);
  std::vector<sl_sfbuf*> held;
  for (int i = 0; i < 3; i++) held.push_back(Get(c, m.fd(), i, SFB_CPUPRIVATE));
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.cpuprivate_mapped, 2u);
  EXPECT_EQ(s.cpuprivate_misses, 2u);
  EXPECT_EQ(s.misses, 3u);  // the third came from the shared cache
  for (sl_sfbuf* sf : held) SfBufCache::Free(sf);
}

// A thread's inactive private pages go back to the pool when it exits;
// those it still holds become shared and are unmapped at their last free.
TEST(SfBuf, ThreadExitGivesPrivatePagesBack) {
  SfBufCache c(Pool(16, 4));
  Memfd m(8);
  sl_sfbuf* kept = nullptr;
  std::thread([&] {
    SfBufCache::Free(Get(c, m.fd(), 0, SFB_CPUPRIVATE));
    SfBufCache::Free(Get(c, m.fd(), 1, SFB_CPUPRIVATE));
    kept = Get(c, m.fd(), 2, SFB_CPUPRIVATE);
    const struct sl_sfbuf_stats s = c.Stats();
    EXPECT_EQ(s.cpuprivate_mapped, 3u);
    EXPECT_EQ(s.mapped, 3u);
  }).join();
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.cpuprivate_mapped, 0u);
  EXPECT_EQ(s.mapped, 1u);
  EXPECT_EQ(s.in_use, 1u);
  EXPECT_EQ(s.cpuprivate_misses, 3u);  // the exited thread's counts stay
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(kept), 2));
  void* kva = sl_sfbuf_kva(kept);
  SfBufCache::Free(kept);  // now an orphan: unmapped at its last free
  s = c.Stats();
  EXPECT_EQ(s.mapped, 0u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(MapPerms(kva), "");
}

// Lowering max: a thread's inactive private pages go at its next
// SFB_CPUPRIVATE call; a thread about to wait gives back its own first.
TEST(SfBuf, PrivatePagesAreTrimmedWhenThePoolNeedsThem) {
  SfBufCache c(Pool(16, 4));
  Memfd m(8);
  for (int i = 0; i < 4; i++) SfBufCache::Free(Get(c, m.fd(), i, SFB_CPUPRIVATE));
  EXPECT_EQ(c.Stats().cpuprivate_mapped, 4u);
  ASSERT_EQ(c.SetMax(4), 0);  // private share: 2
  SfBufCache::Free(Get(c, m.fd(), 3, SFB_CPUPRIVATE));  // trims first
  struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.cpuprivate_mapped, 2u);
  EXPECT_EQ(s.mapped, 2u);
  // The shared cache fills the rest; this thread's inactive private pages
  // are given back rather than waited for.
  sl_sfbuf* a = Get(c, m.fd(), 4);
  sl_sfbuf* b = Get(c, m.fd(), 5);
  sl_sfbuf* d = Get(c, m.fd(), 6);  // needs a private page's slot
  s = c.Stats();
  EXPECT_EQ(s.waits, 0u);
  EXPECT_EQ(s.cpuprivate_mapped, 0u);
  EXPECT_EQ(s.mapped, 3u);
  SfBufCache::Free(a);
  SfBufCache::Free(b);
  SfBufCache::Free(d);
}

TEST(SfBufDeathTest, CpuPrivateHandleFreedOnAnotherThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        SfBufCache c(Pool(8));
        Memfd m(1);
        sl_sfbuf* sf = Get(c, m.fd(), 0, SFB_CPUPRIVATE);
        std::thread([&] { SfBufCache::Free(sf); }).join();
      },
      "SFB_CPUPRIVATE handle of another thread");
}

// ---------------------------------------------------------------------------
// Instances and the C API

TEST(SfBuf, CachesAreIndependent) {
  SfBufCache one(Pool(4));
  SfBufCache two(Pool(4));
  Memfd m(1);
  sl_sfbuf* a = Get(one, m.fd(), 0);
  sl_sfbuf* b = Get(two, m.fd(), 0);
  EXPECT_NE(a, b);
  EXPECT_EQ(one.Stats().misses, 1u);
  EXPECT_EQ(two.Stats().misses, 1u);
  sl_sfbuf_free(a);  // the C call frees a handle of any cache
  sl_sfbuf_free(b);
  EXPECT_EQ(one.Stats().in_use, 0u);
  EXPECT_EQ(two.Stats().in_use, 0u);
}

TEST(SfBuf, CApiUsesTheProcesssCache) {
  struct sl_sfbuf_stats s0;
  ASSERT_EQ(sl_sfbuf_stats(&s0), 0);
  EXPECT_EQ(s0.max, SL_SFBUF_DEFAULT_MAX);
  Memfd m(2);
  struct sl_page pg;
  ASSERT_EQ(sl_page_init(&pg, m.fd(), 1), 0);
  struct sl_sfbuf* sf = sl_sfbuf_alloc(&pg, 0);
  ASSERT_NE(sf, nullptr);
  EXPECT_TRUE(HoldsPage(sl_sfbuf_kva(sf), 1));
  sl_sfbuf_ref(sf);
  sl_sfbuf_free(sf);
  sl_sfbuf_free(sf);
  struct sl_sfbuf_stats s;
  ASSERT_EQ(sl_sfbuf_stats(&s), 0);
  EXPECT_EQ(s.misses, s0.misses + 1);
  EXPECT_EQ(s.in_use, s0.in_use);
  EXPECT_EQ(sl_sfbuf_alloc(nullptr, 0), nullptr);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(sl_sfbuf_alloc(&pg, -1), nullptr);
  EXPECT_EQ(errno, EINVAL);
  pg.index = 2;
  EXPECT_EQ(sl_sfbuf_alloc(&pg, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sl_sfbuf_stats(nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(sl_sfbuf_setmax(0), -1);
  EXPECT_EQ(errno, EINVAL);
  ASSERT_EQ(sl_sfbuf_setmax(16), 0);
  ASSERT_EQ(sl_sfbuf_stats(&s), 0);
  EXPECT_EQ(s.max, 16u);
  ASSERT_EQ(sl_sfbuf_setmax(SL_SFBUF_DEFAULT_MAX), 0);
}

// Every counter after a known sequence.
TEST(SfBuf, StatisticsAreExact) {
  SfBufCache c(Pool(3, 2));
  Memfd m(8);
  std::vector<sl_sfbuf*> h;
  h.push_back(Get(c, m.fd(), 0));                  // miss
  h.push_back(Get(c, m.fd(), 0));                  // hit
  h.push_back(Get(c, m.fd(), 1));                  // miss
  h.push_back(Get(c, m.fd(), 2, SFB_CPUPRIVATE));  // private miss (share 1)
  EXPECT_EQ(AllocErr(c, PageOf(m.fd(), 3), SFB_NOWAIT), EAGAIN);  // failure
  SfBufCache::Free(h[3]);
  h.push_back(Get(c, m.fd(), 2, SFB_CPUPRIVATE));  // private hit
  SfBufCache::Free(h[4]);
  SfBufCache::Free(h[2]);                          // page 1 inactive
  h.push_back(Get(c, m.fd(), 4));                  // miss, recycles page 1
  const struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.in_use, 2u);  // page 0 (twice), page 4
  EXPECT_EQ(s.peak, 3u);
  EXPECT_EQ(s.max, 3u);
  EXPECT_EQ(s.mapped, 3u);
  EXPECT_EQ(s.waits, 0u);
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.recycles, 1u);
  EXPECT_EQ(s.cpuprivate_hits, 1u);
  EXPECT_EQ(s.cpuprivate_misses, 1u);
  EXPECT_EQ(s.cpuprivate_mapped, 1u);
  SfBufCache::Free(h[0]);
  SfBufCache::Free(h[1]);
  SfBufCache::Free(h[5]);
}

// ---------------------------------------------------------------------------
// Concurrency (run under --config=tsan and --config=asan as well)

// Threads hammer a pool much smaller than the set of pages with every flag,
// references and max changes; every byte read is checked, every counter
// adds up at the end.
TEST(SfBufConcurrency, ThreadsHammerASmallPool) {
  constexpr int kThreads = 4;
  constexpr uint64_t kPages = 16;
  constexpr int kIters = 4000;
  SfBufCache c(Pool(8, 2));
  Memfd m(kPages);
  const struct sl_page base = PageOf(m.fd(), 0);
  std::atomic<uint64_t> ok{0}, eagain{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 1));
      for (int i = 0; i < kIters; i++) {
        struct sl_page pg = base;
        pg.index = rng() % kPages;
        const int kind = static_cast<int>(rng() % 4);
        const int flags = kind == 0 ? 0
                          : kind == 1 ? SFB_NOWAIT
                          : kind == 2 ? SFB_CPUPRIVATE
                                      : SFB_CATCH;
        sl_sfbuf* sf = nullptr;
        const int err = c.Alloc(pg, flags, &sf);
        if (err == EAGAIN) {
          eagain++;
          continue;
        }
        ASSERT_EQ(err, 0);
        ok++;
        const unsigned char* p = static_cast<const unsigned char*>(sl_sfbuf_kva(sf));
        const size_t off = rng() % Page();
        ASSERT_EQ(p[off], Pattern(pg.index, off));
        ASSERT_EQ(sl_sfbuf_page(sf)->index, pg.index);
        if (rng() % 4 == 0) {
          SfBufCache::Ref(sf);
          SfBufCache::Free(sf);
        }
        // Sometimes a second page at once, never waiting for it.
        if (rng() % 3 == 0) {
          struct sl_page pg2 = base;
          pg2.index = rng() % kPages;
          sl_sfbuf* sf2 = nullptr;
          const int err2 = c.Alloc(pg2, SFB_NOWAIT | (flags & SFB_CPUPRIVATE), &sf2);
          if (err2 == EAGAIN) {
            eagain++;
          } else {
            ASSERT_EQ(err2, 0);
            ok++;
            ASSERT_EQ(*static_cast<const unsigned char*>(sl_sfbuf_kva(sf2)),
                      Pattern(pg2.index, 0));
            SfBufCache::Free(sf2);
          }
        }
        SfBufCache::Free(sf);
      }
    });
  }
  std::thread tuner([&] {
    size_t n = 0;
    while (!stop) {
      c.SetMax(n++ % 2 == 0 ? 3 : 8);
      c.Stats();
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    c.SetMax(8);
  });
  for (auto& t : threads) t.join();
  stop = true;
  tuner.join();
  const struct sl_sfbuf_stats s = c.Stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.hits + s.misses, ok.load());
  EXPECT_EQ(s.failures, eagain.load());
  EXPECT_LE(s.mapped, 8u);
  EXPECT_LE(s.peak, 8u);
  EXPECT_GT(s.cpuprivate_hits + s.cpuprivate_misses, 0u);
  EXPECT_EQ(s.cpuprivate_mapped, 0u);  // the threads exited
}

// Writers through different threads' mappings of the same pages: every
// increment lands in the object.
TEST(SfBufConcurrency, StoresThroughSharedAndPrivateMappingsReachTheObject) {
  constexpr int kThreads = 3;
  constexpr uint64_t kPages = 6;
  constexpr int kIters = 3000;
  SfBufCache c(Pool(4, 1));
  Memfd m(kPages);
  ASSERT_EQ(ftruncate(m.fd(), 0), 0);  // zeros
  ASSERT_EQ(ftruncate(m.fd(), static_cast<off_t>(kPages * Page())), 0);
  const struct sl_page base = PageOf(m.fd(), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; i++) {
        struct sl_page pg = base;
        pg.index = static_cast<uint64_t>(i) % kPages;
        sl_sfbuf* sf = nullptr;
        ASSERT_EQ(c.Alloc(pg, i % 2 ? SFB_CPUPRIVATE : 0, &sf), 0);
        // Each thread owns one counter per page.
        uint64_t* counter = static_cast<uint64_t*>(sl_sfbuf_kva(sf)) + t;
        ++*counter;
        SfBufCache::Free(sf);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint64_t p = 0; p < kPages; p++) {
    for (int t = 0; t < kThreads; t++) {
      uint64_t v = 0;
      ASSERT_EQ(pread(m.fd(), &v, sizeof v, static_cast<off_t>(p * Page() + t * 8)), 8);
      EXPECT_EQ(v, kIters / kPages) << "page " << p << " thread " << t;
    }
  }
}

}  // namespace
}  // namespace libsyslink
