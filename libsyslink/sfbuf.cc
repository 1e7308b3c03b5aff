#include "libsyslink/sfbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "common/unique_fd.h"

namespace libsyslink {

using sfbuf_internal::Key;
using sfbuf_internal::LruList;
using sfbuf_internal::MutexLock;
using sfbuf_internal::ThreadCache;

namespace {

constexpr int kAllFlags = SFB_CATCH | SFB_NOWAIT | SFB_CPUPRIVATE;

size_t PageBytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// Programmer errors that would corrupt the cache: stop here.
[[noreturn]] void Panic(const char* what) {
  fprintf(stderr, "libsyslink: sfbuf: %s\n", what);
  abort();
}

void CheckHandle(const sl_sfbuf* e, const char* fn) {
  if (e->magic != sl_sfbuf::kMagic) {
    fprintf(stderr, "libsyslink: sfbuf: %s: not a live handle\n", fn);
    abort();
  }
}

// A counter written by one thread at a time (the owning thread, or under a
// lock): no read-modify-write instruction needed.
inline void Bump(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
inline void Drop(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

// The most access descriptor FD allows, for struct sl_page's prot.
int MaxProt(int fd, int* prot) {
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return errno;
  switch (fl & O_ACCMODE) {
    case O_RDONLY:
      *prot = PROT_READ;
      return 0;
    case O_RDWR:
      break;
    default:
      return EACCES;  // O_WRONLY: cannot be mapped
  }
  const int seals = fcntl(fd, F_GET_SEALS);  // EINVAL for non-memfds
  if (seals >= 0 && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
    *prot = PROT_READ;
  } else {
    *prot = PROT_READ | PROT_WRITE;
  }
  return 0;
}

int FillPage(int fd, uint64_t index, struct sl_page* page, struct stat* st) {
  if (fd < 0) return EBADF;
  if (fstat(fd, st) != 0) return errno;
  if (!S_ISREG(st->st_mode)) return EINVAL;
  int prot = 0;
  if (int err = MaxProt(fd, &prot); err != 0) return err;
  page->fd = fd;
  page->prot = prot;
  page->index = index;
  page->dev = static_cast<uint64_t>(st->st_dev);
  page->ino = static_cast<uint64_t>(st->st_ino);
  return 0;
}

// A miss's checks of PAGE before a slot is taken: the descriptor names the
// object, the page lies (at least partly) within it, the access is allowed.
// FILLED is PAGE.fd's fstat() if PAGE was just filled from it, else nullptr.
int CheckMiss(const struct sl_page& page, const struct stat* filled) {
  struct stat st;
  if (filled == nullptr) {
    if (page.fd < 0) return EBADF;
    if (fstat(page.fd, &st) != 0) return errno;
    if (!S_ISREG(st.st_mode)) return EINVAL;
    if (static_cast<uint64_t>(st.st_dev) != page.dev ||
        static_cast<uint64_t>(st.st_ino) != page.ino) {
      return EINVAL;
    }
    const int fl = fcntl(page.fd, F_GETFL);
    if (fl < 0) return errno;
    const int acc = fl & O_ACCMODE;
    if (acc == O_WRONLY) return EACCES;
    if ((page.prot & PROT_WRITE) && acc != O_RDWR) return EACCES;
    filled = &st;
  }
  const uint64_t max_index =
      static_cast<uint64_t>(std::numeric_limits<off_t>::max()) / PageBytes() - 1;
  if (page.index > max_index) return EINVAL;
  if (static_cast<uint64_t>(filled->st_size) <= page.index * PageBytes()) {
    return EINVAL;
  }
  return 0;
}

// Maps PAGE into E's slot (over its old mapping, if any). Returns 0 or an
// errno; on failure E has no mapping left (addr nullptr).
int MapSlot(sl_sfbuf* e, const struct sl_page& page) {
  const off_t off = static_cast<off_t>(page.index * PageBytes());
  void* want = e->addr;
  void* p = mmap(want, PageBytes(), page.prot,
                 MAP_SHARED | (want != nullptr ? MAP_FIXED : 0), page.fd, off);
  if (p == MAP_FAILED) {
    const int err = errno;
    // A failed MAP_FIXED may have taken the old mapping away: drop the slot.
    if (want != nullptr) munmap(want, PageBytes());
    e->addr = nullptr;
    return err;
  }
  e->addr = static_cast<char*>(p);
  return 0;
}

void Unmap(std::vector<sl_sfbuf*>* dead) {
  for (sl_sfbuf* e : *dead) {
    if (e->addr != nullptr) munmap(e->addr, PageBytes());
    e->magic = 0;
    delete e;
  }
  dead->clear();
}

// The calling thread's eventfd for waiting, made on first use.
int ThreadEventFd(int* efd) {
  static thread_local common::UniqueFd fd;
  if (!fd.ok()) {
    fd.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd.ok()) return errno;
  }
  *efd = fd.get();
  return 0;
}

void DrainEventFd(int efd) {
  uint64_t n;
  while (read(efd, &n, sizeof n) == sizeof n) {
  }
}

std::atomic<uint64_t> next_cache_id{1};

// Serializes a ThreadCache's detachment: its thread's exit against its
// cache's destruction.
std::mutex thread_cache_mu;

}  // namespace

// ---------------------------------------------------------------------------
// The calling thread's ThreadCaches, one per SfBufCache it used with
// SFB_CPUPRIVATE. Destroyed at thread exit.

struct ThreadCaches {
  uint64_t last_id = 0;
  ThreadCache* last = nullptr;
  std::vector<std::unique_ptr<ThreadCache>> all;

