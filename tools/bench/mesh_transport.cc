#include "tools/bench/mesh_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "syslink/syslink.h"
#include "tests/harness.h"
#include "tools/bench/bulk.h"
#include "tools/bench/netns.h"
#include "tools/bench/syslink_io.h"

namespace bench {
namespace {

using testing_harness::Meshd;
using testing_harness::TempDir;

constexpr char kService[] = "bench";
constexpr auto kConverge = std::chrono::seconds(20);

std::string& ExtraMeshConfig() {
  static std::string* text = new std::string;
  return *text;
}

// The meshd processes of one repetition (INFO logs: the harness reads the mesh port from the "ready" line).
class MeshCluster {
 public:
  explicit MeshCluster(MeshShape shape) : shape_(shape) {}

  absl::Status Start() {
    const std::string& d = dir_.path();
    const bool veth = shape_ == MeshShape::kTwoNamespaces;
    if (veth) {
      if (absl::Status s = veth_.Create(); !s.ok()) return s;
    }
    if (shape_ == MeshShape::kOneNode) {
      service_ = std::make_unique<Meshd>(d, "n1", "", "", "INFO");
      if (!service_->Start()) return absl::InternalError("meshd n1 did not start: " + service_->ReadLog());
      return absl::OkStatus();
    }
    const std::string key = testing_harness::WriteClusterKey(d, "bench-cluster-key-0123456789abcdef");
    // Over veth, b listens on its side's address and a dials it there.
    const std::string b_address = veth ? veth_.address(1) : "127.0.0.1";
    const std::string mesh =
        "mesh { cluster_key_file: \"" + key + "\" heartbeat_interval_ms: 200 dead_interval_ms: 2000" +
        (shape_ == MeshShape::kTwoNodesNoPolling ? " busy_poll_us: 0" : "") + " " + ExtraMeshConfig();
    service_ = std::make_unique<Meshd>(
        d, "b", mesh + " listen_address: \"" + b_address + ":0\" }", "", "INFO");
    if (veth) service_->SetNetns(veth_.ns(1));
    if (!service_->Start()) return absl::InternalError("meshd b did not start: " + service_->ReadLog());
    client_ = std::make_unique<Meshd>(
        d, "a",
        mesh + " listen_address: \"" + (veth ? veth_.address(0) : "127.0.0.1") +
            ":0\" peers { address: \"" + b_address + ":" + std::to_string(service_->MeshPort()) +
            "\" } }",
        "", "INFO");
    if (veth) client_->SetNetns(veth_.ns(0));
    if (!client_->Start()) return absl::InternalError("meshd a did not start: " + client_->ReadLog());
    // Until a has a route to b, a CONNECT there is EHOSTUNREACH; after, a
    // service that does not exist yet is ECONNREFUSED.
    setenv("SYSLINK_MESHD", client_->client_socket().c_str(), 1);
    const auto deadline = std::chrono::steady_clock::now() + kConverge;
    for (;;) {
      struct syslink_info_connect info = {};
      info.head.version = SYSLINK_INFO_VERSION;
      strcpy(info.node, "b");
      strcpy(info.service, "no-such-service");
      info.timeout_ms = 2000;
      const int r = syslink(SYSLINK_CMD_CONNECT, &info.head, sizeof info);
      if (r == 0) syslink_close(info.fd);
      if (r == 0 || errno == ECONNREFUSED) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError("the two meshds did not converge");
      }
      std::this_thread::yield();
    }
    unsetenv("SYSLINK_MESHD");
    return absl::OkStatus();
  }

  // For the server and client children.
  void UseService() const { setenv("SYSLINK_MESHD", service_->client_socket().c_str(), 1); }
  void UseClient() const {
    setenv("SYSLINK_MESHD", (client_ != nullptr ? client_ : service_)->client_socket().c_str(), 1);
  }
  const char* service_node() const { return shape_ == MeshShape::kOneNode ? "" : "b"; }

 private:
  const MeshShape shape_;
  TempDir dir_;
  VethPair veth_;  // (kTwoNamespaces; removed after the meshds, declared first)
  std::unique_ptr<Meshd> service_, client_;  // (SIGKILLed when this goes)
};

// The service side: LISTEN, Ready, then serve until the client's session
// closes (or the harness says the client is gone).
class Listening {
 public:
  absl::Status Listen() {
    struct syslink_info_listen info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    strcpy(info.service, kService);
    if (syslink(SYSLINK_CMD_LISTEN, &info.head, sizeof info) != 0) {
      return ErrnoStatus("LISTEN", errno);
    }
    fd_ = info.fd;
    return absl::OkStatus();
  }
  ~Listening() {
    if (fd_ >= 0) syslink_close(fd_);
  }
  int fd() const { return fd_; }

