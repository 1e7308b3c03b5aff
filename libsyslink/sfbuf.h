// SfBufCache: the page-mapping cache behind syslink/sfbuf.h, as a class so
// that meshd can have its own (its own pool, its own statistics). The C API
// uses the process-wide SfBufCache::Default().
//
//   libsyslink::SfBufCache::Options options;
//   options.max_pages = config.regions().sfbuf_pool_pages();
//   libsyslink::SfBufCache cache(options);    // meshd's own pool and stats
//   struct sl_page pg;
//   sl_page_init(&pg, fd, 0);
//   struct sl_sfbuf* sf;
//   if (int err = cache.Alloc(pg, SFB_NOWAIT, &sf); err != 0) return err;
//   Send(sl_sfbuf_kva(sf), PageSize());
//   SfBufCache::Free(sf);            // or sl_sfbuf_free(sf): same thing
//
// Design (docs/sfbuf.md has the picture):
//   - An entry (struct sl_sfbuf) is one slot: one page-sized MAP_SHARED
//     mapping of (dev, ino, index) with protection prot, and a reference
//     count. The handle given to callers is the entry itself.
//   - Shared entries: a hash (Key -> entry) and an intrusive LRU list of the
//     inactive ones (refs 0, still mapped), both under mu_. A hit takes mu_,
//     finds the entry, bumps refs (unlinking it from the LRU list if it was
//     inactive): no system call. A miss checks the descriptor outside the
//     lock, takes a slot under it (a new one while mapped_ < max_, else the
//     LRU head, whose address is reused with mmap(MAP_FIXED)), maps outside
//     the lock, and inserts under it (a racing miss of the same page gives
//     up its slot and takes the winner's entry).
//   - Waiting: a waiter queues itself (FIFO) with its thread's eventfd and
//     sleeps in ppoll(); each event that makes a slot available (a free to
//     refs 0, a slot given back, max raised) wakes the first waiter. With
//     SFB_CATCH, signals are blocked from the moment the thread queues until
//     ppoll() atomically unblocks them, so a signal in that window is not
//     lost; poll is never restarted, so any handled signal ends the wait.
//   - SFB_CPUPRIVATE: each thread has, per cache, a ThreadCache: its own
//     hash and LRU list, touched by that thread alone with no lock. Its
//     slots come from the pool (under mu_, only on a private miss while the
//     thread holds fewer than cpuprivate_pages slots); once full, a private
//     miss recycles the thread's own LRU head with no lock at all.
//   - Statistics: the shared path's counters are written under mu_; a
//     ThreadCache's (in_use, hits, misses, recycles) are atomics written by
//     its thread alone (plain load + store, no shared cache line) and summed
//     by Stats() under mu_. peak counts every page of per-thread caches as
//     in use, so that it can be kept under mu_ alone.
#ifndef LIBSYSLINK_SFBUF_H_
#define LIBSYSLINK_SFBUF_H_

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "syslink/sfbuf.h"

namespace libsyslink {

class SfBufCache;

namespace sfbuf_internal {

// What a mapping maps: the page and the access.
struct Key {
  uint64_t dev;
  uint64_t ino;
  uint64_t index;
  int32_t prot;

  template <typename H>
  friend H AbslHashValue(H h, const Key& k) {
    return H::combine(std::move(h), k.dev, k.ino, k.index, k.prot);
  }
  bool operator==(const Key& o) const {
    return index == o.index && ino == o.ino && dev == o.dev && prot == o.prot;
  }
};

struct ThreadCache;

// std::mutex with the thread-safety annotations. Not absl::Mutex: the
// system's Abseil is not built for ThreadSanitizer, which then cannot see
// its synchronization, while pthread mutexes it intercepts.
class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace sfbuf_internal
}  // namespace libsyslink

// One slot of the pool: the handle callers hold.
struct sl_sfbuf {
  static constexpr uint32_t kMagic = 0x5f5fb0f1;