  ~ThreadCaches() {
    std::lock_guard<std::mutex> lock(thread_cache_mu);
    for (auto& tc : all) {
      if (tc->cache != nullptr) tc->cache->RetireThreadCache(tc.get());
    }
  }
};

namespace {
thread_local ThreadCaches thread_caches;
}  // namespace

// ---------------------------------------------------------------------------
// LruList

namespace sfbuf_internal {

void LruList::PushBack(sl_sfbuf* e) {
  e->next = nullptr;
  e->prev = tail_;
  if (tail_ != nullptr) {
    tail_->next = e;
  } else {
    head_ = e;
  }
  tail_ = e;
  size_++;
}

void LruList::Remove(sl_sfbuf* e) {
  if (e->prev != nullptr) {
    e->prev->next = e->next;
  } else {
    head_ = e->next;
  }
  if (e->next != nullptr) {
    e->next->prev = e->prev;
  } else {
    tail_ = e->prev;
  }
  e->prev = e->next = nullptr;
  size_--;
}

sl_sfbuf* LruList::PopFront() {
  sl_sfbuf* e = head_;
  if (e != nullptr) Remove(e);
  return e;
}

}  // namespace sfbuf_internal

// ---------------------------------------------------------------------------
// SfBufCache

SfBufCache::SfBufCache(Options options)
    : id_(next_cache_id.fetch_add(1, std::memory_order_relaxed)),
      cpuprivate_pages_(options.cpuprivate_pages),
      max_(std::clamp<size_t>(options.max_pages, 1, SL_SFBUF_MAX_LIMIT)) {}

SfBufCache::~SfBufCache() {
  std::vector<sl_sfbuf*> dead;
  std::lock_guard<std::mutex> tlock(thread_cache_mu);
  MutexLock lock(&mu_);
  for (ThreadCache* tc : thread_caches_) {
    for (auto& [key, e] : tc->map) dead.push_back(e);
    tc->map.clear();
    tc->lru = LruList();
    tc->cache = nullptr;
  }
  thread_caches_.clear();
  for (auto& [key, e] : hash_) dead.push_back(e);
  hash_.clear();
  Unmap(&dead);
}

SfBufCache& SfBufCache::Default() {
  static SfBufCache* cache = new SfBufCache(Options{});
  return *cache;
}

int SfBufCache::Alloc(const struct sl_page& page_in, int flags, sl_sfbuf** out) {
  if (flags & ~kAllFlags) return EINVAL;
  struct sl_page page = page_in;
  struct stat st;
  const struct stat* filled = nullptr;
  if (page.prot == 0) {
    if (int err = FillPage(page.fd, page.index, &page, &st); err != 0) return err;
    filled = &st;
  } else if (page.prot != PROT_READ && page.prot != (PROT_READ | PROT_WRITE)) {
    return EINVAL;
  }
  const Key key{page.dev, page.ino, page.index, page.prot};
  if ((flags & SFB_CPUPRIVATE) && cpuprivate_pages_ > 0) {
    return AllocPrivate(key, page, filled, flags, out);
  }
  return AllocShared(key, page, filled, false, flags, out);
}

int SfBufCache::AllocShared(const Key& key, const struct sl_page& page,
                            const struct stat* filled, bool miss_checked,
                            int flags, sl_sfbuf** out) {
  bool waited = false;
  sl_sfbuf* slot = nullptr;
  bool recycled = false;
  {
    MutexLock lock(&mu_);
    for (;;) {
      auto it = hash_.find(key);
      if (it != hash_.end()) {
        *out = HitLocked(it->second);
        return 0;
      }
      if (!miss_checked) {
        // A miss: check the descriptor, unlocked, before taking a slot.
        mu_.Unlock();
        const int err = CheckMiss(page, filled);
        mu_.Lock();
        if (err != 0) return err;
        miss_checked = true;
        continue;  // the page may have been mapped meanwhile
      }
      slot = TakeSlotLocked(&recycled);
      if (slot != nullptr) break;
      // No slot: this thread's own inactive SFB_CPUPRIVATE pages go first.
      if (ThreadCache* tc = FindThreadCache(); tc != nullptr && !tc->lru.empty()) {
        std::vector<sl_sfbuf*> dead;
        TrimLocked(tc, /*all=*/true, &dead);
        mu_.Unlock();
        Unmap(&dead);
        mu_.Lock();
        continue;
      }
      if (flags & SFB_NOWAIT) {
        Bump(failures_);
        return EAGAIN;
      }
      // Other threads give back theirs at their next SFB_CPUPRIVATE call.
      if (private_mapped_ > 0) trim_epoch_.fetch_add(1, std::memory_order_release);
      if (!waited) {
        Bump(waits_);
        waited = true;
      }
      if (const int err = WaitLocked(flags & SFB_CATCH); err != 0) {
        if (err == EINTR) Bump(failures_);
        return err;
      }
    }
  }
  const int err = MapSlot(slot, page);
  std::vector<sl_sfbuf*> dead;
  {
    MutexLock lock(&mu_);
    if (err == 0) {
      auto [it, inserted] = hash_.try_emplace(key, slot);
      if (inserted) {
        slot->key = key;
        slot->page = page;
        slot->page.fd = -1;
        slot->cached = true;
        slot->refs = 1;
        SharedInUseUpLocked();
        Bump(misses_);
        if (recycled) Bump(recycles_);
        *out = slot;
        return 0;
      }
      // A racing miss of the same page won: take its mapping, drop ours.
      *out = HitLocked(it->second);
    }
    DropSlotLocked(slot, false);
    dead.push_back(slot);
  }
  Unmap(&dead);
  return err;
}

sl_sfbuf* SfBufCache::HitLocked(sl_sfbuf* e) {
  if (e->refs++ == 0) {
    lru_.Remove(e);
    SharedInUseUpLocked();
  }
  Bump(hits_);
  return e;
}

sl_sfbuf* SfBufCache::TakeSlotLocked(bool* recycled) {
  if (mapped_ < max_) {
    mapped_++;
    *recycled = false;
    return new sl_sfbuf(this);
  }
  sl_sfbuf* e = lru_.PopFront();
  if (e == nullptr) return nullptr;
  hash_.erase(e->key);
  e->cached = false;
  *recycled = true;
  return e;
}

sl_sfbuf* SfBufCache::TakePrivateSlotLocked(bool* recycled) {
  // Per-thread caches together hold at most half the pool, so that the
  // shared path always has slots that its own frees give back.
  if (private_mapped_ + 1 > max_ / 2) return nullptr;
  sl_sfbuf* e = TakeSlotLocked(recycled);
  if (e != nullptr) {
    private_mapped_++;
    UpdatePeakLocked();
  }
  return e;
}

void SfBufCache::DropSlotLocked(sl_sfbuf* e, bool was_private) {
  if (e->cached && !was_private) {
    hash_.erase(e->key);
    e->cached = false;
  }
  mapped_--;
  if (was_private) private_mapped_--;
  WakeOneLocked();
}

void SfBufCache::WakeOneLocked() {
  Waiter* w = waiters_head_;
  if (w == nullptr) return;
  waiters_head_ = w->next;
  if (waiters_head_ == nullptr) waiters_tail_ = nullptr;
  w->next = nullptr;
  w->woken = true;
  const uint64_t one = 1;
  // Under mu_: the waiter (and its thread's eventfd) cannot go away.
  (void)!write(w->efd, &one, sizeof one);
}

int SfBufCache::WaitLocked(bool catch_signals) {
  Waiter w{};
  if (int err = ThreadEventFd(&w.efd); err != 0) return err;
  DrainEventFd(w.efd);  // a wake-up left over from an interrupted wait
  if (waiters_tail_ != nullptr) {
    waiters_tail_->next = &w;
  } else {
    waiters_head_ = &w;
  }
  waiters_tail_ = &w;

  sigset_t all, old;
  if (catch_signals) {
    // From here until ppoll() a signal stays pending, and ppoll() unblocks
    // it atomically: one that arrives before the thread sleeps still
    // interrupts the sleep.
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
  }
  mu_.Unlock();
  struct pollfd pfd = {w.efd, POLLIN, 0};
  int r;
  if (catch_signals) {
    r = ppoll(&pfd, 1, nullptr, &old);
  } else {
    do {
      r = poll(&pfd, 1, -1);
    } while (r < 0 && errno == EINTR);
  }
  const int err = r < 0 ? errno : 0;
  if (catch_signals) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  mu_.Lock();

  if (!w.woken) {  // still queued: take it out
    Waiter** pp = &waiters_head_;
    Waiter* prev = nullptr;
    while (*pp != &w) {
      prev = *pp;
      pp = &(*pp)->next;
    }
    *pp = w.next;
    if (waiters_tail_ == &w) waiters_tail_ = prev;
  } else if (err != 0) {
    WakeOneLocked();  // leaving with a wake-up meant for a slot: pass it on
  }
  return err == EINTR ? EINTR : 0;
}

// ---------------------------------------------------------------------------
// SFB_CPUPRIVATE

ThreadCache* SfBufCache::FindThreadCache() {
  ThreadCaches& tcs = thread_caches;
  if (tcs.last_id == id_) return tcs.last;
  for (auto& tc : tcs.all) {
    if (tc->cache_id == id_) return tc.get();
  }
  return nullptr;
}

ThreadCache* SfBufCache::LocalThreadCache() {
  ThreadCaches& tcs = thread_caches;
  if (tcs.last_id == id_) return tcs.last;
  ThreadCache* found = FindThreadCache();
  if (found == nullptr) {
    {
      // Drop this thread's caches of destroyed SfBufCaches.
      std::lock_guard<std::mutex> tlock(thread_cache_mu);
      tcs.all.erase(std::remove_if(tcs.all.begin(), tcs.all.end(),
                                   [](const std::unique_ptr<ThreadCache>& tc) {
                                     return tc->cache == nullptr;
                                   }),
                    tcs.all.end());
    }
    auto tc = std::make_unique<ThreadCache>(this, id_, &tcs);
    found = tc.get();
    {
      MutexLock lock(&mu_);
      thread_caches_.insert(found);
      found->trim_epoch = trim_epoch_.load(std::memory_order_relaxed);
    }
    tcs.all.push_back(std::move(tc));
  }
  tcs.last_id = id_;
  tcs.last = found;
  return found;
}

int SfBufCache::AllocPrivate(const Key& key, const struct sl_page& page,
                             const struct stat* filled, int flags,
                             sl_sfbuf** out) {
  ThreadCache* tc = LocalThreadCache();
  if (tc->trim_epoch != trim_epoch_.load(std::memory_order_acquire)) {
    TrimThreadCache(tc);
  }
  auto it = tc->map.find(key);
  if (it != tc->map.end()) {
    sl_sfbuf* e = it->second;
    if (e->refs++ == 0) {
      tc->lru.Remove(e);
      Bump(tc->in_use);
    }
    Bump(tc->hits);
    *out = e;
    return 0;
  }
  if (int err = CheckMiss(page, filled); err != 0) return err;
  sl_sfbuf* slot = nullptr;
  bool recycled = false;
  if (tc->mapped < cpuprivate_pages_) {
    MutexLock lock(&mu_);
    slot = TakePrivateSlotLocked(&recycled);
    if (slot != nullptr && recycled) Bump(recycles_);
  }
  if (slot != nullptr) {
    tc->mapped++;
  } else if (!tc->lru.empty()) {
    slot = tc->lru.PopFront();  // our own least recently used: no lock
    tc->map.erase(slot->key);
    slot->cached = false;
    Bump(tc->recycles);
  } else {
    // Every private page in use, or no share of the pool left: serve it
    // from the shared cache.
    return AllocShared(key, page, nullptr, true, flags & ~SFB_CPUPRIVATE, out);
  }
  if (int err = MapSlot(slot, page); err != 0) {
    tc->mapped--;
    {
      MutexLock lock(&mu_);
      DropSlotLocked(slot, true);
    }
    std::vector<sl_sfbuf*> dead{slot};
    Unmap(&dead);
    return err;
  }
  slot->owner.store(tc, std::memory_order_relaxed);
  slot->key = key;
  slot->page = page;
  slot->page.fd = -1;
  slot->cached = true;
  slot->refs = 1;
  tc->map.emplace(key, slot);
  Bump(tc->in_use);
  Bump(tc->misses);
  *out = slot;
  return 0;
}

void SfBufCache::TrimLocked(ThreadCache* tc, bool all,
                            std::vector<sl_sfbuf*>* dead) {
  while (!tc->lru.empty() && (all || mapped_ > max_ || private_mapped_ > max_ / 2 ||
                              waiters_head_ != nullptr)) {
    sl_sfbuf* e = tc->lru.PopFront();
    tc->map.erase(e->key);
    e->cached = false;
    tc->mapped--;
    DropSlotLocked(e, true);
    dead->push_back(e);
  }
  tc->trim_epoch = trim_epoch_.load(std::memory_order_relaxed);
}

void SfBufCache::TrimThreadCache(ThreadCache* tc) {
  std::vector<sl_sfbuf*> dead;
  {
    MutexLock lock(&mu_);
    TrimLocked(tc, /*all=*/false, &dead);
  }
  Unmap(&dead);
}

void SfBufCache::RetireThreadCache(ThreadCache* tc) {
  std::vector<sl_sfbuf*> dead;
  {
    MutexLock lock(&mu_);
    retired_hits_ += tc->hits.load(std::memory_order_relaxed);
    retired_misses_ += tc->misses.load(std::memory_order_relaxed);
    retired_recycles_ += tc->recycles.load(std::memory_order_relaxed);
    for (auto& [key, e] : tc->map) {
      e->cached = false;
      if (e->refs == 0) {
        DropSlotLocked(e, true);
        dead.push_back(e);
      } else {
        // Still held: becomes a shared entry that nobody can find, unmapped
        // at its last free.
        e->orphan = true;
        e->owner.store(nullptr, std::memory_order_relaxed);
        private_mapped_--;
        shared_in_use_++;
      }
    }
    tc->map.clear();
    tc->lru = LruList();
    tc->cache = nullptr;
    thread_caches_.erase(tc);
  }
  Unmap(&dead);
}

void SfBufCache::FreePrivate(ThreadCache* tc, sl_sfbuf* e) {
  if (e->refs <= 0) Panic("sl_sfbuf_free: the handle is not referenced");
  if (--e->refs > 0) return;
  Drop(tc->in_use);
  tc->lru.PushBack(e);
  if (tc->trim_epoch != trim_epoch_.load(std::memory_order_acquire)) {
    TrimThreadCache(tc);
  }
}

void SfBufCache::FreeShared(sl_sfbuf* e) {
  std::vector<sl_sfbuf*> dead;
  {
    MutexLock lock(&mu_);
    if (e->refs <= 0) Panic("sl_sfbuf_free: the handle is not referenced");
    if (--e->refs > 0) return;
    shared_in_use_--;
    if (e->orphan || mapped_ > max_) {
      DropSlotLocked(e, false);
      dead.push_back(e);
    } else {
      lru_.PushBack(e);
      WakeOneLocked();
    }
  }
  Unmap(&dead);
}

void SfBufCache::Ref(sl_sfbuf* e) {
  CheckHandle(e, "sl_sfbuf_ref");
  ThreadCache* tc = e->owner.load(std::memory_order_relaxed);
  if (tc != nullptr) {
    if (tc->thread_tag != &thread_caches) {
      Panic("sl_sfbuf_ref: a SFB_CPUPRIVATE handle of another thread");
    }
    if (e->refs <= 0) Panic("sl_sfbuf_ref: the handle is not referenced");
    e->refs++;
    return;
  }
  SfBufCache* c = e->cache;
  MutexLock lock(&c->mu_);
  if (e->refs <= 0) Panic("sl_sfbuf_ref: the handle is not referenced");
  e->refs++;
}

void SfBufCache::Free(sl_sfbuf* e) {
  if (e == nullptr) return;
  CheckHandle(e, "sl_sfbuf_free");
  ThreadCache* tc = e->owner.load(std::memory_order_relaxed);
  if (tc != nullptr) {
    if (tc->thread_tag != &thread_caches) {
      Panic("sl_sfbuf_free: a SFB_CPUPRIVATE handle of another thread");
    }
    e->cache->FreePrivate(tc, e);
    return;
  }
  e->cache->FreeShared(e);
}

int SfBufCache::SetMax(size_t pages) {
  if (pages == 0 || pages > SL_SFBUF_MAX_LIMIT) return EINVAL;
  std::vector<sl_sfbuf*> dead;
  {
    MutexLock lock(&mu_);
    const size_t old = max_;
    max_ = pages;
    if (pages < old) {
      while (mapped_ > max_ && !lru_.empty()) {
        sl_sfbuf* e = lru_.PopFront();
        DropSlotLocked(e, false);
        dead.push_back(e);
      }
      trim_epoch_.fetch_add(1, std::memory_order_release);
    } else {
      for (size_t i = old; i < pages && waiters_head_ != nullptr; i++) {
        WakeOneLocked();
      }
    }
  }
  Unmap(&dead);
  return 0;
}

struct sl_sfbuf_stats SfBufCache::Stats() {
  struct sl_sfbuf_stats st = {};
  MutexLock lock(&mu_);
  uint64_t cpu_hits = retired_hits_, cpu_misses = retired_misses_,
           cpu_recycles = retired_recycles_, in_use = shared_in_use_;
  for (ThreadCache* tc : thread_caches_) {
    in_use += tc->in_use.load(std::memory_order_relaxed);
    cpu_hits += tc->hits.load(std::memory_order_relaxed);
    cpu_misses += tc->misses.load(std::memory_order_relaxed);
    cpu_recycles += tc->recycles.load(std::memory_order_relaxed);
  }
  st.in_use = in_use;
  st.peak = peak_;
  st.max = max_;
  st.mapped = mapped_;
  st.waits = waits_.load(std::memory_order_relaxed);
  st.failures = failures_.load(std::memory_order_relaxed);
  st.hits = hits_.load(std::memory_order_relaxed) + cpu_hits;
  st.misses = misses_.load(std::memory_order_relaxed) + cpu_misses;
  st.recycles = recycles_.load(std::memory_order_relaxed) + cpu_recycles;
  st.cpuprivate_hits = cpu_hits;
  st.cpuprivate_misses = cpu_misses;
  st.cpuprivate_mapped = private_mapped_;
  return st;
}

}  // namespace libsyslink

// ---------------------------------------------------------------------------
// The C API: the process's cache.

extern "C" {

int sl_page_init(struct sl_page* page, int fd, uint64_t index) {
  if (page == nullptr) {
    errno = EFAULT;
    return -1;
  }
  struct stat st;
  struct sl_page pg = {};
  if (int err = libsyslink::FillPage(fd, index, &pg, &st); err != 0) {
    errno = err;
    return -1;
  }
  *page = pg;
  return 0;
}

struct sl_sfbuf* sl_sfbuf_alloc(const struct sl_page* page, int flags) {
  if (page == nullptr) {
    errno = EFAULT;
    return nullptr;
  }
  sl_sfbuf* sf = nullptr;
  if (int err = libsyslink::SfBufCache::Default().Alloc(*page, flags, &sf); err != 0) {
    errno = err;
    return nullptr;
  }
  return sf;
}

void* sl_sfbuf_kva(const struct sl_sfbuf* sf) { return sf->addr; }

const struct sl_page* sl_sfbuf_page(const struct sl_sfbuf* sf) { return &sf->page; }

void sl_sfbuf_ref(struct sl_sfbuf* sf) { libsyslink::SfBufCache::Ref(sf); }

void sl_sfbuf_free(struct sl_sfbuf* sf) { libsyslink::SfBufCache::Free(sf); }

int sl_sfbuf_setmax(size_t pages) {
  if (int err = libsyslink::SfBufCache::Default().SetMax(pages); err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

int sl_sfbuf_stats(struct sl_sfbuf_stats* st) {
  if (st == nullptr) {
    errno = EFAULT;
    return -1;
  }
  *st = libsyslink::SfBufCache::Default().Stats();
  return 0;
}

}  // extern "C"
