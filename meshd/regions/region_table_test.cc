#include "meshd/regions/region_table.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "libsyslink/region_wire.h"
#include "libsyslink/sfbuf.h"
#include "meshd/regions/region_pages.h"

namespace meshd {
namespace {

constexpr uint64_t kNode = 0xabcdef;

// A sealed memfd of BYTES, O_RDWR (or a read-only reopen of it).
common::UniqueFd Memfd(size_t bytes, bool seal = true) {
  common::UniqueFd fd(memfd_create("region-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  EXPECT_TRUE(fd.ok());
  EXPECT_EQ(ftruncate(fd.get(), static_cast<off_t>(bytes)), 0);
  if (seal) EXPECT_EQ(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  return fd;
}

common::UniqueFd ReadOnly(int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return common::UniqueFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

int owner1, owner2;  // their addresses name two owners

TEST(RegionTable, RegisterCheckDeregister) {
  RegionTable t(kNode, {});
  struct syslink_region_key k;
  ASSERT_EQ(t.Register(&owner1, 10, 20, Memfd(8192), 100, 5000, SL_REGION_READ, &k), 0);
  EXPECT_EQ(k.node, kNode);
  EXPECT_EQ(k.slot, 1u);
  EXPECT_NE(k.generation, 0u);
  EXPECT_NE(k.secret, 0u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.bytes(), 5000u);
  int err = 0;
  RegionTable::Region* r = t.Check(k, SL_REGION_READ, 0, 5000, &err);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->offset, 100u);
  EXPECT_EQ(r->owner_pid, 10);
  EXPECT_EQ(t.counters().reads, 1u);
  EXPECT_EQ(r->bytes_read, 5000u);
  // Deregistering takes the owner and the whole key.
  EXPECT_EQ(t.Deregister(&owner2, k.slot, k.generation, k.secret), ENOENT);
  EXPECT_EQ(t.Deregister(&owner1, k.slot, k.generation, k.secret + 1), ENOENT);
  EXPECT_EQ(t.Deregister(&owner1, k.slot, k.generation, k.secret), 0);
  EXPECT_EQ(t.Deregister(&owner1, k.slot, k.generation, k.secret), ENOENT);
  EXPECT_EQ(t.Check(k, SL_REGION_READ, 0, 1, &err), nullptr);
  EXPECT_EQ(err, ENOENT);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.bytes(), 0u);
}

TEST(RegionTable, EveryRefusalAndItsCounter) {
  RegionTable t(kNode, {});
  struct syslink_region_key k;
  ASSERT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 4096, SL_REGION_READ, &k), 0);
  int err = 0;
  auto refused = [&](struct syslink_region_key key, uint32_t access, uint64_t off,
                     uint64_t len) {
    err = 0;
    return t.Check(key, access, off, len, &err) == nullptr;
  };
  EXPECT_TRUE(refused(k, SL_REGION_WRITE, 0, 1));
  EXPECT_EQ(err, EACCES);
  EXPECT_EQ(t.counters().refused_access, 1u);
  EXPECT_TRUE(refused(k, SL_REGION_READ, 4096, 1));
  EXPECT_EQ(err, ERANGE);
  EXPECT_TRUE(refused(k, SL_REGION_READ, 4097, 0));
  EXPECT_EQ(err, ERANGE);
  EXPECT_TRUE(refused(k, SL_REGION_READ, 1, UINT64_MAX));  // would wrap
  EXPECT_EQ(err, ERANGE);
  EXPECT_TRUE(refused(k, SL_REGION_READ, UINT64_MAX, 2));
  EXPECT_EQ(err, ERANGE);
  EXPECT_EQ(t.counters().refused_bounds, 4u);
  EXPECT_FALSE(refused(k, SL_REGION_READ, 4096, 0));  // empty, at the end: fine
  struct syslink_region_key f = k;
  f.secret ^= 0x8000;
  EXPECT_TRUE(refused(f, SL_REGION_READ, 0, 1));
  EXPECT_EQ(err, EACCES);
  EXPECT_EQ(t.counters().refused_secret, 1u);
  f = k;
  f.generation++;
  EXPECT_TRUE(refused(f, SL_REGION_READ, 0, 1));
  EXPECT_EQ(err, ENOENT);
  f = k;
  f.slot = 0;
  EXPECT_TRUE(refused(f, SL_REGION_READ, 0, 1));
  EXPECT_EQ(err, ENOENT);
  f.slot = 2;
  EXPECT_TRUE(refused(f, SL_REGION_READ, 0, 1));
  EXPECT_EQ(err, ENOENT);
  f = k;
  f.node++;
  EXPECT_TRUE(refused(f, SL_REGION_READ, 0, 1));
  EXPECT_EQ(err, ENOENT);
  EXPECT_EQ(t.counters().refused_unknown, 4u);
  EXPECT_EQ(t.List()[0]->key_rejects, 6u);  // those that named the region
}

TEST(RegionTable, ARegisteredSlotNeverHonoursAnOldKey) {
  RegionTable t(kNode, {});
  struct syslink_region_key k1, k2;
  ASSERT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 4096, SL_REGION_READ, &k1), 0);
  ASSERT_EQ(t.Deregister(&owner1, k1.slot, k1.generation, k1.secret), 0);
  ASSERT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 4096, SL_REGION_READ, &k2), 0);
  EXPECT_EQ(k2.slot, k1.slot);  // the slot is reused ...
  EXPECT_NE(k2.generation, k1.generation);  // ... under a new generation
  int err;
  EXPECT_EQ(t.Check(k1, SL_REGION_READ, 0, 1, &err), nullptr);
  EXPECT_EQ(err, ENOENT);
  EXPECT_NE(t.Check(k2, SL_REGION_READ, 0, 1, &err), nullptr);
}