  // Reads the next command into M (DMA into DMA). Returns 0 bytes when
  // the session closed, or when STOP_FD became readable before the client
  // opened one (a client that failed to connect). Once the session is open
  // it reads without polling first, as a service would: one system call
  // less per message, like the pair's server.
  absl::StatusOr<size_t> Next(ServerContext& ctx, MsgBuffer* m, void* dma, size_t dma_bytes) {
    for (;;) {
      if (!opened_) {
        struct pollfd p[2] = {{fd_, POLLIN, 0}, {ctx.stop_fd(), POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
          if (errno == EINTR) continue;
          return ErrnoStatus("poll", errno);
        }
        if (!(p[0].revents & POLLIN)) return 0;  // the client is gone
      }
      absl::StatusOr<size_t> n = ReadMessage(fd_, m, dma, dma_bytes);
      if (!n.ok() || *n == 0) return n;
      if (m->msg.sm_proto == (SMPROTO_NOTICE | SM_PROTO_REPLY)) {
        if ((m->msg.sm_head.se_cmd & SE_CMD_MASK) == SL_NOTICE_SESSION_CLOSED) return 0;
        opened_ = true;  // SESSION_OPEN: from now on the close notice ends it
        continue;
      }
      if (m->msg.sm_proto & SM_PROTO_REPLY) continue;
      return n;
    }
  }

 private:
  int fd_ = -1;
  bool opened_ = false;
};

absl::StatusOr<int> ConnectService(const MeshCluster& cluster) {
  cluster.UseClient();
  struct syslink_info_connect info = {};
  info.head.version = SYSLINK_INFO_VERSION;
  strcpy(info.node, cluster.service_node());
  strcpy(info.service, kService);
  info.timeout_ms = 5000;
  if (syslink(SYSLINK_CMD_CONNECT, &info.head, sizeof info) != 0) {
    return ErrnoStatus("CONNECT", errno);
  }
  return info.fd;
}

class SessionEcho : public Transport {
 public:
  SessionEcho(size_t bytes, MeshShape shape) : bytes_(bytes), cluster_(shape) {}

  absl::Status Prepare() override { return cluster_.Start(); }

  absl::Status Serve(ServerContext& ctx) override {
    cluster_.UseService();
    Listening l;
    if (absl::Status s = l.Listen(); !s.ok()) return s;
    absl::Status s = ctx.Ready();
    MsgBuffer m;
    while (s.ok()) {
      absl::StatusOr<size_t> n = l.Next(ctx, &m, nullptr, 0);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      EchoReply(&m);  // (keeps sm_sessid: the reply goes to its session)
      s = WriteMessage(l.fd(), m, nullptr, 0);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    absl::StatusOr<int> fd = ConnectService(cluster_);
    if (!fd.ok()) return fd.status();
    return NewSyslinkMsgClient(*fd, bytes_);
  }

 private:
  const size_t bytes_;
  MeshCluster cluster_;
};

class SessionDmaWrite : public Transport {
 public:
  SessionDmaWrite(size_t bytes, int window, MeshShape shape, DmaReceive receive)
      : bytes_(bytes), window_(window), cluster_(shape), receive_(receive) {}

  absl::Status Prepare() override {
    if (bytes_ < kMinBulkBytes || bytes_ > SL_DMA_MAX || window_ < 1) {
      return absl::InvalidArgumentError("bad DMA size or window");
    }
    return cluster_.Start();
  }

  absl::Status Serve(ServerContext& ctx) override {
    cluster_.UseService();
    Listening l;
    if (absl::Status s = l.Listen(); !s.ok()) return s;
    // Where the data lands: one plain buffer (copied out of meshd's ring),
    // or, in map mode, a ring of syslink_dma_alloc() buffers as deep as the
    // window, so that each can keep the view of one of meshd's ring slots.
    ReceiveBuffers slots;
    if (absl::Status s = slots.Init(receive_, bytes_, window_, l.fd()); !s.ok()) return s;
    absl::Status s = ctx.Ready();
    MsgBuffer m;
    bool first = true;
    while (s.ok()) {
      unsigned char* data = slots.Next();
      absl::StatusOr<size_t> n = l.Next(ctx, &m, data, bytes_);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      if (syslink_dma_bytes() != bytes_) {
        return absl::DataLossError(
            absl::StrCat("DMAW brought ", syslink_dma_bytes(), " bytes, expected ", bytes_));
      }
      s = CheckBulk(data, bytes_, m.msg.sm_msgid, first);
      first = false;
      if (!s.ok()) return s;
      sl_msg_init_reply(&m.msg, &m.msg, 0);
      sl_msg_fini(&m.msg);
      s = WriteMessage(l.fd(), m, nullptr, 0);
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    absl::StatusOr<int> fd = ConnectService(cluster_);
    if (!fd.ok()) return fd.status();
    auto slots = std::make_unique<BufferRing>(DmaBufferKind::kDmaAlloc, bytes_, window_);
    if (!slots->ok()) return ErrnoStatus("allocating DMA buffers", errno);
    const size_t dma_quota = bytes_ * static_cast<size_t>(window_);
    if (dma_quota > SYSLINK_DMA_QUOTA_DEFAULT && syslink_set_quota(*fd, 0, dma_quota) != 0) {
      return ErrnoStatus("syslink_set_quota", errno);
    }
    return NewSyslinkDmaClient(*fd, std::move(slots));
  }

 private:
  const size_t bytes_;
  const int window_;
  MeshCluster cluster_;
  const DmaReceive receive_;
};

constexpr int kRegionSlots = 32;

class RegionClient : public MsgClient {
 public:
  RegionClient(const struct syslink_region_key& key, size_t bytes, bool write,
               unsigned char* buf)
      : key_(key), bytes_(bytes), write_(write), buf_(buf) {}
  ~RegionClient() override { syslink_dma_free(buf_); }

