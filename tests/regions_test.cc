// Registered memory regions, for real (SPEC §6): an owner process registers
// part of a syslink_dma_alloc() buffer with its meshd; peers on the same
// node and on another node read and write it one-sidedly by key. Then the
// ways it must refuse: stale, forged and foreign keys, wrong access, out of
// bounds (nothing outside the range is touched), the owner dying, meshd
// restarting; and the registration cache: hits, and no stale key after the
// buffer was freed and other memory mapped at the same address.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "syslink/syslink.h"
#include "tests/harness.h"

namespace {

using testing_harness::Channel;
using testing_harness::Child;
using testing_harness::Meshd;
using testing_harness::TempDir;
using testing_harness::WriteClusterKey;

const char kTimers[] = "heartbeat_interval_ms: 50 dead_interval_ms: 400 "
                       "reconnect_backoff_min_ms: 50 reconnect_backoff_max_ms: 300";

void Use(const Meshd& m) { setenv("SYSLINK_MESHD", m.client_socket().c_str(), 1); }

// A key travels between processes as three int64 values.
void PutKey(Channel* ch, const struct syslink_region_key& k) {
  int64_t v[3];
  memcpy(v, &k, sizeof k);
  ch->PutMany(v, 3);
}

bool GetKey(Channel* ch, struct syslink_region_key* k) {
  int64_t v[3];
  for (auto& x : v) {
    if (!ch->Get(&x)) return false;
  }
  memcpy(k, v, sizeof *k);
  return true;
}

// Byte I of the owner's pattern.
unsigned char Pattern(size_t i) { return static_cast<unsigned char>(i * 7 + 3); }

// Waits (bounded) until FN() is true.
bool Eventually(const std::function<bool()>& fn,
                std::chrono::milliseconds within = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::yield();
  }
  return fn();
}

constexpr size_t kBuf = 1 << 20;        // the owner's buffer
constexpr size_t kRegionOff = 4096 + 100;  // the region inside it (unaligned)
constexpr size_t kRegion = 600 * 1024;     // crosses several SL_DMA_MAX pieces
constexpr unsigned char kGuard = 0xEE;

// The owner: a buffer of kBuf, guard bytes everywhere, the pattern in
// [kRegionOff, kRegionOff + kRegion), registered for ACCESS. Sends the key
// on KEYS, then serves commands from CMD: 1 = report a checksum of the
// region and whether the guards are intact; 2 = deregister; 3 = exit.
int Owner(int access, Channel* keys, Channel* cmd, Channel* out) {
  auto* buf = static_cast<unsigned char*>(syslink_dma_alloc(kBuf));
  if (buf == nullptr) return 10;
  memset(buf, kGuard, kBuf);
  for (size_t i = 0; i < kRegion; i++) buf[kRegionOff + i] = Pattern(i);
  struct syslink_region_key key;
  if (syslink_region_register(buf + kRegionOff, kRegion, access, &key) != 0) {
    keys->Put(-errno);
    return 11;
  }
  PutKey(keys, key);
  for (;;) {
    int64_t c;
    if (!cmd->Get(&c, std::chrono::seconds(120))) return 12;
    if (c == 1) {
      uint64_t sum = 0;
      for (size_t i = 0; i < kRegion; i++) sum = sum * 31 + buf[kRegionOff + i];
      bool guards = true;
      for (size_t i = 0; i < kRegionOff; i++) guards &= buf[i] == kGuard;
      for (size_t i = kRegionOff + kRegion; i < kBuf; i++) guards &= buf[i] == kGuard;
      const int64_t v[2] = {static_cast<int64_t>(sum), guards ? 1 : 0};
      out->PutMany(v, 2);
    } else if (c == 2) {
      out->Put(syslink_region_deregister(&key) == 0 ? 0 : errno);
    } else {
      return 0;
    }
  }
}

uint64_t Checksum(const unsigned char* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum = sum * 31 + p[i];
  return sum;
}

class RegionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<Meshd>(dir_.path(), "solo");
    ASSERT_TRUE(node_->Start()) << node_->ReadLog();
    Use(*node_);
  }

  void TearDown() override {
    if (HasFailure() && node_ != nullptr) fprintf(stderr, "meshd log:\n%s\n", node_->ReadLog().c_str());
  }

  // Starts an owner with ACCESS; fills key_.
  void StartOwner(int access) {
    owner_ = std::make_unique<Child>([=] { return Owner(access, &keys_, &cmd_, &out_); });
    ASSERT_TRUE(GetKey(&keys_, &key_));
    ASSERT_NE(key_.slot, 0u) << "register failed";
  }
  // The owner's view: (checksum, guards intact).
  std::pair<uint64_t, bool> OwnerView() {
    cmd_.Put(1);
    int64_t sum = 0, guards = 0;
    EXPECT_TRUE(out_.Get(&sum));
    EXPECT_TRUE(out_.Get(&guards));
    return {static_cast<uint64_t>(sum), guards == 1};
  }

  TempDir dir_;
  std::unique_ptr<Meshd> node_;
  Channel keys_, cmd_, out_;
  std::unique_ptr<Child> owner_;
  struct syslink_region_key key_ = {};
};

TEST_F(RegionsTest, PeerReadsAndWritesLocally) {
  StartOwner(SL_REGION_READ | SL_REGION_WRITE);
  // Read it all into a plain (unshared, unaligned) buffer, and into a
  // shared aligned one: both paths.
  std::vector<unsigned char> plain(kRegion + 1);
  ASSERT_EQ(syslink_region_read(&key_, 0, plain.data() + 1, kRegion), ssize_t(kRegion))
      << strerror(errno);
  for (size_t i = 0; i < kRegion; i++) ASSERT_EQ(plain[i + 1], Pattern(i)) << i;
  auto* shared = static_cast<unsigned char*>(syslink_dma_alloc(kRegion));
  ASSERT_EQ(syslink_region_read(&key_, 0, shared, kRegion), ssize_t(kRegion));
  EXPECT_EQ(memcmp(shared, plain.data() + 1, kRegion), 0);
  // A small read at an odd offset.
  unsigned char small[10];
  ASSERT_EQ(syslink_region_read(&key_, 12345, small, sizeof small), 10);
  for (size_t i = 0; i < 10; i++) EXPECT_EQ(small[i], Pattern(12345 + i));

  // Write the whole region (from the shared buffer) and part of it again
  // (from a plain one); the owner sees exactly that, and no byte outside.
  for (size_t i = 0; i < kRegion; i++) shared[i] = static_cast<unsigned char>(i ^ 0x5A);
  ASSERT_EQ(syslink_region_write(&key_, 0, shared, kRegion), ssize_t(kRegion));
  std::vector<unsigned char> patch(5000, 0x11);
  ASSERT_EQ(syslink_region_write(&key_, kRegion - 5000, patch.data(), 5000), 5000);
  memcpy(shared + kRegion - 5000, patch.data(), 5000);
  auto [sum, guards] = OwnerView();
  EXPECT_EQ(sum, Checksum(shared, kRegion));
  EXPECT_TRUE(guards) << "a byte outside the region changed";
  // And a zero-length operation checks the key without moving anything.
  EXPECT_EQ(syslink_region_read(&key_, kRegion, small, 0), 0);
  syslink_dma_free(shared);
  struct syslink_region_stats st;
  ASSERT_EQ(syslink_region_get_stats(&st), 0);
  EXPECT_GE(st.ops, 6u);
}