TEST(RegionTable, AKeyFromBeforeARestartNamesNothing) {
  // A restarted meshd has a new table, whose first slot is 1 again: the
  // old key's generation must not match (tests/chaos found the EACCES this
  // used to give).
  struct syslink_region_key old;
  {
    RegionTable before(kNode, {});
    ASSERT_EQ(before.Register(&owner1, 1, 1, Memfd(4096), 0, 4096, SL_REGION_READ, &old), 0);
  }
  int enoent = 0;
  for (int i = 0; i < 20; i++) {
    RegionTable after(kNode, {});
    struct syslink_region_key k;
    ASSERT_EQ(after.Register(&owner1, 1, 1, Memfd(4096), 0, 4096, SL_REGION_READ, &k), 0);
    EXPECT_EQ(k.slot, old.slot);
    int err;
    EXPECT_EQ(after.Check(old, SL_REGION_READ, 0, 1, &err), nullptr);
    enoent += err == ENOENT;
  }
  EXPECT_EQ(enoent, 20);
}

TEST(RegionTable, RegionsDieWithTheirOwner) {
  RegionTable t(kNode, {});
  struct syslink_region_key a, b, c;
  ASSERT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 4096, SL_REGION_READ, &a), 0);
  ASSERT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 4096, SL_REGION_READ, &b), 0);
  ASSERT_EQ(t.Register(&owner2, 2, 2, Memfd(4096), 0, 4096, SL_REGION_READ, &c), 0);
  EXPECT_EQ(t.owned_by(&owner1), 2u);
  EXPECT_EQ(t.DropOwner(&owner1), 2u);
  EXPECT_EQ(t.DropOwner(&owner1), 0u);
  int err;
  EXPECT_EQ(t.Check(a, SL_REGION_READ, 0, 1, &err), nullptr);
  EXPECT_EQ(t.Check(b, SL_REGION_READ, 0, 1, &err), nullptr);
  EXPECT_NE(t.Check(c, SL_REGION_READ, 0, 1, &err), nullptr);
  EXPECT_EQ(t.counters().dropped_with_owner, 2u);
  EXPECT_EQ(t.size(), 1u);
}

TEST(RegionTable, RefusesUnusableMemoryAndLimits) {
  RegionTable::Limits l;
  l.max_regions_per_owner = 2;
  l.max_region_bytes = 8192;
  l.max_regions = 3;
  RegionTable t(kNode, l);
  struct syslink_region_key k;
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096, /*seal=*/false), 0, 4096, SL_REGION_READ, &k),
            EINVAL) << "not sealed against shrinking";
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 1, 4096, SL_REGION_READ, &k), EINVAL)
      << "past the end of the memfd";
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 0, SL_REGION_READ, &k), EINVAL);
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 10, 0, &k), EINVAL);
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 10, 8, &k), EINVAL);
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), UINT64_MAX, 2, SL_REGION_READ, &k), EINVAL);
  EXPECT_EQ(t.Register(&owner1, 1, 1, common::UniqueFd(), 0, 10, SL_REGION_READ, &k), EINVAL);
  common::UniqueFd rw = Memfd(4096);
  EXPECT_EQ(t.Register(&owner1, 1, 1, ReadOnly(rw.get()), 0, 10, SL_REGION_WRITE, &k), EINVAL)
      << "writable regions need a writable descriptor";
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(16384), 0, 8193, SL_REGION_READ, &k), EFBIG);
  EXPECT_EQ(t.Register(&owner1, 1, 1, ReadOnly(rw.get()), 0, 10, SL_REGION_READ, &k), 0);
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 10, SL_REGION_READ, &k), 0);
  EXPECT_EQ(t.Register(&owner1, 1, 1, Memfd(4096), 0, 10, SL_REGION_READ, &k), EAGAIN)
      << "per owner";
  EXPECT_EQ(t.Register(&owner2, 1, 1, Memfd(4096), 0, 10, SL_REGION_READ, &k), 0);
  EXPECT_EQ(t.Register(&owner2, 1, 1, Memfd(4096), 0, 10, SL_REGION_READ, &k), EAGAIN)
      << "per node";
  EXPECT_EQ(t.counters().register_refused, 11u);
}

