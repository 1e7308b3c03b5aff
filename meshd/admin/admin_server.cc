#include "meshd/admin/admin_server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "proto/admin.grpc.pb.h"

namespace meshd {
namespace admin {
namespace {

constexpr uint32_t kMaxListLimit = 10000;
constexpr uint32_t kMaxPingCount = 10000;
constexpr uint32_t kMaxIntervalMs = 60000;
constexpr uint32_t kMaxProbeTimeoutMs = 60000;
constexpr uint32_t kDefaultIntervalMs = 1000;
constexpr uint32_t kDefaultProbeTimeoutMs = 5000;
constexpr size_t kMaxPemBytes = 1 << 20;

// A backend answer carried through the executor, so that the executor's own
// errors (shutdown, deadline) stay apart from the backend's.
template <typename T>
struct Answer {
  absl::Status status;
  T value;
};

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// An error from the executor: it already speaks the API's language.
grpc::Status FromExecutor(const absl::Status& s) { return ToGrpc(s); }

// An error from the backend: UNAVAILABLE is reserved for "meshd cannot be
// reached", which syslinkctl reports as such.
grpc::Status FromBackend(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kUnavailable) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(s.message()));
  }
  return ToGrpc(s);
}

grpc::Status InvalidArgument(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

// Node names: 1-63 characters of [A-Za-z0-9._-] (proto/config.proto).
bool ValidNodeName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

ProbeResult ProbeResultOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return PROBE_OK;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kNotFound:
      return PROBE_UNREACHABLE;
    case absl::StatusCode::kDeadlineExceeded:
      return PROBE_TIMEOUT;
    default:
      return PROBE_ERROR;
  }
}

PingReply MakePingReply(uint32_t seq, const std::string& node,
                        const absl::StatusOr<absl::Duration>& rtt) {
  PingReply r;
  r.set_seq(seq);
  r.set_node(node);
  r.set_result(ProbeResultOf(rtt.status()));
  if (rtt.ok()) {
    r.set_rtt_us(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Microseconds(*rtt))));
  } else {
    r.set_error(std::string(rtt.status().message()));
  }
  return r;
}

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string data;
  data.resize(kMaxPemBytes + 1);
  in.read(&data[0], static_cast<std::streamsize>(data.size()));
  if (in.bad()) return common::ErrnoToStatus(errno, absl::StrCat("read ", path));
  data.resize(static_cast<size_t>(in.gcount()));
  if (data.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
  }
  if (data.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty"));
  return data;
}

}  // namespace

// The rpcs. Each runs on a gRPC thread and reaches meshd only through the
// executor.
class AdminServer::Impl final : public Admin::Service {
 public:
  Impl(LoopExecutor* executor, AdminBackend* backend, absl::Duration max_call_wait)
      : executor_(executor), backend_(backend), max_call_wait_(max_call_wait) {}

