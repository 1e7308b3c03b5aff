// The raw kernel baselines: what the syslink transports are compared with.
// Each does the same work as its syslink counterpart with bare system calls
// and nothing else: no framing, validation or bookkeeping.
#ifndef TOOLS_BENCH_RAW_TRANSPORT_H_
#define TOOLS_BENCH_RAW_TRANSPORT_H_

#include <cstddef>
#include <memory>

#include "tools/bench/transport.h"

namespace bench {

// socketpair(AF_UNIX, SOCK_SEQPACKET): the client send()s the same BYTES
// message as NewSyslinkEcho, the server recv()s it into an SL_MAXSIZE buffer
// and send()s it back; the client recv()s the echo.
std::unique_ptr<Transport> NewSocketpairEcho(size_t bytes);

// The same request/reply pattern as NewSyslinkDmaWrite, with the BYTES of
// data inline: each request is one SEQPACKET packet of a 32-byte header and
// the data (sendmsg() from one of WINDOW buffers; the server recvmsg()s the
// data into its own buffer), each reply a 32-byte header. SO_SNDBUF and
// SO_RCVBUF are raised so WINDOW requests fit in flight.
std::unique_ptr<Transport> NewSocketpairBulk(size_t bytes, int window);

// Requests name a buffer of BYTES in the client (a SEQPACKET control
// message: address, length, pid); the server copies it into its own buffer
// with process_vm_readv() and replies. The client allows any process to
// read its memory (PR_SET_PTRACER) in case Yama restricts ptrace; a kernel
// that still refuses makes the case skipped, not failed.
std::unique_ptr<Transport> NewProcessVmReadv(size_t bytes, int window);

// TCP over 127.0.0.1, TCP_NODELAY on both ends: the loopback counterparts of
// the socketpair baselines, for comparison with remote syslink sessions
// (client -> meshd -> TCP -> meshd -> service). The orchestrator listens on
// a port the kernel picks (both children inherit the socket); the server
// accept()s one connection, the client connects to it. A stream has no
// packets, so each side reads exactly the size it expects, looping on short
// reads; the server ends cleanly at end-of-file.

// The client writes the same BYTES message as NewSyslinkEcho, the server
// reads exactly BYTES and writes them back; the client reads the BYTES of
// the echo. BYTES is a message size BuildMessage() accepts. With VETH the
// two processes are in two network namespaces joined by a veth pair
// (VethPair, netns.h; the case is skipped where that cannot be made).
// BUSY_POLL: both ends wait for the other's message by reading again at
// once (MSG_DONTWAIT, sched_yield() between tries), never sleeping: the
// ping-pong's floor where a wake-up is dear, for comparison with meshd's
// busy polling.
std::unique_ptr<Transport> NewTcpEcho(size_t bytes, bool veth = false, bool busy_poll = false);

// The floor of any relay built like the mesh: NewTcpEcho's messages
// carried client -> socketpair -> forwarder -> loopback TCP -> forwarder ->
// socketpair -> server and back (four processes, the forwarders doing
// nothing but recv and write, read and send). What a remote syslink session
// costs beyond this is meshd's own work. BUSY_POLL: the forwarders never
// sleep (poll with no timeout, sched_yield when idle): the floor of such a
// relay that busy polls, as meshd does by default (but without its window).
std::unique_ptr<Transport> NewRawRelayEcho(size_t bytes, bool busy_poll = false);

// NewSocketpairBulk over TCP: each request is a 32-byte header (carrying the
// id) and the BYTES of data from one of WINDOW buffers, written with one
// writev(); the server reads both into its own buffer and replies with a
// 32-byte header. SO_SNDBUF and SO_RCVBUF are raised so WINDOW requests fit
// in flight. VETH as for NewTcpEcho.
std::unique_ptr<Transport> NewTcpBulk(size_t bytes, int window, bool veth = false);

}  // namespace bench

#endif  // TOOLS_BENCH_RAW_TRANSPORT_H_
