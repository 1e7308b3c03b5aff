// Regions: the library's side of syslink/region.h.
//
// Registrations go to the local meshd over one control connection per
// process, kept open for as long as the process has regions: meshd drops
// a connection's regions when it closes, so they die with the process.
// In front of it sits the registration cache, (address, length, access) ->
// key with a reference count; syslink_dma_free() invalidates it (the
// cache watches each buffer it has registered part of).
//
// Operations go over sessions to "meshd.regions" on the region's node
// (CONNECT by node id), pooled per node: a thread takes an idle session,
// runs its operation (up to kWindow pieces of SL_DMA_MAX in flight) and
// gives it back, so threads never share a session and each reply is the
// one its thread waits for.
#ifndef LIBSYSLINK_REGION_H_
#define LIBSYSLINK_REGION_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/unique_fd.h"
#include "libsyslink/control.h"
#include "libsyslink/dma.h"
#include "libsyslink/link.h"
#include "syslink/region.h"

namespace libsyslink {

class RegionClient : public BufferListener,
                     public std::enable_shared_from_this<RegionClient> {
 public:
  // Pieces of one operation in flight at once.
  static constexpr int kWindow = 4;
  // Idle sessions kept per node.
  static constexpr size_t kIdlePerNode = 4;

  static RegionClient& Get();  // the process's

  // The calls of syslink/region.h: 0 or a byte count, or -errno.
  int Register(void* addr, size_t bytes, int access, struct syslink_region_key* key);
  int Deregister(const struct syslink_region_key& key);
  ssize_t Transfer(bool write, const struct syslink_region_key& key, uint64_t offset,
                   char* buf, size_t bytes);
  void GetStats(struct syslink_region_stats* st);

  // BufferListener: a buffer holding registered ranges was freed.
  void BufferFreed(uint64_t id) override;
  // In a child after fork(): forget the parent's connection, registrations
  // and sessions (they are the parent's).
  void AfterFork();
  // pthread_atfork(): the locks are held across fork() so that the child
  // finds them consistent.
  void LockForFork();
  void UnlockForFork();

 private:
  RegionClient() = default;
  struct CacheKey {
    uintptr_t addr;
    size_t bytes;
    int access;
    template <typename H>
    friend H AbslHashValue(H h, const CacheKey& k) {
      return H::combine(std::move(h), k.addr, k.bytes, k.access);
    }
    bool operator==(const CacheKey& o) const {
      return addr == o.addr && bytes == o.bytes && access == o.access;
    }
  };
  struct Entry {
    struct syslink_region_key key;
    uint64_t refs;
    uint64_t buffer;  // the syslink_dma_alloc() buffer's id
  };
  // (slot, generation) of a registration, to find its cache entry.
  static uint64_t Handle(const struct syslink_region_key& k) {
    return uint64_t{k.slot} << 32 | k.generation;
  }
  // A session to one node's region service, with its bounce buffer.
  struct Session {
    uint64_t node = 0;
    std::shared_ptr<Link> link;
    bool relayed = false;
    uint64_t next_msgid = 1;
    char* bounce = nullptr;  // kWindow * SL_DMA_MAX bytes, made on first use
    ~Session();
  };

  // Sends REQ (with PASS_FD) on the control connection, made if need be,
  // and waits for its reply. Returns 0 with *REPLY, or an errno. mu_ held.
  int CallLocked(ctl::Message& req, int pass_fd, ctl::Message* reply);
  // An idle session to NODE (*POOLED), or a new one. Returns 0 or an errno
  // of CONNECT.
  int TakeSession(uint64_t node, std::unique_ptr<Session>* out, bool* pooled);
  // Closes the idle sessions to NODE.
  void DropIdle(uint64_t node);
  void GiveBack(std::unique_ptr<Session> s);
  // Sends deregistrations for KEYS, ignoring failures. mu_ held.
  void DeregisterLocked(const std::vector<struct syslink_region_key>& keys);
  // The connection went away: meshd forgot every registration. mu_ held.
  void LostLocked();

  std::mutex mu_;  // registrations: the connection, the cache, watched ids
  common::UniqueFd conn_;
  uint64_t next_msgid_ = 1;
  absl::flat_hash_map<CacheKey, Entry> cache_;
  absl::flat_hash_map<uint64_t, CacheKey> by_handle_;
  absl::flat_hash_set<uint64_t> watched_;  // buffer ids told to tell us
  uint64_t registered_bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, invalidations_ = 0;

  std::mutex pool_mu_;  // idle sessions by node
  absl::flat_hash_map<uint64_t, std::vector<std::unique_ptr<Session>>> idle_;
  std::atomic<uint64_t> ops_{0}, op_bytes_{0};
};

}  // namespace libsyslink

#endif  // LIBSYSLINK_REGION_H_