  grpc::Status GetStatus(grpc::ServerContext* ctx, const GetStatusRequest*,
                         GetStatusResponse* out) override {
    return Query<GetStatusResponse>(ctx, [this] { return backend_->GetStatus(); }, out);
  }
  grpc::Status ListNodes(grpc::ServerContext* ctx, const ListNodesRequest*,
                         ListNodesResponse* out) override {
    return Query<ListNodesResponse>(ctx, [this] { return backend_->ListNodes(); }, out);
  }
  grpc::Status ListLinks(grpc::ServerContext* ctx, const ListLinksRequest*,
                         ListLinksResponse* out) override {
    return Query<ListLinksResponse>(ctx, [this] { return backend_->ListLinks(); }, out);
  }
  grpc::Status ListRoutes(grpc::ServerContext* ctx, const ListRoutesRequest*,
                          ListRoutesResponse* out) override {
    return Query<ListRoutesResponse>(ctx, [this] { return backend_->ListRoutes(); }, out);
  }
  grpc::Status ListSessions(grpc::ServerContext* ctx, const ListSessionsRequest* req,
                            ListSessionsResponse* out) override {
    const size_t limit = Limit(req->limit());
    const std::string& service = req->service();
    return Query<ListSessionsResponse>(
        ctx, [&] { return backend_->ListSessions(service, limit); }, out);
  }
  grpc::Status ListServices(grpc::ServerContext* ctx, const ListServicesRequest*,
                            ListServicesResponse* out) override {
    return Query<ListServicesResponse>(ctx, [this] { return backend_->ListServices(); }, out);
  }
  grpc::Status ListRegions(grpc::ServerContext* ctx, const ListRegionsRequest* req,
                           ListRegionsResponse* out) override {
    const size_t limit = Limit(req->limit());
    return Query<ListRegionsResponse>(ctx, [&] { return backend_->ListRegions(limit); }, out);
  }
  grpc::Status GetSfBufStats(grpc::ServerContext* ctx, const GetSfBufStatsRequest*,
                             GetSfBufStatsResponse* out) override {
    return Query<GetSfBufStatsResponse>(ctx, [this] { return backend_->GetSfBufStats(); }, out);
  }
  grpc::Status GetCounters(grpc::ServerContext* ctx, const GetCountersRequest*,
                           GetCountersResponse* out) override {
    return Query<GetCountersResponse>(ctx, [this] { return backend_->GetCounters(); }, out);
  }

  grpc::Status Drain(grpc::ServerContext* ctx, const DrainRequest*, DrainResponse* out) override {
    grpc::Status s = Query<DrainResponse>(ctx, [this] { return backend_->Drain(); }, out);
    common::Log(s.ok() ? common::LogLevel::kInfo : common::LogLevel::kWarn, "admin",
                "drain requested")
        .Kv("peer", ctx->peer())
        .Kv("ok", s.ok())
        .Kv("was_draining", out->was_draining());
    return s;
  }