  absl::Status Send(uint64_t) override {
    return absl::UnimplementedError("region operations are one at a time");
  }
  absl::StatusOr<uint64_t> Receive() override {
    return absl::UnimplementedError("region operations are one at a time");
  }
  absl::Status RoundTrip(uint64_t id) override {
    const uint64_t slot = id % kRegionSlots;
    const uint64_t offset = slot * bytes_;
    if (write_) {
      Stamp(buf_, bytes_, slot);
      if (syslink_region_write(&key_, offset, buf_, bytes_) != static_cast<ssize_t>(bytes_)) {
        return ErrnoStatus("syslink_region_write", errno);
      }
      return absl::OkStatus();
    }
    if (syslink_region_read(&key_, offset, buf_, bytes_) != static_cast<ssize_t>(bytes_)) {
      return ErrnoStatus("syslink_region_read", errno);
    }
    absl::Status s = CheckBulk(buf_, bytes_, slot, first_);
    first_ = false;
    return s;
  }

 private:
  const struct syslink_region_key key_;
  const size_t bytes_;
  const bool write_;
  unsigned char* const buf_;
  bool first_ = true;
};

class RegionOps : public Transport {
 public:
  RegionOps(size_t bytes, bool write, MeshShape shape)
      : bytes_(bytes), write_(write), cluster_(shape) {}

  absl::Status Prepare() override {
    if (bytes_ < kMinBulkBytes || bytes_ > SL_DMA_MAX) {
      return absl::InvalidArgumentError("bad region operation size");
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
    key_rd_.reset(p[0]);
    key_wr_.reset(p[1]);
    return cluster_.Start();
  }
  void CloseInParent() override {
    key_rd_.reset();
    key_wr_.reset();
  }

  absl::Status Serve(ServerContext& ctx) override {
    key_rd_.reset();
    cluster_.UseService();
    const size_t size = bytes_ * kRegionSlots;
    auto* mem = static_cast<unsigned char*>(syslink_dma_alloc(size));
    if (mem == nullptr) return ErrnoStatus("syslink_dma_alloc", errno);
    for (int i = 0; i < kRegionSlots; i++) {
      unsigned char* slot = mem + static_cast<size_t>(i) * bytes_;
      FillPattern(slot, bytes_);
      Stamp(slot, bytes_, static_cast<uint64_t>(i));
    }
    struct syslink_region_key key;
    if (syslink_region_register(mem, size, SL_REGION_READ | SL_REGION_WRITE, &key) != 0) {
      return ErrnoStatus("syslink_region_register", errno);
    }
    if (write(key_wr_.get(), &key, sizeof key) != static_cast<ssize_t>(sizeof key)) {
      return ErrnoStatus("sending the key", errno);
    }
    absl::Status s = ctx.Ready();
    // One-sided: nothing to do but stay alive until the client is done.
    struct pollfd p = {ctx.stop_fd(), POLLIN, 0};
    while (s.ok() && poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    return s;
  }

  absl::StatusOr<std::unique_ptr<MsgClient>> Connect() override {
    key_wr_.reset();
    cluster_.UseClient();
    struct syslink_region_key key;
    if (read(key_rd_.get(), &key, sizeof key) != static_cast<ssize_t>(sizeof key)) {
      return absl::UnavailableError("the owner sent no key");
    }
    auto* buf = static_cast<unsigned char*>(syslink_dma_alloc(bytes_));
    if (buf == nullptr) return ErrnoStatus("syslink_dma_alloc", errno);
    return std::unique_ptr<MsgClient>(new RegionClient(key, bytes_, write_, buf));
  }

 private:
  const size_t bytes_;
  const bool write_;
  MeshCluster cluster_;
  common::UniqueFd key_rd_, key_wr_;
};

}  // namespace

std::unique_ptr<Transport> NewSessionEcho(size_t bytes, MeshShape shape) {
  return std::make_unique<SessionEcho>(bytes, shape);
}

void SetExtraMeshConfig(std::string text) { ExtraMeshConfig() = std::move(text); }

std::unique_ptr<Transport> NewSessionDmaWrite(size_t bytes, int window, MeshShape shape,
                                              DmaReceive receive) {
  return std::make_unique<SessionDmaWrite>(bytes, window, shape, receive);
}

std::unique_ptr<Transport> NewRegionOps(size_t bytes, bool write, MeshShape shape) {
  return std::make_unique<RegionOps>(bytes, write, shape);
}

}  // namespace bench
