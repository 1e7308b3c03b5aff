// Large byte buffers (std::string) handed back for reuse, so that the data
// path does not zero-fill 128 KiB before every read into a fresh one
// (std::string::resize() fills; a buffer that already has the size does
// not). Per thread, bounded: at most kMaxPooled buffers are kept, and only
// buffers of at least kMinPooledBytes.
//
//   std::string payload = common::TakeBuffer(len);   // size() == len
//   ... read into it, use it ...
//   common::GiveBuffer(std::move(payload));          // or just drop it
#ifndef COMMON_BYTE_BUFFERS_H_
#define COMMON_BYTE_BUFFERS_H_

#include <cstddef>
#include <string>
#include <vector>

namespace common {

inline constexpr size_t kMinPooledBytes = 64 * 1024;
inline constexpr size_t kMaxPooled = 16;

namespace internal {
inline std::vector<std::string>& BufferPool() {
  static thread_local std::vector<std::string> pool;
  return pool;
}
}  // namespace internal

// A buffer of exactly LEN bytes, with unspecified contents.
inline std::string TakeBuffer(size_t len) {
  std::vector<std::string>& pool = internal::BufferPool();
  if (len >= kMinPooledBytes) {
    for (size_t i = pool.size(); i-- > 0;) {
      if (pool[i].size() < len) continue;
      std::string s = std::move(pool[i]);
      pool[i] = std::move(pool.back());
      pool.pop_back();
      s.resize(len);  // shrinks: nothing written
      return s;
    }
  }
  std::string s;
  s.resize(len);
  return s;
}

// Keeps S for a later TakeBuffer() (if it is large and the pool has room).
inline void GiveBuffer(std::string&& s) {
  std::vector<std::string>& pool = internal::BufferPool();
  if (s.size() < kMinPooledBytes || pool.size() >= kMaxPooled) return;
  pool.push_back(std::move(s));
}

}  // namespace common

#endif  // COMMON_BYTE_BUFFERS_H_