TEST(RegionPages, MapsExactlyTheRangeThroughTheCache) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  RegionTable t(kNode, {});
  common::UniqueFd fd = Memfd(64 * page);
  const int raw = fd.get();
  struct syslink_region_key k;
  // The region starts 100 bytes into page 3.
  ASSERT_EQ(t.Register(&owner1, 1, 1, std::move(fd), 3 * page + 100, 40 * page,
                       SL_REGION_READ | SL_REGION_WRITE, &k),
            0);
  int err;
  RegionTable::Region* r = t.Check(k, SL_REGION_WRITE, 0, 1, &err);
  ASSERT_NE(r, nullptr);
  libsyslink::SfBufCache cache;
  {
    RegionPages p;
    ASSERT_EQ(p.Map(&cache, *r, 10, SL_DMA_MAX), 0);
    size_t total = 0;
    for (int i = 0; i < p.count(); i++) {
      memset(p.iov()[i].iov_base, 0xAB, p.iov()[i].iov_len);
      total += p.iov()[i].iov_len;
    }
    EXPECT_EQ(total, size_t{SL_DMA_MAX});
    EXPECT_EQ(p.count(), static_cast<int>(SL_DMA_MAX / page + 1));
  }
  // The bytes written are exactly [3P+110, 3P+110+SL_DMA_MAX) of the memfd.
  (void)raw;
  std::string all(64 * page, '\0');
  ASSERT_EQ(pread(r->fd.get(), all.data(), all.size(), 0), static_cast<ssize_t>(all.size()));
  for (size_t i = 0; i < all.size(); i++) {
    const bool inside = i >= 3 * page + 110 && i < 3 * page + 110 + SL_DMA_MAX;
    ASSERT_EQ(static_cast<unsigned char>(all[i]), inside ? 0xAB : 0) << i;
  }
  EXPECT_EQ(cache.Stats().in_use, 0u) << "released when done";
  RegionPages q;
  EXPECT_EQ(q.Map(&cache, *r, 40 * page - 5, 6), ERANGE);
  EXPECT_EQ(q.Map(&cache, *r, 0, SL_DMA_MAX + 1), ERANGE);
  EXPECT_EQ(q.count(), 0);
}

TEST(RegionWire, EncodeDecodeAndRefusals) {
  namespace region = libsyslink::region;
  alignas(8) unsigned char buf[SL_MAXSIZE];
  region::Request req;
  req.op = region::Op::kWrite;
  req.msgid = 42;
  req.key = {1, 2, 3, 4};
  req.offset = 12345;
  const size_t len = region::EncodeRequest(req, buf);
  ASSERT_EQ(sl_msg_validate(buf, len), 0);
  region::Request got;
  ASSERT_EQ(region::DecodeRequest(buf, len, &got), 0);
  EXPECT_EQ(got.op, region::Op::kWrite);
  EXPECT_EQ(got.msgid, 42u);
  EXPECT_EQ(got.key.generation, 3u);
  EXPECT_EQ(got.offset, 12345u);
  auto* msg = reinterpret_cast<struct syslink_msg*>(buf);
  // The DMA flag must match the op.
  msg->sm_head.se_cmd ^= SE_CMDF_DMAW | SE_CMDF_DMAR;
  EXPECT_EQ(region::DecodeRequest(buf, len, &got), EINVAL);
  msg->sm_head.se_cmd ^= SE_CMDF_DMAW | SE_CMDF_DMAR;
  msg->sm_head.se_cmd = (msg->sm_head.se_cmd & ~SE_CMD_MASK) | 3;  // unknown op
  EXPECT_EQ(region::DecodeRequest(buf, len, &got), EINVAL);
  // Without the offset element.
  alignas(8) unsigned char b2[SL_MAXSIZE];
  auto* m2 = reinterpret_cast<struct syslink_msg*>(b2);
  struct syslink_elm* par = sl_msg_init_cmd(m2, SMPROTO_REGION, 1 | SE_CMDF_DMAR);
  struct syslink_elm* e = sl_elm_make(par, region::kElmKey, sizeof req.key);
  memset(e + 1, 0, sizeof req.key);
  sl_msg_fini(m2);
  EXPECT_EQ(region::DecodeRequest(b2, SL_MSG_ALIGN(m2->sm_bytes), &got), EINVAL);
  // Another protocol.
  region::EncodeRequest(req, buf);
  msg->sm_proto = SM_PROTO_ENCODE(100);
  EXPECT_EQ(region::DecodeRequest(buf, len, &got), EINVAL);
}

}  // namespace
}  // namespace meshd
