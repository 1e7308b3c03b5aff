// RegionTable: the memory regions registered with this meshd (SPEC §6).
//
// A region is a range of an owner process's memfd: meshd holds a
// descriptor of the memfd, and the region server reaches the bytes through
// meshd's sf_buf page-mapping cache. Each registration takes a slot; its
// key is (this node's id, slot, the slot's generation, 64 random bits).
// A slot's generation starts at random and changes every time it is freed,
// so a key outlives its registration by nothing: a freed, reused, forged
// key, or one from before a meshd restart, finds no region (or, forged or
// with odds of 2^-32, the wrong secret).
//
//   RegionTable table(node_id, limits);
//   struct syslink_region_key key;
//   int err = table.Register(owner, pid, uid, std::move(memfd), offset, length,
//                            SL_REGION_READ, &key);
//   const Region* r = table.Check(key, SL_REGION_READ, 0, 4096, &err);
//   table.DropOwner(owner);              // the owner's connection closed
//
// Errors of Check (what syslink_region_read/write return): ENOENT for a key
// of no live region (never issued, freed, re-registered, another node's),
// EACCES for a wrong secret or a missing access right, ERANGE for a range
// outside the region. Every refusal is counted by reason and, where the
// region is known, on the region.
//
// Not thread-safe: everything runs on meshd's loop thread.
#ifndef MESHD_REGIONS_REGION_TABLE_H_
#define MESHD_REGIONS_REGION_TABLE_H_

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/unique_fd.h"
#include "syslink/region.h"
#include "syslink/sfbuf.h"

namespace meshd {

class RegionTable {
 public:
  struct Limits {
    size_t max_regions_per_owner = 1024;
    uint64_t max_region_bytes = uint64_t{1} << 30;
    size_t max_regions = 65536;  // on this node
  };
  struct Region {
    uint32_t slot = 0;
    uint32_t generation = 0;
    uint64_t secret = 0;
    uint32_t access = 0;  // SL_REGION_READ | SL_REGION_WRITE
    common::UniqueFd fd;  // the owner's memfd
    struct sl_page page = {};  // its identity for the sf_buf cache (index 0)
    uint64_t offset = 0;  // of the region in the memfd
    uint64_t length = 0;
    const void* owner = nullptr;
    pid_t owner_pid = 0;
    uid_t owner_uid = 0;
    int64_t registered_unix_ms = 0;
    uint64_t reads = 0, writes = 0, bytes_read = 0, bytes_written = 0;
    uint64_t key_rejects = 0;
  };
  struct Counters {
    uint64_t registered = 0, register_refused = 0, deregistered = 0, dropped_with_owner = 0;
    uint64_t reads = 0, writes = 0, bytes_read = 0, bytes_written = 0;
    uint64_t refused_unknown = 0;  // ENOENT: no such region (stale keys)
    uint64_t refused_secret = 0;   // EACCES: forged keys
    uint64_t refused_access = 0;   // EACCES: not registered for the op
    uint64_t refused_bounds = 0;   // ERANGE
    uint64_t refused_malformed = 0;  // EINVAL: not a region request at all
  };

  RegionTable(uint64_t node_id, Limits limits);

  // New limits (a reload): they apply to the next Register. Regions already
  // registered stay, even over a lowered limit.
  void SetLimits(const Limits& limits) { limits_ = limits; }
  const Limits& limits() const { return limits_; }

  // Registers LENGTH bytes at OFFSET of memfd FD for ACCESS on behalf of
  // OWNER (a connection; PID and UID for display). FD must be a memfd
  // sealed against shrinking that covers the range, opened O_RDWR and not
  // write-sealed if ACCESS has SL_REGION_WRITE. Returns 0 with *KEY, or
  // EINVAL (bad ACCESS, LENGTH 0, FD unusable or too short), EFBIG (over
  // max_region_bytes), EAGAIN (OWNER or the node at its limit).
  int Register(const void* owner, pid_t pid, uid_t uid, common::UniqueFd fd, uint64_t offset,
               uint64_t length, uint32_t access, struct syslink_region_key* key);
  // Frees the region (SLOT, GENERATION) if OWNER registered it and SECRET
  // is its secret. Returns 0 or ENOENT.
  int Deregister(const void* owner, uint32_t slot, uint32_t generation, uint64_t secret);
  // Frees every region of OWNER (its connection closed). Returns how many.
  size_t DropOwner(const void* owner);

  // The region KEY names, if an operation of ACCESS (one bit) on
  // [OFFSET, OFFSET + LENGTH) may proceed; else nullptr with *ERR set
  // (ENOENT, EACCES, ERANGE), counted. A success counts the operation
  // (unless !COUNT: the same operation checked again). The pointer is
  // valid until the table next changes.
  Region* Check(const struct syslink_region_key& key, uint32_t access, uint64_t offset,
                uint64_t length, int* err, bool count = true);
  // Counts a request that was not a region request at all.
  void CountMalformed() { counters_.refused_malformed++; }

  // Live regions, ordered by slot.
  std::vector<const Region*> List() const;
  size_t size() const { return live_; }
  uint64_t bytes() const { return bytes_; }
  size_t owned_by(const void* owner) const;
  const Counters& counters() const { return counters_; }
  uint64_t node_id() const { return node_id_; }

 private:
  struct Slot {
    uint32_t generation = 1;
    bool live = false;
    Region region;
  };
  void Free(Slot& s);

  const uint64_t node_id_;
  Limits limits_;
  std::vector<Slot> slots_;        // slot n is slots_[n - 1]
  std::vector<uint32_t> free_;     // freed slot numbers, reused last-freed first
  absl::flat_hash_map<const void*, size_t> per_owner_;
  size_t live_ = 0;
  uint64_t bytes_ = 0;
  Counters counters_;
};

}  // namespace meshd

#endif  // MESHD_REGIONS_REGION_TABLE_H_
