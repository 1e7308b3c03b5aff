#include "meshd/admin/metrics_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/library_log.h"
#include "common/log.h"
#include "meshd/admin/metrics_text.h"

namespace meshd {
namespace admin {

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\": expected host:port"));
  }
  std::string h = address.substr(0, colon);
  const std::string p = address.substr(colon + 1);
  if (!h.empty() && h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') {
      return absl::InvalidArgumentError(absl::StrCat("\"", address, "\": bad [IPv6] address"));
    }
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\": write IPv6 addresses in brackets, [::1]:9464"));
  }
  int n = -1;
  const bool digits = !p.empty() && p.size() <= 5 &&
                      p.find_first_not_of("0123456789") == std::string::npos;
  if (h.empty() || !digits || !absl::SimpleAtoi(p, &n) || n < 0 || n > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\": expected host:port"));
  }
  *host = h;
  *port = n;
  return absl::OkStatus();
}

// The libmicrohttpd callbacks.
struct MetricsServer::Handler {
  // libmicrohttpd's own lines (a malformed request, the connection limit
  // reached), which anyone reaching the port can cause: rate limited.
  static void Log(void*, const char* fmt, va_list ap) {
    static common::LibraryLog* const log = new common::LibraryLog("microhttpd");  // never destroyed
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    log->Write(common::LogLevel::kWarn, nullptr, 0, buf);
  }

  static MHD_Result Respond(MHD_Connection* conn, unsigned code, const std::string& body,
                            const char* content_type) {
    MHD_Response* r = MHD_create_response_from_buffer(
        body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (r == nullptr) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    const MHD_Result q = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return q;
  }

  static MHD_Result OnRequest(void* cls, MHD_Connection* conn, const char* url,
                              const char* method, const char*, const char*,
                              size_t* upload_data_size, void** con_cls) {
    // The first call only announces the request; a body (none expected) is
    // discarded; then answer.
    static int started_marker;
    if (*con_cls == nullptr) {
      *con_cls = &started_marker;
      return MHD_YES;
    }
    if (*upload_data_size != 0) {
      *upload_data_size = 0;
      return MHD_YES;
    }
    auto* self = static_cast<MetricsServer*>(cls);
    constexpr const char* kText = "text/plain; charset=utf-8";
    const bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    const bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get && !head) {
      return Respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n", kText);
    }
    if (strcmp(url, "/metrics") == 0) {
      const MetricsSnapshot snap = TakeMetricsSnapshot(
          self->executor_, self->backend_, absl::Now() + self->options_.scrape_timeout);
      return Respond(conn, MHD_HTTP_OK, RenderMetrics(snap),
                     "text/plain; version=0.0.4; charset=utf-8");
    }
    if (strcmp(url, "/") == 0) {
      return Respond(conn, MHD_HTTP_OK, "meshd: Prometheus metrics at /metrics\n", kText);
    }
    return Respond(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n", kText);
  }
};

MetricsServer::MetricsServer(Options options, LoopExecutor* executor, AdminBackend* backend)
    : options_(std::move(options)), executor_(executor), backend_(backend) {}

MetricsServer::~MetricsServer() { Stop(); }

absl::Status MetricsServer::Start() {
  if (daemon_ != nullptr) return absl::FailedPreconditionError("MetricsServer::Start called twice");
  if (options_.address.empty()) return absl::OkStatus();
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(options_.address, &host, &port); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address ", s.message()));
  }
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  struct addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int gai = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (gai != 0 || res == nullptr) {
    return absl::NotFoundError(absl::StrCat("metrics address ", options_.address, ": ",
                                            gai_strerror(gai)));
  }
  struct sockaddr_storage addr = {};
  memcpy(&addr, res->ai_addr, res->ai_addrlen);
  const bool v6 = res->ai_family == AF_INET6;
  freeaddrinfo(res);

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  daemon_ = MHD_start_daemon(
      flags, static_cast<uint16_t>(port), nullptr, nullptr, &Handler::OnRequest, this,
      // (First: libmicrohttpd logs the options that come before it itself.)
      MHD_OPTION_EXTERNAL_LOGGER, &Handler::Log, nullptr,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<struct sockaddr*>(&addr),
      MHD_OPTION_CONNECTION_LIMIT, options_.connection_limit,
      MHD_OPTION_CONNECTION_TIMEOUT, 10u,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(64 << 10),
      MHD_OPTION_END);
  if (daemon_ == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot serve metrics on ", options_.address, " (address in use?)"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : port;
  common::Log(common::LogLevel::kInfo, "metrics", "listening")
      .Kv("address", options_.address)
      .Kv("port", port_);
  return absl::OkStatus();
}

void MetricsServer::Stop() {
  if (daemon_ == nullptr) return;
  executor_->Shutdown();  // a scrape waiting for the loop ends now
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  port_ = 0;
}

}  // namespace admin
}  // namespace meshd
