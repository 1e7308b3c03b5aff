// DMA transfer machinery for local links: memfd-backed buffers, the cache of
// memfds received from peers, and pipes that carry data out of band.
//
// Copies per path (originator's buffer -> target's iov[1]):
//   DMAW, buffer from syslink_dma_alloc(): the memfd goes with the command;
//        the target maps it (cached) and copies once into iov[1].
//   DMAW, any other buffer: the pages are vmsplice()d into a fresh pipe
//        (pinned, not copied); the target copies once when it reads the pipe.
//   DMAR reply, originator buffer from syslink_dma_alloc(): the target writes
//        its reply data straight into the originator's memfd: one copy.
//   DMAR reply, any other buffer: the target's data is written into a pipe
//        (one copy, so the target may reuse its buffer at once) and read into
//        the originator's buffer (a second copy).
#ifndef LIBSYSLINK_DMA_H_
#define LIBSYSLINK_DMA_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <list>

#include "absl/container/flat_hash_map.h"
#include <mutex>

namespace libsyslink {

// The buffers made by syslink_dma_alloc(), found by address.
class DmaBuffers {
 public:
  static DmaBuffers& Get();  // the process's table

  // Allocates BYTES (rounded up to pages). Returns nullptr and sets errno.
  void* Alloc(size_t bytes);
  // Returns 0, or EINVAL if BASE is not an allocation's start.
  int Free(void* base);

  // If [P, P + LEN) lies within one allocation, returns true with *FD set to
  // a descriptor for its memfd (read-only unless WRITABLE; owned by the
  // table, valid until Free) and *OFFSET to P's offset in it.
  bool Find(const void* p, size_t len, bool writable, int* fd, uint64_t* offset);

 private:
  struct Buffer {
    char* base;
    size_t size;
    int rw_fd;
    int ro_fd;  // opened on first read-only use, -1 until then
  };
  std::mutex mu_;
  std::map<uintptr_t, Buffer> by_base_;
};

// A peer's memfd mapped into this process.
struct Mapping {
  Mapping(char* addr, size_t size, bool writable)
      : addr(addr), size(size), writable(writable) {}
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  char* const addr;
  const size_t size;
  const bool writable;
};

// Mappings of memfds received from peers, keyed by inode, least recently
// used first out. Bounded by entry count and mapped bytes; a mapping in use
// (held by a caller) outlives its eviction.
class MapCache {
 public:
  static constexpr size_t kMaxEntries = 64;
  static constexpr size_t kMaxBytes = 256u << 20;
  static constexpr size_t kMaxObject = 64u << 20;  // larger memfds: not cached

  static MapCache& Get();  // the process's cache

  // Maps memfd FD (validated: a sealed memfd that cannot shrink; writable
  // only if the descriptor is O_RDWR and not write-sealed) or returns the
  // cached mapping of the same object. Returns 0 with *OUT set, or an errno
  // (EINVAL for a descriptor that is not a usable memfd).
  int Map(int fd, bool need_write, std::shared_ptr<Mapping>* out);

  struct Stats {
    uint64_t hits, misses, evictions;
    size_t entries, bytes;
  };
  Stats stats();

 private:
  struct Key {
    dev_t dev;
    ino_t ino;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.dev, k.ino);
    }
    bool operator==(const Key& o) const { return dev == o.dev && ino == o.ino; }
  };
  struct Entry {
    Key key;
    std::shared_ptr<Mapping> mapping;
  };
  void EvictLocked();

  std::mutex mu_;
  std::list<Entry> lru_;  // front: most recent
  absl::flat_hash_map<Key, std::list<Entry>::iterator> index_;
  size_t bytes_ = 0;
  Stats stats_ = {};
};

// Makes a pipe holding BUF's LEN bytes by reference (vmsplice: the pages are
// pinned, not copied; BUF must stay intact until the reader is done) and
// returns its read end in *READ_FD. Returns 0 or an errno. When the pipe
// cannot be made large enough (the user's pipe-buffer limit), falls back to
// a sealed memfd holding a copy and sets *AS_MEMFD.
int MakeSplicePipe(const void* buf, size_t len, int* read_fd, bool* as_memfd);

// Like MakeSplicePipe, but copies the data into the pipe, so the caller may
// reuse BUF at once (replies). Same fallback.
int MakeCopyPipe(const void* buf, size_t len, int* read_fd, bool* as_memfd);

// Reads up to LEN bytes from pipe FD into DST without ever blocking (the
// writer is expected to have closed its end). Returns the bytes read.
size_t DrainPipe(int fd, void* dst, size_t len);

// The system page size.
size_t PageSize();

}  // namespace libsyslink

#endif  // LIBSYSLINK_DMA_H_
