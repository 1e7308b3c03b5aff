// Link: one TCP connection between two meshd nodes, on the event loop.
//
// A Link drives its own socket (a raw fd under a uv_poll), its frame decoder,
// the handshake (Hello, Auth, Ready; handshake.h), heartbeats and liveness,
// and a send queue with two priorities (control frames go ahead of DATA
// frames not yet started). It hands the owner (MeshNode) the decisions and
// frames that are the mesh's business through Link::Owner.
//
// Zero copy: received frames are read straight into their own std::string
// (FrameDecoder), and queued payloads are written from their own memory
// (sendmsg over iovecs), so a DATA payload is never copied in user space.
// Writes are batched: Send*() only queue and ask the owner for a Flush(),
// which it runs once per loop iteration before the loop blocks.
//
// Lifetime: the owner makes a Link with a connected or connecting socket and
// calls Start(). Close() (from anywhere, any number of times) ends it at
// once: Owner::LinkClosing() is called synchronously (exactly once), the
// socket is shut down, and after libuv releases the handle
// Owner::LinkReleased() says the Link may be destroyed. Nothing calls the
// owner re-entrantly except LinkClosing() from Close() and LinkNeedsFlush()
// from the Send functions, and those only record work for later.
//
// Only the loop thread may touch a Link.
#ifndef MESHD_MESH_LINK_H_
#define MESHD_MESH_LINK_H_

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/log_limiter.h"
#include "meshd/mesh/frame.h"
#include "meshd/mesh/handshake.h"
#include "meshd/mesh/mesh_types.h"

namespace meshd {
namespace mesh {

// Settings shared by every link of one node (owned by the node, outlives its
// links).
struct LinkConfig {
  uv_loop_t* loop = nullptr;
  NodeId self_id = 0;
  std::string self_name;
  // Each handshake holds the keys it started with; MeshNode::SetClusterKeys
  // replaces them for the handshakes after.
  std::shared_ptr<const ClusterKeys> keys;
  uint32_t max_frame_bytes = 1u << 20;
  uint32_t heartbeat_interval_ms = 200;
  uint32_t dead_interval_ms = 1000;
  uint32_t connect_timeout_ms = 5000;
  uint32_t handshake_timeout_ms = 2000;
  // Unsent bytes above which the link is congested; twice this closes it.
  uint64_t max_queued_bytes = 8u << 20;
  // Control frames (heartbeats, adverts, probes) a peer may send: a token
  // bucket of this many, refilled at this many per second. Beyond it the
  // link is closed (ProtocolError::kFlood).
  uint32_t control_burst = 4096;
  uint32_t control_rate_per_s = 4096;
  MeshCounters* counters = nullptr;
  common::LogLimiter* stranger_log = nullptr;
};

class Link {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // The peer proved the cluster key (peer_id()/peer_name() are set).
    // Returns kNone to admit it, or why it is refused (the link then sends
    // Goodbye and closes).
    virtual HandshakeFailure AdmitPeer(Link* link) = 0;
    // Both sides sent Ready: the link is established.
    virtual void LinkEstablished(Link* link) = 0;
    // An established link received an LSA, PROBE or DATA frame. The owner may
    // take FRAME's payload.
    virtual void LinkFrame(Link* link, Frame& frame) = 0;
    // A large DATA frame is arriving (FrameDecoder::set_splitter): where
    // part of it should go, if anywhere. Nothing by default.
    virtual PayloadSplit SplitData(Link* link, std::string_view first, uint32_t len) {
      return {};
    }
    // Close() was called: the link carries nothing more. Called once,
    // synchronously; must only record what changed.
    virtual void LinkClosing(Link* link) = 0;
    // libuv released the handle: the owner may destroy the link now.
    virtual void LinkReleased(Link* link) = 0;
    // Frames are queued, or held frames may be delivered: call Service()
    // from the loop (not from inside a MeshNode method) before it blocks.
    virtual void LinkNeedsService(Link* link) = 0;
    // The link was congested and its unsent bytes fell below half of
    // max_queued_bytes.
    virtual void LinkDrained(Link* link) = 0;
  };

  // FD is a nonblocking TCP socket, owned from now on (closed when the Link
  // is destroyed). DIALED: this node connects (Start() gets the address).
  Link(const LinkConfig* config, Owner* owner, LinkId id, int fd, bool dialed);
  ~Link();

  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Starts the link: for a dialed link, connects to ADDR (LEN bytes); for an
  // accepted one ADDR is nullptr and the handshake starts at once. Returns 0,
  // or a negative errno if the link could not even be set up: then nothing
  // happened (no Owner calls) and it may be destroyed at once. A connect
  // that fails later closes the link normally.
  int Start(const struct sockaddr* addr, socklen_t len);

  // Queues a DATA frame. Returns false (nothing queued) unless established
  // and PAYLOAD fits the peer's max_frame_bytes. If it takes the unsent
  // bytes over twice max_queued_bytes, the link is closed (kOverflow) and
  // this returns false.
  bool SendData(DataPayload payload);
  // Queues a control frame (ahead of unstarted DATA frames). Ignored unless
  // the link is in the handshake or established.
  void SendControl(FrameType type, std::string payload);

  // Writes what is queued, until the socket would block.
  void Flush();
  // What LinkNeedsService() asked for: delivers frames held over a pause
  // (if no longer paused), then Flush(). Call from a loop callback only (it
  // may call the handler through Owner::LinkFrame).
  void Service();

