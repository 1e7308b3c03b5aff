#include "libsyslink/dma.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <vector>

#include "common/unique_fd.h"

namespace libsyslink {

using common::UniqueFd;

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

namespace {

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// A sealed memfd of SIZE bytes: it can neither shrink nor grow, so a peer
// that maps it can never fault past its end.
int MakeSealedMemfd(size_t size, UniqueFd* out) {
  UniqueFd fd(memfd_create("syslink-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.ok()) return errno;
  if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return errno;
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) return errno;
  *out = std::move(fd);
  return 0;
}

// Fallback carrier: a sealed memfd holding a copy of BUF.
// A sealed memfd holding the LEN bytes of SRC[0..N).
int CopyToMemfd(const struct iovec* src, int n, size_t len, int* read_fd) {
  UniqueFd fd;
  int err = MakeSealedMemfd(len == 0 ? 1 : len, &fd);
  if (err != 0) return err;
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    size_t done = 0;
    while (done < src[i].iov_len) {
      ssize_t w = pwrite(fd.get(), static_cast<const char*>(src[i].iov_base) + done,
                         src[i].iov_len - done, static_cast<off_t>(at + done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      done += static_cast<size_t>(w);
    }
    at += done;
  }
  *read_fd = fd.release();
  return 0;
}

size_t TotalLength(const struct iovec* v, int n) {
  size_t len = 0;
  for (int i = 0; i < n; i++) len += v[i].iov_len;
  return len;
}

// Advances *V / *N past DONE bytes (a partial readv/writev).
void Advance(struct iovec** v, int* n, size_t done) {
  while (*n > 0 && done >= (*v)->iov_len) {
    done -= (*v)->iov_len;
    ++*v;
    --*n;
  }
  if (*n > 0) {
    (*v)->iov_base = static_cast<char*>((*v)->iov_base) + done;
    (*v)->iov_len -= done;
  }
}

// A non-blocking pipe that can hold LEN bytes. Returns EPERM when the
// user's pipe-buffer limit forbids it.
int MakeSizedPipe(size_t len, UniqueFd* rd, UniqueFd* wr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return errno;
  rd->reset(fds[0]);
  wr->reset(fds[1]);
  // A pipe holds one page per slot: vmsplice needs a slot per page touched.
  const size_t want = RoundUp(len, PageSize());
  if (want > 16 * PageSize()) {  // the default capacity is 16 slots
    if (fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(want)) < 0) return errno;
  }
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------
// DmaBuffers

DmaBuffers& DmaBuffers::Get() {
  static DmaBuffers* table = new DmaBuffers;
  return *table;
}

void* DmaBuffers::Alloc(size_t bytes) {
  if (bytes == 0 || bytes > (size_t{1} << 40)) {
    errno = EINVAL;
    return nullptr;
  }
  const size_t size = RoundUp(bytes, PageSize());
  UniqueFd fd;
  int err = MakeSealedMemfd(size, &fd);
  if (err != 0) {
    errno = err;
    return nullptr;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  by_base_[reinterpret_cast<uintptr_t>(p)] =
      Buffer{static_cast<char*>(p), size, fd.release(), -1, next_id_++, {}};
  return p;
}

int DmaBuffers::Free(void* base) {
  Buffer b;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_base_.find(reinterpret_cast<uintptr_t>(base));
    if (it == by_base_.end()) return EINVAL;
    b = std::move(it->second);
    views_ -= b.views.size();
    by_base_.erase(it);
  }
  // Peers that were given the buffer may drop their mappings of it.
  for (auto& w : b.watchers) {
    if (auto l = w.lock()) l->BufferFreed(b.id);
  }
  munmap(b.base, b.size);
  close(b.rw_fd);
  if (b.ro_fd >= 0) close(b.ro_fd);
  return 0;
}

bool DmaBuffers::Watch(uint64_t id, std::weak_ptr<BufferListener> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [base, b] : by_base_) {
    if (b.id != id) continue;
    auto* raw = listener.lock().get();
    for (auto& w : b.watchers) {
      if (w.lock().get() == raw) return true;
    }
    // Drop watchers that are gone, so the list stays short.
    std::vector<std::weak_ptr<BufferListener>> live;
    for (auto& w : b.watchers) {
      if (!w.expired()) live.push_back(w);
    }
    live.push_back(std::move(listener));
    b.watchers.swap(live);
    return true;
  }
  return false;
}

bool DmaBuffers::Overlaps(const void* p, size_t len) {
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p), hi = lo + len;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_base_.lower_bound(hi);
  if (it == by_base_.begin()) return false;
  --it;
  return it->first + it->second.size > lo;
}

bool DmaBuffers::Find(const void* p, size_t len, bool writable, int* fd,
                      uint64_t* offset, uint64_t* id) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_base_.upper_bound(addr);
  if (it == by_base_.begin()) return false;
  --it;
  Buffer& b = it->second;
  const uintptr_t start = reinterpret_cast<uintptr_t>(b.base);
  if (addr < start || addr - start > b.size || len > b.size - (addr - start)) {
    return false;
  }
  for (const auto& v : b.views) {  // a peer's pages are mapped there: copy
    if (v.offset < addr - start + len && addr - start < v.offset + v.len) return false;
  }
  if (writable) {
    *fd = b.rw_fd;
  } else {
    if (b.ro_fd < 0) {
      // A second, read-only open file description of the same memfd: the
      // peer can map it for reading (or privately) but never write it.
      char path[64];
      std::snprintf(path, sizeof path, "/proc/self/fd/%d", b.rw_fd);
      b.ro_fd = open(path, O_RDONLY | O_CLOEXEC);
      if (b.ro_fd < 0) return false;
    }
    *fd = b.ro_fd;
  }
  *offset = addr - start;
  *id = b.id;
  return true;
}

void DmaBuffers::Restore(const Buffer& b, const Buffer::View& v) {
  // Our own memfd again: the buffer is whole and shareable as before.
  mmap(b.base + v.offset, v.len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, b.rw_fd,
       static_cast<off_t>(v.offset));
}

bool DmaBuffers::MapView(void* p, size_t len, int peer_fd, const ViewSource& source) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_base_.upper_bound(addr);
  if (it == by_base_.begin()) return false;
  --it;
  Buffer& b = it->second;
  const uintptr_t start = reinterpret_cast<uintptr_t>(b.base);
  if (addr - start > b.size || len > b.size - (addr - start)) return false;
  const size_t off = addr - start;
  for (auto v = b.views.begin(); v != b.views.end();) {
    if (v->offset == off && v->len == len && v->source == source) return true;  // already
    if (v->offset < off + len && off < v->offset + v->len) {
      Restore(b, *v);
      v = b.views.erase(v);
      views_--;
    } else {
      ++v;
    }
  }
  if (mmap(p, len, PROT_READ, MAP_SHARED | MAP_FIXED, peer_fd,
           static_cast<off_t>(source.offset)) == MAP_FAILED) {
    Restore(b, Buffer::View{off, len, source});
    return false;
  }
  b.views.push_back(Buffer::View{off, len, source});
  views_++;
  views_mapped_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void DmaBuffers::DropViews(const void* p, size_t len) {
  if (views_.load(std::memory_order_relaxed) == 0 || len == 0) return;  // the common case
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [base, b] : by_base_) {
    if (b.views.empty()) continue;
    for (auto v = b.views.begin(); v != b.views.end();) {
      const uintptr_t vlo = reinterpret_cast<uintptr_t>(b.base) + v->offset;
      if (vlo < lo + len && lo < vlo + v->len) {
        Restore(b, *v);
        v = b.views.erase(v);
        views_--;
      } else {
        ++v;
      }
    }
  }
}

