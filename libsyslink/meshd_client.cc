#include "libsyslink/meshd_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "libsyslink/control.h"
#include "libsyslink/link.h"
#include "libsyslink/listener.h"
#include "libsyslink/names.h"
#include "libsyslink/registry.h"

namespace libsyslink {

std::string MeshdSocketPath() {
  if (const char* env = getenv("SYSLINK_MESHD"); env != nullptr && *env != '\0') {
    return env;
  }
  static const char kRun[] = "/run/meshd/meshd.sock";
  struct stat st;
  if (stat(kRun, &st) == 0) return kRun;
  if (const char* xdg = getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/meshd.sock";
  }
  return kRun;
}

int DialMeshd(common::UniqueFd* out) {
  const std::string path = MeshdSocketPath();
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ECONNREFUSED;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  common::UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return errno;
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    // The socket's mode keeps this process out: that is meshd refusing it.
    return errno == EACCES || errno == EPERM ? EACCES : ECONNREFUSED;
  }
  *out = std::move(fd);
  return 0;
}

namespace {

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

int Call(int fd, const ctl::Message& req, int timeout_ms, ctl::Message* reply,
         common::UniqueFd* got_fd, int pass_fd) {
  int err = ctl::Send(fd, req, pass_fd);
  if (err != 0) return ECONNREFUSED;
  const int64_t deadline = timeout_ms < 0 ? -1 : NowMs() + timeout_ms;
  for (;;) {
    int wait = -1;
    if (deadline >= 0) {
      const int64_t left = deadline - NowMs();
      if (left <= 0) return ETIMEDOUT;
      wait = static_cast<int>(left);
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    const int n = poll(&pfd, 1, wait);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return ETIMEDOUT;
    err = ctl::Receive(fd, MSG_DONTWAIT, reply, got_fd);
    if (err == EAGAIN) continue;
    if (err != 0) return ECONNREFUSED;
    if (reply->reply && reply->msgid == req.msgid && reply->op == req.op) return 0;
    got_fd->reset();  // not ours: ignore it
  }
}

int MeshdListen(struct syslink_info_listen* info) {
  if (!ValidName(info->service, false) || (info->flags & ~SYSLINK_FLAG_NONBLOCK)) {
    return EINVAL;
  }
  std::shared_ptr<Listener> listener;
  const int err = Listener::Create(info->service, info->flags, &listener);
  if (err != 0) return err;
  info->fd = listener->fd();
  Registry::Get().Add(info->fd, std::move(listener));
  return 0;
}

int MeshdConnectLink(const std::string& node, uint64_t node_id, const std::string& service,
                     int timeout_ms, int direct_death_errno, std::shared_ptr<Link>* out,
                     bool* relayed) {
  common::UniqueFd ctl_fd;
  int err = DialMeshd(&ctl_fd);
  if (err != 0) return err;
  const int timeout = timeout_ms == 0 ? 10000 : timeout_ms;
  ctl::Message req;
  req.op = ctl::Op::kConnect;
  req.msgid = 1;
  req.service = service;
  req.node = node;
  req.node_id = node_id;
  req.has_timeout = true;
  req.timeout_ms = timeout;
  ctl::Message reply;
  common::UniqueFd session;
  // meshd enforces the timeout and answers ETIMEDOUT itself; the extra
  // second covers a meshd that stopped answering altogether.
  err = Call(ctl_fd.get(), req, timeout < 0 ? -1 : timeout + 1000, &reply, &session);
  if (err != 0) return err;
  if (reply.error != 0) return reply.error;
  if (!session.ok() || reply.sessid == 0 ||
      (reply.kind != static_cast<uint32_t>(ctl::Kind::kDirect) &&
       reply.kind != static_cast<uint32_t>(ctl::Kind::kRelayed))) {
    return ECONNREFUSED;
  }
  const bool across = reply.kind == static_cast<uint32_t>(ctl::Kind::kRelayed);
  Link::Options opts;
  opts.sessid = reply.sessid;
  // Across the mesh the peer is meshd: its death is ECONNABORTED.
  opts.death_errno = across ? ECONNABORTED : direct_death_errno;
  const int fd = session.release();
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  *out = std::make_shared<Link>(fd, opts);
  if (relayed != nullptr) *relayed = across;
  return 0;
}

int MeshdConnect(struct syslink_info_connect* info) {
  if (!ValidName(info->node, true) || !ValidName(info->service, false)) return EINVAL;
  std::shared_ptr<Link> link;
  const int err = MeshdConnectLink(info->node, 0, info->service, info->timeout_ms, ECONNRESET,
                                   &link, nullptr);
  if (err != 0) return err;
  info->fd = link->fd();
  Registry::Get().Add(info->fd, std::move(link));
  return 0;
}

}  // namespace libsyslink