  uint32_t magic = kMagic;
  // Shared entries: guarded by cache->mu_. SFB_CPUPRIVATE entries: owned by
  // the owner's thread.
  int64_t refs = 0;
  libsyslink::SfBufCache* const cache;
  // nullptr for a shared entry; atomic only so that misuse from another
  // thread can be detected without a data race.
  std::atomic<libsyslink::sfbuf_internal::ThreadCache*> owner{nullptr};
  char* addr = nullptr;  // the slot: one page, or nullptr before mapping
  libsyslink::sfbuf_internal::Key key = {};
  struct sl_page page = {};     // what sl_sfbuf_page() returns
  bool cached = false;          // findable: in the shared hash or owner's map
  bool orphan = false;          // a CPUPRIVATE entry whose thread exited
  sl_sfbuf* prev = nullptr;     // LRU links, while inactive
  sl_sfbuf* next = nullptr;

  explicit sl_sfbuf(libsyslink::SfBufCache* c) : cache(c) {}
};

namespace libsyslink {
namespace sfbuf_internal {

// An intrusive doubly linked list of inactive entries: front is the least
// recently used.
class LruList {
 public:
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  sl_sfbuf* front() const { return head_; }
  void PushBack(sl_sfbuf* e);
  void Remove(sl_sfbuf* e);
  sl_sfbuf* PopFront();

 private:
  sl_sfbuf* head_ = nullptr;
  sl_sfbuf* tail_ = nullptr;
  size_t size_ = 0;
};

// A thread's SFB_CPUPRIVATE cache for one SfBufCache. Touched without a lock
// by its thread only; `cache` and registration change under the global
// thread-cache mutex (thread exit, cache destruction).
struct ThreadCache {
  SfBufCache* cache;     // nullptr once the cache is destroyed
  const uint64_t cache_id;
  const void* const thread_tag;  // identifies the owning thread
  absl::flat_hash_map<Key, sl_sfbuf*> map;
  LruList lru;
  size_t mapped = 0;     // entries of this cache: in use + inactive
  uint64_t trim_epoch = 0;
  // Written by the owning thread alone (load + store), read by Stats().
  std::atomic<uint64_t> in_use{0};  // entries with references
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> recycles{0};

  ThreadCache(SfBufCache* c, uint64_t id, const void* tag)
      : cache(c), cache_id(id), thread_tag(tag) {}
};

}  // namespace sfbuf_internal

class SfBufCache {
 public:
  struct Options {
    size_t max_pages = SL_SFBUF_DEFAULT_MAX;  // 1..SL_SFBUF_MAX_LIMIT
    size_t cpuprivate_pages = SL_SFBUF_CPUPRIVATE_PAGES;  // per thread
  };

  // A cache with an empty pool of OPTIONS.max_pages slots (clamped to
  // 1..SL_SFBUF_MAX_LIMIT).
  explicit SfBufCache(Options options);
  SfBufCache() : SfBufCache(Options{}) {}
  // Unmaps everything. Requires: no handle of this cache is referenced and
  // no thread is inside one of its calls. Threads' SFB_CPUPRIVATE caches
  // of it are released here (their threads never touch them again).
  ~SfBufCache();
  SfBufCache(const SfBufCache&) = delete;
  SfBufCache& operator=(const SfBufCache&) = delete;

  // The process's cache, used by the C API. Never destroyed.
  static SfBufCache& Default();

  // sl_sfbuf_alloc(): returns 0 with *OUT set to a referenced handle, or
  // the errno sl_sfbuf_alloc() documents (PAGE and FLAGS as there).
  int Alloc(const struct sl_page& page, int flags, sl_sfbuf** out);

  // sl_sfbuf_ref() and sl_sfbuf_free() of a handle of any cache (the
  // handle knows its cache). Free(nullptr) does nothing. Misuse (an
  // unreferenced handle, a SFB_CPUPRIVATE handle on another thread)
  // terminates the process.
  static void Ref(sl_sfbuf* sf);
  static void Free(sl_sfbuf* sf);

  // sl_sfbuf_setmax(): 0, or EINVAL for PAGES 0 or over SL_SFBUF_MAX_LIMIT.
  int SetMax(size_t pages);

  // sl_sfbuf_stats(): exact when no thread is inside another call.
  struct sl_sfbuf_stats Stats();

 private:
  using Key = sfbuf_internal::Key;
  using LruList = sfbuf_internal::LruList;
  using ThreadCache = sfbuf_internal::ThreadCache;
  friend struct ThreadCaches;
  friend class SfBufCachePeer;  // tests: holds mu_

