#include "meshd/regions/region_table.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <cstdlib>

namespace meshd {

namespace {

int64_t UnixMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

uint64_t RandomSecret() {
  for (;;) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != sizeof v) abort();  // the kernel's RNG cannot fail here
    if (v != 0) return v;
  }
}

// Is FD a memfd meshd may map for ACCESS over [0, END)? Returns 0 or EINVAL.
int CheckMemfd(int fd, uint32_t access, uint64_t end) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return EINVAL;
  // Sealed against shrinking, or the owner could truncate it under our
  // mappings and make meshd fault.
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK)) return EINVAL;
  if (static_cast<uint64_t>(st.st_size) < end) return EINVAL;
  if (access & SL_REGION_WRITE) {
    const int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
    if (acc != O_RDWR || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) return EINVAL;
  }
  return 0;
}

}  // namespace

RegionTable::RegionTable(uint64_t node_id, Limits limits)
    : node_id_(node_id), limits_(limits) {}

int RegionTable::Register(const void* owner, pid_t pid, uid_t uid, common::UniqueFd fd,
                          uint64_t offset, uint64_t length, uint32_t access,
                          struct syslink_region_key* key) {
  auto refuse = [&](int err) {
    counters_.register_refused++;
    return err;
  };
  if (access == 0 || (access & ~uint32_t{SL_REGION_READ | SL_REGION_WRITE}) != 0 ||
      length == 0 || offset + length < offset || !fd.ok()) {
    return refuse(EINVAL);
  }
  if (length > limits_.max_region_bytes) return refuse(EFBIG);
  if (owned_by(owner) >= limits_.max_regions_per_owner || live_ >= limits_.max_regions) {
    return refuse(EAGAIN);
  }
  if (CheckMemfd(fd.get(), access, offset + length) != 0) return refuse(EINVAL);
  struct sl_page page;
  if (sl_page_init(&page, fd.get(), 0) != 0) return refuse(EINVAL);
  page.prot = (access & SL_REGION_WRITE) ? PROT_READ | PROT_WRITE : PROT_READ;

  uint32_t n;
  if (!free_.empty()) {
    n = free_.back();
    free_.pop_back();
  } else {
    slots_.emplace_back();
    n = static_cast<uint32_t>(slots_.size());
    // A random first generation: keys from before a meshd restart (whose
    // table began again at slot 1) name no region here, instead of naming
    // a new one with the wrong secret.
    uint32_t g;
    do {
      g = static_cast<uint32_t>(RandomSecret());
    } while (g == 0);
    slots_.back().generation = g;
  }
  Slot& s = slots_[n - 1];
  s.live = true;
  Region& r = s.region;
  r = Region();
  r.slot = n;
  r.generation = s.generation;
  r.secret = RandomSecret();
  r.access = access;
  r.fd = std::move(fd);
  r.page = page;
  r.offset = offset;
  r.length = length;
  r.owner = owner;
  r.owner_pid = pid;
  r.owner_uid = uid;
  r.registered_unix_ms = UnixMs();
  live_++;
  bytes_ += length;
  per_owner_[owner]++;
  counters_.registered++;
  key->node = node_id_;
  key->slot = r.slot;
  key->generation = r.generation;
  key->secret = r.secret;
  return 0;
}

void RegionTable::Free(Slot& s) {
  const Region& r = s.region;
  bytes_ -= r.length;
  live_--;
  auto it = per_owner_.find(r.owner);
  if (--it->second == 0) per_owner_.erase(it);
  const uint32_t slot = r.slot;
  s.region = Region();  // closes the memfd
  s.live = false;
  // A new generation for the next tenant (never 0: keys carry nonzero ones).
  if (++s.generation == 0) s.generation = 1;
  free_.push_back(slot);
}

int RegionTable::Deregister(const void* owner, uint32_t slot, uint32_t generation,
                            uint64_t secret) {
  if (slot == 0 || slot > slots_.size()) return ENOENT;
  Slot& s = slots_[slot - 1];
  if (!s.live || s.generation != generation || s.region.secret != secret ||
      s.region.owner != owner) {
    return ENOENT;
  }
  Free(s);
  counters_.deregistered++;
  return 0;
}

size_t RegionTable::DropOwner(const void* owner) {
  if (!per_owner_.contains(owner)) return 0;
  size_t n = 0;
  for (Slot& s : slots_) {
    if (s.live && s.region.owner == owner) {
      Free(s);
      n++;
    }
  }
  counters_.dropped_with_owner += n;
  return n;
}

RegionTable::Region* RegionTable::Check(const struct syslink_region_key& key, uint32_t access,
                                        uint64_t offset, uint64_t length, int* err,
                                        bool count) {
  if (key.node != node_id_ || key.slot == 0 || key.slot > slots_.size()) {
    counters_.refused_unknown++;
    *err = ENOENT;
    return nullptr;
  }
  Slot& s = slots_[key.slot - 1];
  if (!s.live || s.generation != key.generation) {
    counters_.refused_unknown++;
    *err = ENOENT;
    return nullptr;
  }
  Region& r = s.region;
  // (A 64-bit compare takes the same time whatever the bits: nothing to
  // learn from timing.)
  if (r.secret != key.secret) {
    counters_.refused_secret++;
    r.key_rejects++;
    *err = EACCES;
    return nullptr;
  }
  if ((r.access & access) != access) {
    counters_.refused_access++;
    r.key_rejects++;
    *err = EACCES;
    return nullptr;
  }
  if (offset > r.length || length > r.length - offset) {
    counters_.refused_bounds++;
    r.key_rejects++;
    *err = ERANGE;
    return nullptr;
  }
  if (!count) return &r;
  if (access == SL_REGION_WRITE) {
    r.writes++;
    r.bytes_written += length;
    counters_.writes++;
    counters_.bytes_written += length;
  } else {
    r.reads++;
    r.bytes_read += length;
    counters_.reads++;
    counters_.bytes_read += length;
  }
  return &r;
}

std::vector<const RegionTable::Region*> RegionTable::List() const {
  std::vector<const Region*> out;
  out.reserve(live_);
  for (const Slot& s : slots_) {
    if (s.live) out.push_back(&s.region);
  }
  return out;
}

size_t RegionTable::owned_by(const void* owner) const {
  auto it = per_owner_.find(owner);
  return it == per_owner_.end() ? 0 : it->second;
}

}  // namespace meshd
