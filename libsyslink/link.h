// Link: one endpoint of a local syslink (SPEC §4).
//
// The descriptor is an AF_UNIX SOCK_SEQPACKET socket; each packet is a
// LocalFrame and one message (frame.h). The Link keeps what the kernel did
// for DragonFly: the commands this side sent and awaits replies to
// (pending), the commands it read and owes replies to (owed), the quotas,
// and the replies it synthesizes when the far end dies.
//
// Concurrency: any number of threads may call Read and Write. Readers are
// serialized by read_mu_ (a message and its DMA data are taken together);
// tables and counters are guarded by mu_, never held across a system call
// that can block. A writer waiting for quota sleeps in poll() on the socket
// (which reports POLLHUP when the far end dies) and on an eventfd that
// readers signal when replies free quota, so it always wakes.
#ifndef LIBSYSLINK_LINK_H_
#define LIBSYSLINK_LINK_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include <mutex>
#include "common/unique_fd.h"
#include "libsyslink/dma.h"
#include "libsyslink/endpoint.h"
#include "libsyslink/frame.h"
#include "syslink/syslink.h"

namespace libsyslink {

// The DMAW data of a command read from a Link with Options::defer_dma, left
// where the originator put it (its memfd, or a pipe) so that the reader can
// copy it straight to where it belongs, in any number of pieces: one copy.
class DeferredDma {
 public:
  DeferredDma() = default;
  DeferredDma(DeferredDma&&) = default;
  DeferredDma& operator=(DeferredDma&&) = default;

  size_t bytes() const { return bytes_; }
  // Copies the data into DST[0..N), whose lengths must add up to bytes().
  // Once only. Returns 0, or EINVAL when the data was not where the peer
  // said (a short pipe, a memfd read error): DST then holds garbage.
  int CopyTo(const struct iovec* dst, int n);
  // The data where it is, in the originator's shared buffer (mapped; the
  // mapping lives as long as a copy of mapping()), or nullptr when it
  // travels in a pipe or a one-off copy and only CopyTo() can get it.
  const char* mapped() const { return map_ != nullptr ? map_->addr + offset_ : nullptr; }
  std::shared_ptr<const void> mapping() const { return map_; }