  // One thread queued for a slot.
  struct Waiter {
    int efd;
    bool woken = false;
    Waiter* next = nullptr;
  };

  // FILLED: PAGE.fd's fstat() when Alloc() just filled PAGE from it.
  // MISS_CHECKED: the miss checks passed already (a private miss that
  // falls back to the shared cache).
  int AllocShared(const Key& key, const struct sl_page& page,
                  const struct stat* filled, bool miss_checked, int flags,
                  sl_sfbuf** out);
  int AllocPrivate(const Key& key, const struct sl_page& page,
                   const struct stat* filled, int flags, sl_sfbuf** out);
  // A reference to E, found in the hash: revived if inactive.
  sl_sfbuf* HitLocked(sl_sfbuf* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreeShared(sl_sfbuf* e);
  void FreePrivate(ThreadCache* tc, sl_sfbuf* e);

  // A slot for a shared miss: a new entry while mapped_ < max_, else the
  // LRU head (removed from the hash; *RECYCLED set). nullptr: none free.
  sl_sfbuf* TakeSlotLocked(bool* recycled) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same for a thread's private cache, within its share of the pool.
  sl_sfbuf* TakePrivateSlotLocked(bool* recycled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets a slot that is being unmapped: mapped_ (and private_mapped_)
  // drop and a waiter is woken. The caller unmaps and deletes it unlocked.
  void DropSlotLocked(sl_sfbuf* e, bool was_private)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the first waiter, if any.
  void WakeOneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues W, sleeps, dequeues. Returns 0 or EINTR (CATCH only), or an
  // errno if the thread has no eventfd.
  int WaitLocked(bool catch_signals) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The calling thread's cache for this SfBufCache, made on first use.
  ThreadCache* LocalThreadCache();
  // The same, or nullptr if the thread has none.
  ThreadCache* FindThreadCache();
  // Gives back TC's inactive pages (least recently used first) while the
  // pool is over max_, per-thread caches over their share, or threads wait
  // for a slot; with ALL, every one. TC belongs to the calling thread. The
  // caller unmaps *DEAD unlocked.
  void TrimLocked(ThreadCache* tc, bool all, std::vector<sl_sfbuf*>* dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TrimThreadCache(ThreadCache* tc) ABSL_LOCKS_EXCLUDED(mu_);
  // A thread with a cache of ours exits: its inactive pages are unmapped,
  // those it holds become shared orphans, its counters are kept.
  void RetireThreadCache(ThreadCache* tc);

  // A shared mapping gained its first reference.
  void SharedInUseUpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    shared_in_use_++;
    UpdatePeakLocked();
  }
  // peak_ counts every slot of per-thread caches as in use: only their own
  // thread can use them, and their references are not shared counters.
  void UpdatePeakLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    peak_ = std::max<uint64_t>(peak_, shared_in_use_ + private_mapped_);
  }

  const uint64_t id_;  // unique for the process's lifetime
  const size_t cpuprivate_pages_;

  sfbuf_internal::Mutex mu_;
  size_t max_ ABSL_GUARDED_BY(mu_);
  size_t mapped_ ABSL_GUARDED_BY(mu_) = 0;          // every slot
  size_t private_mapped_ ABSL_GUARDED_BY(mu_) = 0;  // slots of ThreadCaches
  absl::flat_hash_map<Key, sl_sfbuf*> hash_ ABSL_GUARDED_BY(mu_);
  LruList lru_ ABSL_GUARDED_BY(mu_);
  Waiter* waiters_head_ ABSL_GUARDED_BY(mu_) = nullptr;
  Waiter* waiters_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_set<ThreadCache*> thread_caches_ ABSL_GUARDED_BY(mu_);
  // Bumped when max_ is lowered or a thread waits for a slot: ThreadCaches
  // then trim on their next SFB_CPUPRIVATE call.
  std::atomic<uint64_t> trim_epoch_{0};

  // Statistics, written under mu_ (the counters are atomics so that they
  // may be read without it); per-thread caches count their own.
  uint64_t shared_in_use_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t peak_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> waits_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> recycles_{0};
  // Counters of exited threads' caches.
  uint64_t retired_hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t retired_misses_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t retired_recycles_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace libsyslink

#endif  // LIBSYSLINK_SFBUF_H_
