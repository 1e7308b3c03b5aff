// RegionServer: registered memory regions and their one-sided operations,
// served by meshd itself (SPEC §6).
//
// Two faces:
//   - Registrations. kRegionRegister / kRegionDeregister requests arrive on
//     the client socket (the Broker passes them on); the owner's memfd comes
//     with the request and goes into the RegionTable. The regions of a
//     connection die with it (the owner process exited, or closed it).
//   - Operations. The server is the built-in service "meshd.regions" in the
//     Broker: a peer that wants to read or write a region CONNECTs to it on
//     the owner's node, locally or across the mesh like any other session,
//     and sends one command per operation (libsyslink/region_wire.h). The
//     server holds its end of each session as a libsyslink Link (so every
//     rule of a link holds: validation, quotas, exactly one reply), checks
//     the key, access and bounds in the table, and copies between the
//     peer's DMA data and the region's pages, which it reaches through
//     meshd's sf_buf cache (SFB_NOWAIT: the loop never waits).
//
// Copies: one per operation here. A read gathers the region's pages
// straight into the peer's shared buffer (or its pipe); a write scatters
// the peer's data (its memfd, or its pipe) straight into the pages.
//
// Everything runs on meshd's loop thread.
#ifndef MESHD_REGIONS_REGION_SERVER_H_
#define MESHD_REGIONS_REGION_SERVER_H_

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "libsyslink/link.h"
#include "libsyslink/region_wire.h"
#include "libsyslink/sfbuf.h"
#include "meshd/client/broker.h"
#include "meshd/regions/region_table.h"

namespace meshd {

class RegionServer : public Client, public RegionRequests {
 public:
  struct Counters {
    uint64_t sessions_opened = 0, sessions_closed = 0;
    uint64_t ops = 0, ops_failed = 0;
    uint64_t dma_bytes_copied = 0;  // user-space copies of region bytes here
    uint64_t sfbuf_failures = 0;    // operations refused for want of mappings
  };

  RegionServer(uv_loop_t* loop, Broker* broker, RegionTable* table,
               libsyslink::SfBufCache* sfbuf, TimerFactory timers);
  ~RegionServer() override;
  RegionServer(const RegionServer&) = delete;
  RegionServer& operator=(const RegionServer&) = delete;

  // Publishes the built-in service in the Broker and takes the region
  // requests. Returns false if the Broker refused the name.
  bool Start();
  // Ends every session (peers see end-of-file) and drops every region.
  void Stop();

  // Client (the Broker talks to the service through it).
  void Send(const libsyslink::ctl::Message& m, int pass_fd) override;
  void CloseAfterFlush() override {}
  uint64_t id() const override { return 0; }
  pid_t pid() const override;
  uid_t uid() const override;

  // RegionRequests (kRegionRegister, kRegionDeregister from clients).
  void OnRegionRequest(Client* c, const libsyslink::ctl::Message& m,
                       common::UniqueFd fd) override;
  void ClientGone(Client* c) override;

  const Counters& counters() const { return counters_; }

 private:
  struct Session;
  // Each session's libuv poll handle points at one of these.
  struct PollData {
    RegionServer* server;
    uint64_t sessid;
  };

  void OpenSession(const libsyslink::ctl::Message& open, common::UniqueFd fd);
  static void OnEvent(uv_poll_t* h, int status, int events);
  void ReadSession(Session* s);
  // Performs the operation in MSG (R bytes, read from S) and writes its
  // reply. False if the socket had no room: the reply waits in S.
  bool Serve(Session* s, const unsigned char* msg, size_t len, uint32_t dmar_room,
             libsyslink::DeferredDma data);
  // Writes the reply to REQ with ERR; for a successful read, the region's
  // bytes gathered from REGION. Returns the Link's result.
  ssize_t Reply(Session* s, const libsyslink::region::Request& req, sl_proto_t proto,
                sl_cmd_t cmd, int err, RegionTable::Region* region, uint32_t length);
  void UpdatePoll(Session* s);
  void CloseSession(Session* s, int why);
  // Runs FN on the loop after the current callback (the Broker must not be
  // called back from inside Send).
  void Defer(std::function<void()> fn);

  uv_loop_t* const loop_;
  Broker* const broker_;
  RegionTable* const table_;
  libsyslink::SfBufCache* const sfbuf_;
  TimerFactory timers_;
  std::vector<std::unique_ptr<Timer>> deferred_;
  bool stopped_ = false;
  Counters counters_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Session>> sessions_;
};

}  // namespace meshd

#endif  // MESHD_REGIONS_REGION_SERVER_H_
