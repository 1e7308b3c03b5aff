// Listener: a LISTEN descriptor (SYSLINK_CMD_LISTEN).
//
// The descriptor the application holds is an epoll instance. It watches:
//   - the control connection to meshd, on which meshd hands over each new
//     session's socket (ctl::Op::kSessionOpen);
//   - one socket per session, each served by a Link (so every rule of a
//     local link holds per session: quotas, exactly one reply, synthesized
//     replies when the client dies);
//   - an eventfd that is readable while notices are queued or the
//     descriptor is being closed;
//   - a timerfd that fires to re-register the service after meshd went
//     away (sessions already open keep working meanwhile).
// A read takes the next message from whichever of these is ready, so the
// descriptor polls readable exactly when a read would make progress (it
// may also wake for internal work and then report EAGAIN).
#ifndef LIBSYSLINK_LISTENER_H_
#define LIBSYSLINK_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include <mutex>
#include "common/unique_fd.h"
#include "libsyslink/control.h"
#include "libsyslink/endpoint.h"
#include "libsyslink/link.h"

namespace libsyslink {

class Listener : public Endpoint {
 public:
  // Most sessions one Listener accepts; meshd is told EAGAIN beyond it.
  static constexpr size_t kMaxSessions = 65536;

  // Registers SERVICE with the local meshd. Returns 0 with *OUT set, or an
  // errno: ECONNREFUSED (no meshd), EADDRINUSE, EACCES, EAGAIN, ETIMEDOUT.
  static int Create(const std::string& service, int flags,
                    std::shared_ptr<Listener>* out);
  ~Listener() override;

  int fd() const { return epfd_.get(); }

  ssize_t Read(const struct iovec* iov, int iovcnt) override;
  ssize_t Write(const struct iovec* iov, int iovcnt) override;
  void Shutdown() override;
  int SetQuota(size_t cmd_bytes, size_t dma_bytes) override;
  int SetDmaMap(bool on) override;
  int GetStats(struct syslink_stats* st) override;

 private:
  struct Notice {
    uint64_t sessid;
    sl_cmd_t what;  // SL_NOTICE_*
    int32_t why;
  };

  Listener(std::string service, common::UniqueFd epfd, common::UniqueFd ctl);
  int Init();
  // Handles what meshd sent on the control connection.
  void HandleControl();
  void OnSessionOpen(const ctl::Message& m, common::UniqueFd fd)
     ;
  // Forgets a finished session and queues nothing: returns its notice.
  Notice EndSession(uint64_t sessid);
  void LostMeshd();
  void Reconnect();
  void ArmTimer(int64_t ms);
  void QueueNotice(const Notice& n);
  static void PutNotice(const Notice& n, void* buf);
  bool NonBlocking() const;

  const std::string service_;
  const common::UniqueFd epfd_;
  common::UniqueFd wake_;
  common::UniqueFd timer_;
  std::atomic<bool> shutdown_{false};

  std::mutex mu_;  // guards everything below
  common::UniqueFd ctl_;
  bool registered_ = false;
  int64_t backoff_ms_ = 0;
  uint64_t next_msgid_ = 1;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Link>> sessions_;
  absl::flat_hash_map<uint64_t, int32_t> end_reasons_;
  std::deque<Notice> notices_;
  size_t quota_ = 0;
  size_t dma_quota_ = 0;
  bool dma_map_ = false;
  struct syslink_stats closed_stats_ = {};
};

}  // namespace libsyslink

#endif  // LIBSYSLINK_LISTENER_H_