TEST_F(RegionsTest, RefusesWhatTheKeyDoesNotAllow) {
  StartOwner(SL_REGION_READ);
  unsigned char b[4096];
  memset(b, 0x77, sizeof b);
  // Read-only: writes are refused.
  EXPECT_EQ(syslink_region_write(&key_, 0, b, 100), -1);
  EXPECT_EQ(errno, EACCES);
  // Out of bounds, overflow included: refused, nothing read.
  EXPECT_EQ(syslink_region_read(&key_, kRegion - 10, b, 11), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_EQ(b[0], 0x77);
  EXPECT_EQ(syslink_region_read(&key_, kRegion + 1, b, 0), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_EQ(syslink_region_read(&key_, UINT64_MAX - 5, b, 10), -1);
  EXPECT_EQ(errno, ERANGE);
  // Forged: the right slot and generation, another secret.
  struct syslink_region_key forged = key_;
  forged.secret ^= 1;
  EXPECT_EQ(syslink_region_read(&forged, 0, b, 10), -1);
  EXPECT_EQ(errno, EACCES);
  // Another generation, another slot: no such region.
  forged = key_;
  forged.generation++;
  EXPECT_EQ(syslink_region_read(&forged, 0, b, 10), -1);
  EXPECT_EQ(errno, ENOENT);
  forged = key_;
  forged.slot += 1000;
  EXPECT_EQ(syslink_region_read(&forged, 0, b, 10), -1);
  EXPECT_EQ(errno, ENOENT);
  // Another node's key: unknown node.
  forged = key_;
  forged.node ^= 0x1234;
  EXPECT_EQ(syslink_region_read(&forged, 0, b, 10), -1);
  EXPECT_EQ(errno, EHOSTUNREACH);
  // The owner's memory is untouched throughout.
  auto [sum, guards] = OwnerView();
  std::vector<unsigned char> want(kRegion);
  for (size_t i = 0; i < kRegion; i++) want[i] = Pattern(i);
  EXPECT_EQ(sum, Checksum(want.data(), kRegion));
  EXPECT_TRUE(guards);
  // Deregistered: the key is dead at once.
  cmd_.Put(2);
  int64_t err = -1;
  ASSERT_TRUE(out_.Get(&err));
  EXPECT_EQ(err, 0);
  EXPECT_EQ(syslink_region_read(&key_, 0, b, 10), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(RegionsTest, RegionDiesWithItsOwner) {
  StartOwner(SL_REGION_READ | SL_REGION_WRITE);
  // A peer hammers the region from two threads while the owner is killed:
  // every operation succeeds or fails with ENOENT, and once the owner is
  // gone all fail.
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<uint64_t> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&, t] {
      std::vector<unsigned char> b(64 * 1024);
      while (!stop) {
        const ssize_t r = t == 0 ? syslink_region_read(&key_, 0, b.data(), b.size())
                                 : syslink_region_write(&key_, 4096, b.data(), b.size());
        if (r == ssize_t(b.size())) {
          ok++;
        } else if (errno != ENOENT) {
          bad++;
        }
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return ok > 20; }));
  owner_->Kill(SIGKILL);
  owner_->Wait();
  unsigned char b[16];
  EXPECT_TRUE(Eventually([&] {
    return syslink_region_read(&key_, 0, b, sizeof b) == -1 && errno == ENOENT;
  }));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(syslink_region_read(&key_, 0, b, sizeof b), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(RegionsTest, RegistrationCacheNeverServesAStaleKey) {
  const size_t n = 256 * 1024;
  auto* buf = static_cast<unsigned char*>(syslink_dma_alloc(n));
  ASSERT_NE(buf, nullptr);
  struct syslink_region_stats before, after;
  ASSERT_EQ(syslink_region_get_stats(&before), 0);
  struct syslink_region_key k1, k2;
  ASSERT_EQ(syslink_region_register(buf, n, SL_REGION_READ, &k1), 0) << strerror(errno);
  ASSERT_EQ(syslink_region_register(buf, n, SL_REGION_READ, &k2), 0);
  EXPECT_EQ(memcmp(&k1, &k2, sizeof k1), 0) << "the same range: the same key";
  ASSERT_EQ(syslink_region_get_stats(&after), 0);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.cache_misses, before.cache_misses + 1);
  // Another access is another registration.
  struct syslink_region_key k3;
  ASSERT_EQ(syslink_region_register(buf, n, SL_REGION_READ | SL_REGION_WRITE, &k3), 0);
  EXPECT_NE(memcmp(&k1, &k3, sizeof k1), 0);
  // One reference dropped: still alive; the second: gone.
  unsigned char b[8];
  ASSERT_EQ(syslink_region_deregister(&k1), 0);
  EXPECT_EQ(syslink_region_read(&k1, 0, b, 8), 8) << strerror(errno);
  ASSERT_EQ(syslink_region_deregister(&k2), 0);
  EXPECT_EQ(syslink_region_read(&k1, 0, b, 8), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(syslink_region_deregister(&k1), -1);
  EXPECT_EQ(errno, ENOENT);

  // Register, free the buffer, map other memory at the same address: the
  // old key is dead, and registering the new memory never finds it.
  ASSERT_EQ(syslink_region_register(buf, n, SL_REGION_READ, &k1), 0);
  ASSERT_EQ(syslink_dma_free(buf), 0);
  EXPECT_EQ(syslink_region_read(&k1, 0, b, 8), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(syslink_region_read(&k3, 0, b, 8), -1);
  EXPECT_EQ(errno, ENOENT);
  void* again = mmap(buf, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(again, static_cast<void*>(buf));
  EXPECT_EQ(syslink_region_register(buf, n, SL_REGION_READ, &k2), -1);
  EXPECT_EQ(errno, EINVAL) << "not syslink_dma_alloc() memory";
  ASSERT_EQ(munmap(again, n), 0);
  // And a new DMA buffer at the same address (likely, not certain) gets a
  // new key.
  auto* buf2 = static_cast<unsigned char*>(syslink_dma_alloc(n));
  ASSERT_NE(buf2, nullptr);
  memset(buf2, 0x42, n);
  ASSERT_EQ(syslink_region_register(buf2, n, SL_REGION_READ, &k2), 0);
  EXPECT_FALSE(k2.slot == k1.slot && k2.generation == k1.generation);
  EXPECT_EQ(syslink_region_read(&k2, 0, b, 8), 8);
  EXPECT_EQ(b[0], 0x42);
  EXPECT_EQ(syslink_region_read(&k1, 0, b, 8), -1);
  EXPECT_EQ(errno, ENOENT);
  ASSERT_EQ(syslink_region_get_stats(&after), 0);
  EXPECT_GE(after.invalidations, before.invalidations + 2);
  ASSERT_EQ(syslink_dma_free(buf2), 0);
}

TEST_F(RegionsTest, RegisterRefusesBadRanges) {
  struct syslink_region_key k;
  static char plain[8192];
  EXPECT_EQ(syslink_region_register(plain, sizeof plain, SL_REGION_READ, &k), -1);
  EXPECT_EQ(errno, EINVAL);
  auto* buf = static_cast<char*>(syslink_dma_alloc(8192));
  EXPECT_EQ(syslink_region_register(buf, 8193, SL_REGION_READ, &k), -1);
  EXPECT_EQ(errno, EINVAL) << "past the buffer's end";
  EXPECT_EQ(syslink_region_register(buf, 0, SL_REGION_READ, &k), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(syslink_region_register(buf, 10, 0, &k), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(syslink_region_register(buf, 10, 4, &k), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(syslink_region_register(buf, 10, SL_REGION_READ, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(syslink_region_read(nullptr, 0, buf, 1), -1);
  EXPECT_EQ(errno, EFAULT);
  syslink_dma_free(buf);
}

TEST_F(RegionsTest, RegionsDoNotSurviveAMeshdRestart) {
  auto* buf = static_cast<unsigned char*>(syslink_dma_alloc(8192));
  memset(buf, 1, 8192);
  struct syslink_region_key k;
  ASSERT_EQ(syslink_region_register(buf, 8192, SL_REGION_READ, &k), 0);
  unsigned char b[8];
  ASSERT_EQ(syslink_region_read(&k, 0, b, 8), 8);
  node_->Signal(SIGKILL);
  node_->Wait();
  EXPECT_EQ(syslink_region_read(&k, 0, b, 8), -1);
  EXPECT_TRUE(errno == ECONNREFUSED || errno == ECONNABORTED) << strerror(errno);
  ASSERT_TRUE(node_->Start()) << node_->ReadLog();
  // The old key names nothing on the new meshd; registering again works
  // (the library notices its connection is gone and drops its cache).
  EXPECT_EQ(syslink_region_read(&k, 0, b, 8), -1);
  EXPECT_EQ(errno, ENOENT);
  struct syslink_region_key k2;
  ASSERT_EQ(syslink_region_register(buf, 8192, SL_REGION_READ, &k2), 0) << strerror(errno);
  EXPECT_EQ(syslink_region_read(&k2, 0, b, 8), 8) << strerror(errno);
  syslink_dma_free(buf);
}

// Two nodes over loopback: the owner on b, the peer on a.
TEST(RegionsMeshTest, PeerOnAnotherNodeReadsAndWrites) {
  TempDir dir;
  const std::string key = WriteClusterKey(dir.path(), "regions-test-cluster-key-0123456789");
  Meshd b(dir.path(), "b",
          "mesh { listen_address: \"127.0.0.1:0\" cluster_key_file: \"" + key + "\" " + kTimers +
              " }");
  ASSERT_TRUE(b.Start()) << b.ReadLog();
  Meshd a(dir.path(), "a",
          "mesh { listen_address: \"127.0.0.1:0\" cluster_key_file: \"" + key + "\" " + kTimers +
              " peers { address: \"127.0.0.1:" + std::to_string(b.MeshPort()) + "\" } }");
  ASSERT_TRUE(a.Start()) << a.ReadLog();

  Channel keys, cmd, out;
  Use(b);
  Child owner([&] { return Owner(SL_REGION_READ | SL_REGION_WRITE, &keys, &cmd, &out); });
  struct syslink_region_key k;
  ASSERT_TRUE(GetKey(&keys, &k));
  ASSERT_NE(k.slot, 0u);

  Use(a);
  std::vector<unsigned char> got(kRegion);
  // Until the mesh has converged the node is unreachable.
  ASSERT_TRUE(Eventually([&] {
    return syslink_region_read(&k, 0, got.data(), 16) == 16;
  })) << strerror(errno);
  ASSERT_EQ(syslink_region_read(&k, 0, got.data(), kRegion), ssize_t(kRegion)) << strerror(errno);
  for (size_t i = 0; i < kRegion; i++) ASSERT_EQ(got[i], Pattern(i)) << i;
  for (size_t i = 0; i < kRegion; i++) got[i] = static_cast<unsigned char>(~i);
  ASSERT_EQ(syslink_region_write(&k, 0, got.data(), kRegion), ssize_t(kRegion));
  cmd.Put(1);
  int64_t sum = 0, guards = 0;
  ASSERT_TRUE(out.Get(&sum));
  ASSERT_TRUE(out.Get(&guards));
  EXPECT_EQ(static_cast<uint64_t>(sum), Checksum(got.data(), kRegion));
  EXPECT_EQ(guards, 1);
  // Refusals come back across the mesh the same way.
  struct syslink_region_key forged = k;
  forged.secret++;
  EXPECT_EQ(syslink_region_read(&forged, 0, got.data(), 10), -1);
  EXPECT_EQ(errno, EACCES);
  EXPECT_EQ(syslink_region_write(&k, kRegion, got.data(), 1), -1);
  EXPECT_EQ(errno, ERANGE);

  // The owner's node fails: operations end with EHOSTUNREACH.
  b.Signal(SIGKILL);
  b.Wait();
  EXPECT_TRUE(Eventually([&] {
    return syslink_region_read(&k, 0, got.data(), 16) == -1 && errno == EHOSTUNREACH;
  })) << strerror(errno);
  cmd.Put(3);
  owner.Wait();
}

}  // namespace
