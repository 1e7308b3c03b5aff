// Fuzzes the path of a one-sided region operation through meshd: the
// request decoder (region::DecodeRequest), the key, access and bounds check
// (RegionTable::Check) and the page mapping (RegionPages::Map), against a
// real memfd holding two regions between guard bytes.
//
// Input: byte 0 chooses what key the request carries (bit 0: the real key
// of region 1 instead of the message's; bit 1: region 2's, read-only; bit 2:
// flip a bit of the secret); bytes 1-4 are the DMA length (the DMAR room or
// DMAW bytes, taken modulo SL_DMA_MAX + 1); the rest is the message.
//
// Properties: nothing crashes; an accepted operation maps exactly its
// length, inside its region; a write changes no byte outside the regions;
// a forged secret is never accepted.
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "libsyslink/region_wire.h"
#include "libsyslink/sfbuf.h"
#include "meshd/regions/region_pages.h"
#include "meshd/regions/region_table.h"

namespace {

constexpr uint64_t kNode = 0x1234;
constexpr unsigned char kGuard = 0xEE;

struct World {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t size = 0;
  unsigned char* view = nullptr;  // the memfd as the owner sees it
  meshd::RegionTable table{kNode, {}};
  libsyslink::SfBufCache cache;
  struct syslink_region_key rw = {}, ro = {};
  uint64_t rw_start = 0, rw_len = 0, ro_start = 0, ro_len = 0;

  World() {
    size = 64 * page;
    const int fd = memfd_create("region-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
      abort();
    }
    view = static_cast<unsigned char*>(
        mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (view == MAP_FAILED) abort();
    memset(view, kGuard, size);
    static int owner;
    rw_start = 3 * page + 100;
    rw_len = 20 * page - 200;
    ro_start = 40 * page;
    ro_len = 5 * page + 1;
    if (table.Register(&owner, 1, 1, common::UniqueFd(dup(fd)), rw_start, rw_len,
                       SL_REGION_READ | SL_REGION_WRITE, &rw) != 0 ||
        table.Register(&owner, 1, 1, common::UniqueFd(fd), ro_start, ro_len, SL_REGION_READ,
                       &ro) != 0) {
      abort();
    }
  }
};

World& Get() {
  static World* w = new World;
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  World& w = Get();
  const uint8_t how = data[0];
  uint32_t len32;
  memcpy(&len32, data + 1, 4);
  const size_t len = len32 % (SL_DMA_MAX + 1);
  std::vector<uint8_t> msg(data + 5, data + size);
  if (sl_msg_validate(msg.data(), msg.size()) != 0) return 0;  // the Link's check
  libsyslink::region::Request req;
  if (libsyslink::region::DecodeRequest(msg.data(), msg.size(), &req) != 0) return 0;
  bool forged = false;
  if (how & 3) {
    req.key = (how & 2) ? w.ro : w.rw;
    if (how & 4) {
      req.key.secret ^= uint64_t{1} << (how >> 3);
      forged = true;
    }
  }
  const uint32_t access =
      req.op == libsyslink::region::Op::kWrite ? SL_REGION_WRITE : SL_REGION_READ;
  int err = 0;
  meshd::RegionTable::Region* r = w.table.Check(req.key, access, req.offset, len, &err);
  if (r == nullptr) return 0;
  if (forged) abort();  // a wrong secret got through
  meshd::RegionPages pages;
  if (pages.Map(&w.cache, *r, req.offset, len) != 0) abort();  // checked: must map
  size_t total = 0;
  for (int i = 0; i < pages.count(); i++) {
    const struct iovec& v = pages.iov()[i];
    total += v.iov_len;
    if (access == SL_REGION_WRITE) memset(v.iov_base, 0xAB, v.iov_len);
  }
  if (total != len) abort();
  // The owner's view: every changed byte lies in the writable region.
  if (access == SL_REGION_WRITE) {
    for (size_t i = 0; i < w.size; i++) {
      const bool in_rw = i >= w.rw_start && i < w.rw_start + w.rw_len;
      if (!in_rw && w.view[i] != kGuard) abort();
    }
    // Where this operation wrote.
    for (size_t i = 0; i < len; i++) {
      if (w.view[w.rw_start + req.offset + i] != 0xAB) abort();
    }
  }
  return 0;
}