  grpc::Status Ping(grpc::ServerContext* ctx, const PingRequest* req,
                    grpc::ServerWriter<PingReply>* writer) override {
    if (!ValidNodeName(req->node())) {
      return InvalidArgument("node: a node name of 1-63 characters from [A-Za-z0-9._-] is required");
    }
    if (req->count() > kMaxPingCount) {
      return InvalidArgument(absl::StrCat("count: at most ", kMaxPingCount));
    }
    if (req->interval_ms() > kMaxIntervalMs) {
      return InvalidArgument(absl::StrCat("interval_ms: at most ", kMaxIntervalMs));
    }
    if (req->timeout_ms() > kMaxProbeTimeoutMs) {
      return InvalidArgument(absl::StrCat("timeout_ms: at most ", kMaxProbeTimeoutMs));
    }
    const std::string node = req->node();
    const uint32_t count = req->count() == 0 ? 1 : req->count();
    const absl::Duration interval =
        absl::Milliseconds(req->interval_ms() == 0 ? kDefaultIntervalMs : req->interval_ms());
    const absl::Duration timeout =
        absl::Milliseconds(req->timeout_ms() == 0 ? kDefaultProbeTimeoutMs : req->timeout_ms());
    for (uint32_t seq = 1; seq <= count; seq++) {
      if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      absl::StatusOr<PingReply> reply = executor_->CallAsync<PingReply>(
          Deadline(ctx, timeout + max_call_wait_), [&](LoopExecutor::Done<PingReply> done) {
            backend_->Ping(node, timeout,
                           [done, seq, node](absl::StatusOr<absl::Duration> rtt) {
                             done(MakePingReply(seq, node, rtt));
                           });
          });
      if (!reply.ok()) return FromExecutor(reply.status());
      if (!writer->Write(*reply)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      }
      if (seq < count) {
        if (grpc::Status s = Pause(ctx, interval); !s.ok()) return s;
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Trace(grpc::ServerContext* ctx, const TraceRequest* req,
                     TraceResponse* out) override {
    if (!ValidNodeName(req->node())) {
      return InvalidArgument("node: a node name of 1-63 characters from [A-Za-z0-9._-] is required");
    }
    if (req->timeout_ms() > kMaxProbeTimeoutMs) {
      return InvalidArgument(absl::StrCat("timeout_ms: at most ", kMaxProbeTimeoutMs));
    }
    const std::string node = req->node();
    const absl::Duration timeout =
        absl::Milliseconds(req->timeout_ms() == 0 ? kDefaultProbeTimeoutMs : req->timeout_ms());
    absl::StatusOr<TraceResponse> r = executor_->CallAsync<TraceResponse>(
        Deadline(ctx, timeout + max_call_wait_), [&](LoopExecutor::Done<TraceResponse> done) {
          backend_->Trace(node, timeout,
                          [done, node](absl::StatusOr<std::vector<TraceHop>> hops) {
                            TraceResponse t;
                            t.set_node(node);
                            t.set_result(ProbeResultOf(hops.status()));
                            if (hops.ok()) {
                              for (TraceHop& h : *hops) *t.add_hops() = std::move(h);
                            } else {
                              t.set_error(std::string(hops.status().message()));
                            }
                            done(std::move(t));
                          });
        });
    if (!r.ok()) return FromExecutor(r.status());
    *out = *std::move(r);
    return grpc::Status::OK;
  }

 private:
  static size_t Limit(uint32_t requested) {
    return requested == 0 ? kMaxListLimit : std::min(requested, kMaxListLimit);
  }

  // The earlier of the client's deadline and now + WAIT.
  static absl::Time Deadline(const grpc::ServerContext* ctx, absl::Duration wait) {
    absl::Time d = absl::Now() + wait;
    const auto client = ctx->deadline();
    if (client != std::chrono::system_clock::time_point::max()) {
      d = std::min(d, absl::FromChrono(client));
    }
    return d;
  }

  // Runs Q on the loop and stores its answer in OUT.
  template <typename Resp, typename Q>
  grpc::Status Query(grpc::ServerContext* ctx, Q q, Resp* out) {
    // Q may refer to this frame: the executor does not return while it runs.
    absl::StatusOr<Answer<Resp>> r = executor_->Call<Answer<Resp>>(
        Deadline(ctx, max_call_wait_), [&q]() -> absl::StatusOr<Answer<Resp>> {
          absl::StatusOr<Resp> v = q();
          Answer<Resp> a;
          if (v.ok()) {
            a.value = *std::move(v);
          } else {
            a.status = v.status();
          }
          return a;
        });
    if (!r.ok()) return FromExecutor(r.status());
    if (!r->status.ok()) return FromBackend(r->status);
    *out = std::move(r->value);
    return grpc::Status::OK;
  }

  // Waits D between pings; stops early (with the status to return) if meshd
  // stops or the client cancels.
  grpc::Status Pause(grpc::ServerContext* ctx, absl::Duration d) {
    const absl::Time end = absl::Now() + d;
    for (absl::Duration left = d; left > absl::ZeroDuration(); left = end - absl::Now()) {
      if (executor_->WaitForShutdown(std::min(left, absl::Milliseconds(100)))) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "meshd is stopping");
      }
      if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    return grpc::Status::OK;
  }

  LoopExecutor* const executor_;
  AdminBackend* const backend_;
  const absl::Duration max_call_wait_;
};

AdminServer::AdminServer(Options options, LoopExecutor* executor, AdminBackend* backend)
    : options_(std::move(options)), executor_(executor), backend_(backend) {}

AdminServer::~AdminServer() { Stop(); }

absl::Status AdminServer::Start() {
  if (started_) return absl::FailedPreconditionError("AdminServer::Start called twice");
  const std::string& path = options_.socket_path;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path[0] != '/' || path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin socket path must be absolute and 1-107 bytes: \"", path, "\""));
  }
  if (options_.socket_mode > 0777) {
    return absl::InvalidArgumentError("admin socket mode must be at most 0777");
  }
  if (options_.max_threads < 1) return absl::InvalidArgumentError("max_threads must be at least 1");
  const bool tcp = !options_.tcp_address.empty();
  if (tcp && (options_.tls_cert_file.empty() || options_.tls_key_file.empty())) {
    return absl::InvalidArgumentError("admin TCP listener needs tls_cert_file and tls_key_file");
  }
  if (!tcp && (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty() ||
               !options_.tls_ca_file.empty())) {
    return absl::InvalidArgumentError("TLS files are only used with an admin TCP address");
  }

  // TLS material first: nothing is touched on disk if it is unusable.
  std::shared_ptr<grpc::ServerCredentials> tls;
  if (tcp) {
    absl::StatusOr<std::string> cert = ReadPem(options_.tls_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(options_.tls_key_file);
    if (!key.ok()) return key.status();
    std::string ca;
    if (!options_.tls_ca_file.empty()) {
      absl::StatusOr<std::string> c = ReadPem(options_.tls_ca_file);
      if (!c.ok()) return c.status();
      ca = *std::move(c);
    }
    grpc::SslServerCredentialsOptions ssl(
        ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                   : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = ca;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    tls = grpc::SslServerCredentials(ssl);
  }

  // The socket path: a live server there is an error; a stale socket file
  // is removed; anything else is left alone (and is an error).
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("admin socket path exists and is not a socket: ", path));
    }
    common::UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.ok() &&
        connect(probe.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("another process is serving the admin socket ", path));
    }
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return common::ErrnoToStatus(errno, absl::StrCat("unlink ", path));
    }
  }
  const size_t slash = path.rfind('/');
  if (slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return common::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir));
    }
  }

  service_ = std::make_unique<Impl>(executor_, backend_, options_.max_call_wait);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  if (tcp) builder.AddListeningPort(options_.tcp_address, tls, &tcp_port_);
  builder.RegisterService(service_.get());
  grpc::ResourceQuota quota("meshd-admin");
  quota.SetMaxThreads(options_.max_threads + 2);  // gRPC keeps a poller or two
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(64 << 10);  // requests are tiny
  // The socket is created with the configured mode (no window with a wider
  // one), then chmod'ed in case the file system ignored the umask.
  const mode_t old_umask = umask(static_cast<mode_t>(~options_.socket_mode & 0777));
  server_ = builder.BuildAndStart();
  umask(old_umask);
  if (server_ == nullptr || (tcp && tcp_port_ == 0)) {
    if (server_ != nullptr) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
    service_.reset();
    return absl::InternalError(absl::StrCat("cannot listen on the admin socket ", path,
                                            tcp ? " or " + options_.tcp_address : std::string()));
  }
  started_ = true;
  if (chmod(path.c_str(), options_.socket_mode) != 0 || lstat(path.c_str(), &st) != 0) {
    absl::Status s = common::ErrnoToStatus(errno, absl::StrCat("chmod ", path));
    Stop();
    return s;
  }
  socket_dev_ = st.st_dev;
  socket_ino_ = st.st_ino;
  common::Log(common::LogLevel::kInfo, "admin", "listening")
      .Kv("socket", path)
      .Kv("tcp", tcp ? absl::StrCat(options_.tcp_address, " (port ", tcp_port_, ")") : "");
  return absl::OkStatus();
}

void AdminServer::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  // First: calls waiting for the loop fail at once (this thread may be the
  // loop's, which would otherwise never answer them).
  executor_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  struct stat st;
  if (lstat(options_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
      st.st_ino == socket_ino_) {
    unlink(options_.socket_path.c_str());
  }
  common::Log(common::LogLevel::kInfo, "admin", "stopped");
}

}  // namespace admin
}  // namespace meshd
