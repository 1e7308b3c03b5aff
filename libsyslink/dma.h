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
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <atomic>
#include <list>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include <mutex>

namespace libsyslink {

// Told when a buffer it was given is freed (a Link that announced the
// buffer to its peer passes the news on).
class BufferListener {
 public:
  virtual ~BufferListener() = default;
  virtual void BufferFreed(uint64_t id) = 0;
};

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
  // table, valid until Free), *OFFSET to P's offset in it and *ID to the
  // allocation's id (nonzero, never reused in this process).
  bool Find(const void* p, size_t len, bool writable, int* fd, uint64_t* offset,
            uint64_t* id);
  // LISTENER is told (once) when buffer ID is freed. False if it is gone.
  bool Watch(uint64_t id, std::weak_ptr<BufferListener> listener);
  // True if [P, P + LEN) overlaps any allocation.
  bool Overlaps(const void* p, size_t len);

  // Map mode (syslink_set_dma_map): a view is a peer's memfd pages mapped
  // read-only and shared over whole pages of one of our buffers. SOURCE
  // names what is mapped (the receiving link's serial, the peer's buffer id
  // and offset); a view with the same place and source is already there
  // and needs no system call.
  struct ViewSource {
    uint64_t link;    // Link::serial() of the link that made the view
    uint64_t buffer;  // the peer's buffer id
    uint64_t offset;  // in the peer's memfd
    bool operator==(const ViewSource& o) const {
      return link == o.link && buffer == o.buffer && offset == o.offset;
    }
  };
  // Maps LEN bytes (whole pages) of PEER_FD at SOURCE.offset over P, which
  // must lie inside one of our buffers, page-aligned. Returns true if the
  // view is there (made now, or already). False: nothing changed (copy).
  bool MapView(void* p, size_t len, int peer_fd, const ViewSource& source);
  // Views made so far (each one an mmap; a view found already in place is
  // not counted).
  uint64_t views_mapped() const { return views_mapped_.load(std::memory_order_relaxed); }
  // Restores the buffers' own pages wherever a view overlaps [P, P + LEN).
  void DropViews(const void* p, size_t len);
  // Restores every view made by link LINK (and, if BUFFER != 0, only those
  // of that peer buffer).
  void DropViewsOf(uint64_t link, uint64_t buffer = 0);

 private:
  struct Buffer {
    char* base;
    size_t size;
    int rw_fd;
    int ro_fd;  // opened on first read-only use, -1 until then
    uint64_t id;
    std::vector<std::weak_ptr<BufferListener>> watchers;
    struct View {
      size_t offset;  // in this buffer
      size_t len;
      ViewSource source;
    };
    std::vector<View> views;
  };
  // Restores the buffer's own pages under V (mu_ held).
  static void Restore(const Buffer& b, const Buffer::View& v);
  std::atomic<size_t> views_{0};  // views in all buffers (a lock-free check)
  std::atomic<uint64_t> views_mapped_{0};
  std::mutex mu_;  // guards by_base_ and next_id_
  std::map<uintptr_t, Buffer> by_base_;
  uint64_t next_id_ = 1;
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

// MakeCopyPipe gathering the data from SRC[0..N).
int MakeCopyPipev(const struct iovec* src, int n, int* read_fd, bool* as_memfd);

// Reads up to LEN bytes from pipe FD into DST without ever blocking (the
// writer is expected to have closed its end). Returns the bytes read.
size_t DrainPipe(int fd, void* dst, size_t len);
// DrainPipe scattering into DST[0..N).
size_t DrainPipev(int fd, const struct iovec* dst, int n);

// The system page size.
size_t PageSize();

}  // namespace libsyslink

#endif  // LIBSYSLINK_DMA_H_