  // Closes the link (see the header comment). REASON is why; FAILURE (for a
  // handshake failure) and ERROR (for a protocol error) refine it. Sends a
  // Goodbye first, best effort, if SAY_GOODBYE and the handshake had started.
  void Close(LinkCloseReason reason, std::string_view detail, bool say_goodbye = false,
             HandshakeFailure failure = HandshakeFailure::kNone,
             ProtocolError error = ProtocolError::kNone);
  // Shorthands: refuse the peer during the handshake; close for a protocol
  // error.
  void Refuse(HandshakeFailure failure, std::string_view detail);
  void Fail(ProtocolError error, std::string_view detail);

  // Timers, driven by the owner every tick: connect and handshake timeouts,
  // heartbeats, the dead interval (a link with bytes waiting in its socket
  // is alive, even if it has not been read for a while). NOW_MS is uv_now().
  void Tick(uint64_t now_ms);

  // Stops/resumes reading the socket (established links; TCP then pushes
  // back on the peer). Once paused, no frame reaches the owner until
  // resumed, not even one already decoded (it is held, and delivered
  // through Service() after resuming). Bytes waiting in the socket count as
  // signs of life for the dead interval.
  void SetReadPaused(bool paused);
  // Fault injection: a frozen link neither reads, writes nor sends
  // heartbeats, like a hung process's. Timers are not run by a frozen node.
  void SetFrozen(bool frozen);

  LinkId id() const { return id_; }
  LinkState state() const { return state_; }
  bool established() const { return state_ == LinkState::kEstablished; }
  bool closing() const { return state_ == LinkState::kClosing; }
  bool dialed() const { return dialed_; }
  // The node id of whoever initiated the connection (0 before the peer's
  // Hello).
  NodeId dialer_id() const { return dialed_ ? config_->self_id : peer_id_; }
  // The dialer's nonce: breaks ties between links with the same dialer.
  const Nonce* dialer_nonce() const;
  NodeId peer_id() const { return peer_id_; }
  const std::string& peer_name() const { return peer_name_; }
  // True once the owner admitted the peer (AdmitPeer returned kNone).
  bool admitted() const { return admitted_; }
  bool congested() const { return congested_; }
  uint64_t queued_bytes() const { return queued_bytes_; }
  // Largest DATA payload the peer accepts (after its Hello).
  uint32_t send_limit() const { return send_limit_; }
  LinkCloseReason close_reason() const { return close_reason_; }
  const std::string& close_detail() const { return close_detail_; }
  // When the link was established (uv_now ms), or 0.
  uint64_t up_since_ms() const { return up_since_ms_; }
  LinkInfo Info() const;

 private:
  struct OutFrame {
    char header[kFrameHeaderBytes];
    DataPayload payload{std::string()};  // control frames: head only
    size_t size() const { return kFrameHeaderBytes + payload.size(); }
  };

  static void OnPollEvent(uv_poll_t* h, int status, int events);
  void FinishConnect();
  void BeginHandshake();
  void ReadSome();
  void HandleFrame(Frame& frame);
  bool Paused() const;
  // Hands FRAMES to HandleFrame in order; frames left when the link is
  // paused are held. False if it stopped early (paused or closing).
  bool Deliver(std::vector<Frame>* frames);
  void CloseForErrno(int err, const char* what);
  void HandleHandshakeFrame(Frame& frame);
  void HandleHeartbeat(const std::string& payload);
  bool TakeControlToken();
  void Enqueue(FrameType type, DataPayload payload, bool data);
  void Advance(size_t n);
  void UpdatePoll();
  uint64_t NowMs() const;

  const LinkConfig* const config_;
  Owner* const owner_;
  const LinkId id_;
  const int fd_;
  const bool dialed_;
  uv_poll_t poll_;
  bool poll_inited_ = false;
  int poll_events_ = -1;  // what the poll watches now; -1: stopped
  LinkState state_ = LinkState::kConnecting;
  bool read_paused_ = false;
  bool frozen_ = false;
  bool want_writable_ = false;
  bool in_close_ = false;

  std::unique_ptr<Handshake> handshake_;
  bool admitted_ = false;
  bool sent_ready_ = false;
  NodeId peer_id_ = 0;
  std::string peer_name_;
  uint32_t send_limit_ = 0;
  std::string local_address_, remote_address_;

  FrameDecoder decoder_;
  std::vector<Frame> frames_;  // scratch for ReadSome
  std::deque<Frame> held_;     // decoded, not delivered: reading was paused

  std::deque<OutFrame> control_q_, data_q_;
  bool head_started_ = false;  // the first frame in send order is partly written
  bool head_is_data_ = false;  // ... and it is data_q_.front() (else control_q_'s)
  size_t head_offset_ = 0;
  uint64_t queued_bytes_ = 0;
  bool congested_ = false;

  // Timers and liveness (uv_now ms; heartbeat times in us, uv_hrtime).
  uint64_t created_ms_ = 0;
  uint64_t handshake_started_ms_ = 0;
  uint64_t up_since_ms_ = 0;
  uint64_t last_rx_ms_ = 0;
  uint64_t last_heartbeat_sent_ms_ = 0;
  uint64_t peer_hb_time_us_ = 0;     // the peer's last heartbeat's send_time_us
  uint64_t peer_hb_rx_us_ = 0;       // when we received it (our clock)
  int64_t rtt_us_ = 0;
  double control_tokens_ = 0;
  uint64_t control_tokens_ms_ = 0;

  // Statistics.
  uint64_t bytes_in_ = 0, bytes_out_ = 0, frames_in_ = 0, frames_out_ = 0;
  absl::Time created_ = absl::InfinitePast(), up_since_ = absl::InfinitePast();
  LinkCloseReason close_reason_ = LinkCloseReason::kNone;
  std::string close_detail_;
};

}  // namespace mesh
}  // namespace meshd

#endif  // MESHD_MESH_LINK_H_