void DmaBuffers::DropViewsOf(uint64_t link, uint64_t buffer) {
  if (views_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [base, b] : by_base_) {
    for (auto v = b.views.begin(); v != b.views.end();) {
      if (v->source.link == link && (buffer == 0 || v->source.buffer == buffer)) {
        Restore(b, *v);
        v = b.views.erase(v);
        views_--;
      } else {
        ++v;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// MapCache

Mapping::~Mapping() { munmap(addr, size); }

MapCache& MapCache::Get() {
  static MapCache* cache = new MapCache;
  return *cache;
}

int MapCache::Map(int fd, bool need_write, std::shared_ptr<Mapping>* out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode) || st.st_size <= 0) return EINVAL;
  // Only a memfd sealed against shrinking is safe to map: otherwise the
  // peer could truncate it and make us fault on access.
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK)) return EINVAL;
  const int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
  const bool can_write = acc == O_RDWR && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
  if (need_write && !can_write) return EINVAL;
  const Key key{st.st_dev, st.st_ino};
  const size_t size = static_cast<size_t>(st.st_size);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end() && (!need_write || it->second->mapping->writable)) {
      lru_.splice(lru_.begin(), lru_, it->second);
      stats_.hits++;
      *out = it->second->mapping;
      return 0;
    }
    stats_.misses++;
  }
  const int prot = can_write ? PROT_READ | PROT_WRITE : PROT_READ;
  void* p = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return errno;
  auto mapping = std::make_shared<Mapping>(static_cast<char*>(p), size, can_write);
  *out = mapping;
  if (size > kMaxObject) return 0;  // used once, unmapped when released
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) {  // raced, or a read-only one is being upgraded
    bytes_ -= it->second->mapping->size;
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, mapping});
  index_[key] = lru_.begin();
  bytes_ += size;
  EvictLocked();
  return 0;
}