 private:
  friend class Link;
  size_t bytes_ = 0;
  std::shared_ptr<Mapping> map_;  // the originator's memfd, mapped ...
  uint64_t offset_ = 0;           // ... and where the data starts in it
  common::UniqueFd fd_;           // else a pipe, or a one-off memfd copy
  bool one_off_ = false;
};

// What this thread's last Read from a defer_dma Link left in place (empty
// after any other read). Moves it out.
DeferredDma TakeDeferredDma();

class Link : public Endpoint,
             public BufferListener,
             public std::enable_shared_from_this<Link> {
 public:
  struct Options {
    uint64_t sessid = 0;            // stamped on every message, both ways
    int death_errno = ECONNRESET;   // se_aux of replies synthesized at EOF
    // Whose O_NONBLOCK flag decides whether calls may block: the socket's
    // own (-1), or another descriptor's (a Listener's, for its sessions,
    // whose sockets are always non-blocking).
    int nonblock_fd = -1;
    // meshd's relay links: DMA data this side sends from ordinary memory is
    // copied into the pipe (never pinned by vmsplice), so that memory may be
    // reused at once and need not be page-aligned. Data in a
    // syslink_dma_alloc() buffer is still shared as a memfd (its owner keeps
    // it intact until the reply).
    bool copy_out = false;
    // meshd's region server: the DMAW data of a command read is not copied
    // into iov[1] (which may be absent) but left for TakeDeferredDma().
    bool defer_dma = false;
  };
  // Bounds on what a peer can make this side hold (a peer that bypasses the
  // library could otherwise send unlimited unreplied commands).
  static constexpr size_t kMaxOwed = 65536;
  static constexpr size_t kMaxOwedBytes = 64u << 20;
  // syslink_dma_alloc() buffers announced to the peer (sent by descriptor
  // once, then by id) per link; beyond, descriptors go with every message.
  static constexpr size_t kMaxAnnounced = 1024;

  // Takes ownership of FD (closed by the destructor).
  Link(int fd, Options options);
  ~Link() override;

  int fd() const { return fd_; }
  uint64_t sessid() const { return options_.sessid; }
  // The se_aux of synthesized replies: Options::death_errno, or what the
  // far end's goodbye said.
  int death_errno();

  ssize_t Read(const struct iovec* iov, int iovcnt) override {
    return ReadWithFlags(iov, iovcnt, 0);
  }
  // RECV_FLAGS: 0 or MSG_DONTWAIT (a Listener never blocks on one session).
  ssize_t ReadWithFlags(const struct iovec* iov, int iovcnt, int recv_flags);
  ssize_t Write(const struct iovec* iov, int iovcnt) override;
  // Writes the reply IOV0 whose DMA data (for a DMAR command) is gathered
  // from DMA[0..NDMA): copied once, into the originator's shared buffer or
  // into the pipe. Otherwise as Write().
  ssize_t WriteReplyGather(const struct iovec& iov0, const struct iovec* dma, int ndma);
  void Shutdown() override;
  int SetQuota(size_t cmd_bytes, size_t dma_bytes) override;
  int SetDmaMap(bool on) override;
  int GetStats(struct syslink_stats* st) override;
  // BufferListener: one of our buffers announced to the peer was freed.
  void BufferFreed(uint64_t id) override;
  // Unique within the process, never reused (names this link's views).
  uint64_t serial() const { return serial_; }

  // Declares the far end gone (as at end-of-file) with WHY as the se_aux of
  // the synthesized replies. Idempotent: the first reason wins.
  void FarEndGone(int why);
  // Sends a goodbye frame saying WHY (a positive errno) the link is about
  // to end (see LocalFrame::kFlagGoodbye). Returns 0 or -errno (-EAGAIN if
  // the socket is full and the link is non-blocking).
  ssize_t SendGoodbye(int why);
  // True when the far end is gone and every synthesized reply was read.
  bool Drained();

 private:
  // A command this side sent and awaits the reply to.
  struct Pending {
    uint64_t seq;        // send order, for the order of synthesized replies
    sl_proto_t proto;
    sl_cmd_t cmd;
    sl_rlabel_t rlabel;
    uint32_t bytes;      // iov[0] bytes (command quota)
    uint32_t dma_len;    // its DMA buffer (DMA quota)
    char* dmar_buf;      // where DMAR reply data lands, or nullptr
    uint32_t dmar_room;
    bool dmar_direct;    // the buffer is a memfd the peer writes in place
  };
  // A command this side read and owes a reply to.
  struct Owed {
    sl_rlabel_t rlabel;
    uint32_t bytes;
    bool dmar;
    uint32_t dmar_room;
    std::shared_ptr<Mapping> direct;  // the originator's memfd, if shared
    uint64_t direct_offset;
  };
  // A reply made up for a command whose far end died.
  struct Synth {
    uint64_t seq;
    uint64_t msgid;
    sl_proto_t proto;
    sl_cmd_t cmd;
    sl_rlabel_t rlabel;
    int error;
  };
  // A syslink_dma_alloc() buffer of the peer's, announced on this link.
  struct PeerBuffer {
    std::shared_ptr<Mapping> map;
    common::UniqueFd fd;  // kept for map mode's views
  };
  // One received packet.
  struct Packet {
    LocalFrame frame;
    unsigned char* msg = nullptr;  // raw + sizeof(LocalFrame)
    size_t msg_len = 0;
    common::UniqueFd fd;
    bool truncated = false;
    // As received: frame, message, and room to notice an oversized packet.
    alignas(8) unsigned char raw[sizeof(LocalFrame) + SL_MAXSIZE + 8];
  };

  // Receives one packet into PKT. Returns 1, 0 at end-of-file, or -errno;
  // -ENOSPC when a peek shows the next message does not fit.
  int Receive(const struct iovec* iov, int iovcnt, int recv_flags, Packet* pkt);
  // Checks PKT and delivers it. Returns its length, 0 if it was dropped, or
  // -ENOSPC (PKT is then held for the next read).
  // PKT is moved into held_ only when the result is -ENOSPC.
  ssize_t Accept(std::unique_ptr<Packet>& pkt, const struct iovec* iov, int iovcnt);
  ssize_t AcceptReply(Packet* pkt, const struct iovec* iov);
  // Answers a command that cannot be delivered (its DMA buffer is unknown)
  // on the application's behalf, with ERROR. Returns 0 (nothing delivered).
  ssize_t Refuse(const struct syslink_msg& cmd, int error);
  ssize_t AcceptCommand(Packet* pkt, const struct iovec* iov, int iovcnt);
  // Delivers the next synthesized reply (or end-of-file); false if neither.
  bool TakeSynthesized(const struct iovec& iov0, ssize_t* result);

  // Copies message IOV0 into BUF (which has a LocalFrame's room in front)
  // and validates it. Returns 0 or -errno (EFBIG, EFAULT, EBADF, EINVAL).
  int Stage(const struct iovec& iov0, unsigned char* buf);
  ssize_t WriteCommand(struct syslink_msg* msg, size_t len, const struct iovec* dma);
  // DMA: NDMA pieces (0: no data; nullptr/0 and a zero-length piece
  // differ only in that the latter is allowed on DMAR replies alone).
  ssize_t WriteReply(struct syslink_msg* msg, size_t len, const struct iovec* dma, int ndma);
  // Waits for quota and records P under MSGID. Returns 0 or an errno.
  int Reserve(uint64_t msgid, Pending p);
  void Unreserve(uint64_t msgid);
  void ReleaseLocked(const Pending& p);
  // Sends FRAME and the LEN-byte message at MSG as one packet, with FD
  // attached if >= 0. MSG must have sizeof(LocalFrame) writable bytes in
  // front of it: the frame is written there.
  ssize_t SendPacket(const LocalFrame& frame, unsigned char* msg, size_t len, int fd);
  bool NonBlocking() const;
  bool AtEof() const;

  const int fd_;
  const Options options_;
  const uint64_t serial_;
  std::atomic<bool> map_mode_{false};

  std::mutex read_mu_;  // one reader at a time
  std::unique_ptr<Packet> held_;   // after -ENOSPC; guarded by read_mu_
  std::unique_ptr<Packet> spare_;  // the next read's buffer; guarded by read_mu_
  // The peer's announced buffers; guarded by read_mu_.
  absl::flat_hash_map<uint64_t, PeerBuffer> peer_bufs_;

  std::mutex mu_;  // guards everything below
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> gone_{false};  // eof_, readable without the lock
  bool eof_ = false;
  int death_errno_;
  absl::flat_hash_map<uint64_t, Pending> pending_;
  absl::flat_hash_map<uint64_t, Owed> owed_;
  absl::flat_hash_map<uint64_t, bool> announced_;  // our buffer id -> writable
  std::vector<Synth> synth_;  // back: next to deliver
  uint64_t next_seq_ = 0;
  size_t out_bytes_ = 0;
  size_t out_dma_ = 0;
  size_t owed_bytes_ = 0;
  size_t quota_ = SYSLINK_QUOTA_DEFAULT;
  size_t dma_quota_ = SYSLINK_DMA_QUOTA_DEFAULT;
  int quota_efd_ = -1;  // made on the first wait
  uint64_t waiters_ = 0;
  struct syslink_stats stats_ = {};
};

}  // namespace libsyslink

#endif  // LIBSYSLINK_LINK_H_