void MapCache::EvictLocked() {
  while (lru_.size() > kMaxEntries || (bytes_ > kMaxBytes && lru_.size() > 1)) {
    Entry& victim = lru_.back();
    bytes_ -= victim.mapping->size;
    index_.erase(victim.key);
    lru_.pop_back();
    stats_.evictions++;
  }
}

MapCache::Stats MapCache::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.entries = lru_.size();
  s.bytes = bytes_;
  return s;
}

// ---------------------------------------------------------------------------
// Pipes

int MakeSplicePipe(const void* buf, size_t len, int* read_fd, bool* as_memfd) {
  *as_memfd = false;
  UniqueFd rd, wr;
  int err = MakeSizedPipe(len, &rd, &wr);
  if (err == EPERM || err == EBUSY) {
    *as_memfd = true;
    const struct iovec v = {const_cast<void*>(buf), len};
    return CopyToMemfd(&v, 1, len, read_fd);
  }
  if (err != 0) return err;
  struct iovec v = {const_cast<void*>(buf), len};
  while (v.iov_len > 0) {
    ssize_t n = vmsplice(wr.get(), &v, 1, SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? ENOBUFS : errno;  // the pipe was sized to fit
    }
    v.iov_base = static_cast<char*>(v.iov_base) + n;
    v.iov_len -= static_cast<size_t>(n);
  }
  *read_fd = rd.release();
  return 0;
}

int MakeCopyPipe(const void* buf, size_t len, int* read_fd, bool* as_memfd) {
  const struct iovec v = {const_cast<void*>(buf), len};
  return MakeCopyPipev(&v, 1, read_fd, as_memfd);
}

int MakeCopyPipev(const struct iovec* src, int n, int* read_fd, bool* as_memfd) {
  *as_memfd = false;
  const size_t len = TotalLength(src, n);
  UniqueFd rd, wr;
  int err = MakeSizedPipe(len, &rd, &wr);
  if (err == EPERM || err == EBUSY) {
    *as_memfd = true;
    return CopyToMemfd(src, n, len, read_fd);
  }
  if (err != 0) return err;
  std::vector<struct iovec> left(src, src + n);
  struct iovec* v = left.data();
  int count = n;
  while (count > 0) {
    ssize_t w = writev(wr.get(), v, std::min(count, IOV_MAX));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? ENOBUFS : errno;  // the pipe was sized to fit
    }
    Advance(&v, &count, static_cast<size_t>(w));
  }
  *read_fd = rd.release();
  return 0;
}

size_t DrainPipe(int fd, void* dst, size_t len) {
  const struct iovec v = {dst, len};
  return DrainPipev(fd, &v, 1);
}

size_t DrainPipev(int fd, const struct iovec* dst, int n) {
  // A peer that bypasses the library could keep the write end open: never
  // wait for it.
  const int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  std::vector<struct iovec> left(dst, dst + n);
  struct iovec* v = left.data();
  int count = n;
  size_t done = 0;
  while (count > 0) {
    ssize_t r = readv(fd, v, std::min(count, IOV_MAX));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
    Advance(&v, &count, static_cast<size_t>(r));
  }
  return done;
}

}  // namespace libsyslink
