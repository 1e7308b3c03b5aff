// Local syslinks through the public API: one process, threads standing in
// for the two sides. Multi-process cases (fork, SCM_RIGHTS, SIGKILL) are in
// tests/local_process_test.cc.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "libsyslink/link.h"
#include "syslink/syslink.h"

namespace {

constexpr sl_proto_t kProto = SM_PROTO_ENCODE(100);

union Msg {
  struct syslink_msg msg;
  unsigned char buf[SL_MAXSIZE];
};

// A command with one opaque element of PAYLOAD bytes.
Msg Command(uint64_t msgid, sl_cmd_t flags = 0, size_t payload = 0,
            sl_rlabel_t rlabel = 0) {
  Msg m;
  memset(&m, 0, sizeof m);
  struct syslink_elm* par = sl_msg_init_cmd(&m.msg, kProto, static_cast<sl_cmd_t>(7 | flags));
  if (payload > 0) {
    struct syslink_elm* e = sl_elm_make(par, 1, static_cast<int>(payload));
    memset(e + 1, 0xAB, payload);
  }
  m.msg.sm_msgid = msgid;
  m.msg.sm_rlabel = rlabel;
  sl_msg_fini(&m.msg);
  return m;
}

Msg Reply(const Msg& cmd, int error = 0) {
  Msg r;
  memset(&r, 0, sizeof r);
  sl_msg_init_reply(&cmd.msg, &r.msg, error);
  sl_msg_fini(&r.msg);
  return r;
}

size_t Len(const Msg& m) { return SL_MSG_ALIGN(m.msg.sm_bytes); }

ssize_t Send(int fd, const Msg& m) { return syslink_write(fd, &m, Len(m)); }

ssize_t SendDma(int fd, const Msg& m, void* buf, size_t len) {
  struct iovec iov[2] = {{const_cast<Msg*>(&m), Len(m)}, {buf, len}};
  return syslink_writev(fd, iov, 2);
}

ssize_t Recv(int fd, Msg* m) { return syslink_read(fd, m, sizeof *m); }

ssize_t RecvDma(int fd, Msg* m, void* buf, size_t len) {
  struct iovec iov[2] = {{m, sizeof *m}, {buf, len}};
  return syslink_readv(fd, iov, 2);
}

struct Pair {
  Pair() {
    struct syslink_info_new info = {};
    info.head.version = SYSLINK_INFO_VERSION;
    EXPECT_EQ(syslink(SYSLINK_CMD_NEW, &info.head, sizeof info), 0) << strerror(errno);
    EXPECT_EQ(info.head.wbflag, 1);
    a = info.fds[0];
    b = info.fds[1];
  }
  ~Pair() {
    if (a >= 0) syslink_close(a);
    if (b >= 0) syslink_close(b);
  }
  void CloseB() {
    syslink_close(b);
    b = -1;
  }
  int a = -1, b = -1;
};

// A page-aligned ordinary (not memfd) buffer.
struct Aligned {
  explicit Aligned(size_t n) : size(n) {
    EXPECT_EQ(posix_memalign(&p, 4096, n), 0);
  }
  ~Aligned() { free(p); }
  unsigned char* data() { return static_cast<unsigned char*>(p); }
  void* p = nullptr;
  size_t size;
};

void Fill(unsigned char* p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(seed * 131 + i * 7);
}
bool Check(const unsigned char* p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != static_cast<unsigned char>(seed * 131 + i * 7)) return false;
  }
  return true;
}

struct syslink_stats Stats(int fd) {
  struct syslink_stats st;
  EXPECT_EQ(syslink_get_stats(fd, &st), 0);
  return st;
}

// --------------------------------------------------------------------------

TEST(Syslink, ArgumentChecks) {
  struct syslink_info_new info = {};
  info.head.version = SYSLINK_INFO_VERSION;
  EXPECT_EQ(syslink(SYSLINK_CMD_NEW, nullptr, sizeof info), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(syslink(99, &info.head, sizeof info), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(syslink(SYSLINK_CMD_NEW, &info.head, sizeof(union syslink_info_all) + 1), -1);
  EXPECT_EQ(errno, EINVAL);
  // Too short to hold fds[]: nothing can be returned.
  EXPECT_EQ(syslink(SYSLINK_CMD_NEW, &info.head, sizeof(struct syslink_info)), -1);
  EXPECT_EQ(errno, EINVAL);
  info.head.version = 2;
  EXPECT_EQ(syslink(SYSLINK_CMD_NEW, &info.head, sizeof info), -1);
  EXPECT_EQ(errno, EINVAL);
  info.head.version = SYSLINK_INFO_VERSION;
  info.head.reserved[1] = 1;
  EXPECT_EQ(syslink(SYSLINK_CMD_NEW, &info.head, sizeof info), -1);
  EXPECT_EQ(errno, EINVAL);
  // A structure as large as the union is fine (zero tail).
  union syslink_info_all all = {};
  all.head.version = SYSLINK_INFO_VERSION;
  ASSERT_EQ(syslink(SYSLINK_CMD_NEW, &all.head, sizeof all), 0);
  EXPECT_GE(all.cmd_new.fds[0], 0);
  EXPECT_GE(all.cmd_new.fds[1], 0);
  EXPECT_EQ(fcntl(all.cmd_new.fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  syslink_close(all.cmd_new.fds[0]);
  syslink_close(all.cmd_new.fds[1]);
}

TEST(Syslink, ListenAndConnectWithoutMeshd) {
  setenv("SYSLINK_MESHD", "/tmp/syslink-no-such-dir/meshd.sock", 1);
  struct syslink_info_listen l = {};
  l.head.version = SYSLINK_INFO_VERSION;
  strcpy(l.service, "svc");
  EXPECT_EQ(syslink(SYSLINK_CMD_LISTEN, &l.head, sizeof l), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  struct syslink_info_connect c = {};
  c.head.version = SYSLINK_INFO_VERSION;
  strcpy(c.service, "svc");
  EXPECT_EQ(syslink(SYSLINK_CMD_CONNECT, &c.head, sizeof c), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  // Bad names are refused before any daemon is asked.
  strcpy(c.service, "no/slash");
  EXPECT_EQ(syslink(SYSLINK_CMD_CONNECT, &c.head, sizeof c), -1);
  EXPECT_EQ(errno, EINVAL);
  memset(l.service, 'x', sizeof l.service);  // unterminated
  EXPECT_EQ(syslink(SYSLINK_CMD_LISTEN, &l.head, sizeof l), -1);
  EXPECT_EQ(errno, EINVAL);
  unsetenv("SYSLINK_MESHD");
}

TEST(Syslink, CommandAndReply) {
  Pair p;
  Msg cmd = Command(1, 0, 20, /*rlabel=*/77);
  ASSERT_EQ(Send(p.a, cmd), static_cast<ssize_t>(Len(cmd)));
  Msg got;
  ASSERT_EQ(Recv(p.b, &got), static_cast<ssize_t>(Len(cmd)));
  EXPECT_EQ(got.msg.sm_msgid, 1u);
  EXPECT_EQ(got.msg.sm_sessid, 0u);
  EXPECT_EQ(got.msg.sm_rlabel, 77u);
  EXPECT_EQ(memcmp(&got, &cmd, Len(cmd)), 0);
  Msg rep = Reply(got, 0);
  rep.msg.sm_rlabel = 5;  // the transport keeps the command's rlabel
  ASSERT_EQ(Send(p.b, rep), static_cast<ssize_t>(Len(rep)));
  ASSERT_EQ(Recv(p.a, &got), 32);
  EXPECT_TRUE(got.msg.sm_proto & SM_PROTO_REPLY);
  EXPECT_EQ(got.msg.sm_msgid, 1u);
  EXPECT_EQ(got.msg.sm_rlabel, 77u);
  EXPECT_EQ(got.msg.sm_head.se_aux, 0);
  EXPECT_EQ(syslink_dma_bytes(), 0u);
  auto st = Stats(p.a);
  EXPECT_EQ(st.cmds_sent, 1u);
  EXPECT_EQ(st.replies_received, 1u);
  EXPECT_EQ(st.outstanding, 0u);
  st = Stats(p.b);
  EXPECT_EQ(st.cmds_received, 1u);
  EXPECT_EQ(st.replies_sent, 1u);
}

TEST(Syslink, WriteErrors) {
  Pair p;
  Msg cmd = Command(1);
  struct iovec iov[3] = {{&cmd, Len(cmd)}, {nullptr, 0}, {nullptr, 0}};
  EXPECT_EQ(syslink_writev(p.a, iov, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(syslink_writev(p.a, iov, 3), -1);
  EXPECT_EQ(errno, EINVAL);
  // Malformed message.
  Msg bad = cmd;
  bad.msg.sm_proto |= SM_PROTO_RESERVED;
  EXPECT_EQ(Send(p.a, bad), -1);
  EXPECT_EQ(errno, EINVAL);
  // iov_len must be SL_MSG_ALIGN(sm_bytes).
  EXPECT_EQ(syslink_write(p.a, &cmd, Len(cmd) + 8), -1);
  EXPECT_EQ(errno, EINVAL);
  // Sizes.
  static unsigned char big[SL_MAXSIZE + 8];
  EXPECT_EQ(syslink_write(p.a, big, sizeof big), -1);
  EXPECT_EQ(errno, EFBIG);
  Aligned dma(SL_DMA_MAX + 4096);
  Msg dcmd = Command(2, SE_CMDF_DMAW);
  EXPECT_EQ(SendDma(p.a, dcmd, dma.p, SL_DMA_MAX + 4096), -1);
  EXPECT_EQ(errno, EFBIG);
  // DMA flags and iov[1] must agree; the buffer must be page-aligned.
  EXPECT_EQ(Send(p.a, dcmd), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(SendDma(p.a, Command(3), dma.p, 4096), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(SendDma(p.a, dcmd, dma.data() + 8, 4096), -1);
  EXPECT_EQ(errno, EINVAL);
  // Not a syslink descriptor.
  EXPECT_EQ(Send(-1, cmd), -1);
  EXPECT_EQ(errno, EBADF);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  EXPECT_EQ(Send(pipefd[1], cmd), -1);
  EXPECT_EQ(errno, ENOTSOCK);
  close(pipefd[0]);
  close(pipefd[1]);
  // Nothing above reached the other side.
  EXPECT_EQ(fcntl(p.b, F_SETFL, O_NONBLOCK), 0);
  Msg got;
  EXPECT_EQ(Recv(p.b, &got), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(Syslink, DuplicateMsgidIsEexist) {
  Pair p;
  ASSERT_GT(Send(p.a, Command(5)), 0);
  EXPECT_EQ(Send(p.a, Command(5)), -1);
  EXPECT_EQ(errno, EEXIST);
  // The other direction has its own msgid space.
  ASSERT_GT(Send(p.b, Command(5)), 0);
  Msg got;
  ASSERT_GT(Recv(p.b, &got), 0);
  ASSERT_GT(Send(p.b, Reply(got)), 0);
  ASSERT_GT(Recv(p.a, &got), 0);  // b's command
  ASSERT_GT(Recv(p.a, &got), 0);  // the reply to 5
  EXPECT_TRUE(got.msg.sm_proto & SM_PROTO_REPLY);
  // Once answered, the msgid is free again.
  EXPECT_GT(Send(p.a, Command(5)), 0);
}

TEST(Syslink, ReplyToUnknownOrUnreadIsEnoent) {
  Pair p;
  Msg cmd = Command(9);
  EXPECT_EQ(Send(p.b, Reply(cmd)), -1);  // never sent
  EXPECT_EQ(errno, ENOENT);
  ASSERT_GT(Send(p.a, cmd), 0);
  EXPECT_EQ(Send(p.b, Reply(cmd)), -1);  // sent, not yet read
  EXPECT_EQ(errno, ENOENT);
  Msg got;
  ASSERT_GT(Recv(p.b, &got), 0);
  EXPECT_GT(Send(p.b, Reply(got)), 0);
  EXPECT_EQ(Send(p.b, Reply(got)), -1);  // already answered
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(Send(p.a, Reply(got)), -1);  // a reply to its own command
  EXPECT_EQ(errno, ENOENT);
}

TEST(Syslink, TooSmallBufferIsEnospcAndStaysQueued) {
  Pair p;
  Msg cmd = Command(1, 0, 500);
  ASSERT_GT(Send(p.a, cmd), 0);
  Msg got;
  EXPECT_EQ(syslink_read(p.b, &got, 64), -1);
  EXPECT_EQ(errno, ENOSPC);
  // Still there, and still reported by poll.
  struct pollfd pfd = {p.b, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 1);
  EXPECT_EQ(syslink_read(p.b, &got, 600), static_cast<ssize_t>(Len(cmd)));
  EXPECT_EQ(memcmp(&got, &cmd, Len(cmd)), 0);
}

TEST(Syslink, DmaTooLargeForIov1IsEnospcAndStaysQueued) {
  for (bool full_iov0 : {true, false}) {
    SCOPED_TRACE(full_iov0 ? "one-call path" : "peek path");
    Pair p;
    Aligned src(65536), dst(65536);
    Fill(src.data(), 65536, 3);
    Msg cmd = Command(1, SE_CMDF_DMAW);
    ASSERT_GT(SendDma(p.a, cmd, src.p, 65536), 0);
    Msg got;
    const size_t iov0 = full_iov0 ? sizeof got : 64;
    struct iovec small[2] = {{&got, iov0}, {dst.p, 4096}};
    EXPECT_EQ(syslink_readv(p.b, small, 2), -1);
    EXPECT_EQ(errno, ENOSPC);
    EXPECT_EQ(syslink_read(p.b, &got, iov0), -1);  // no iov[1] at all
    EXPECT_EQ(errno, ENOSPC);
    struct iovec ok[2] = {{&got, iov0}, {dst.p, 65536}};
    ASSERT_EQ(syslink_readv(p.b, ok, 2), static_cast<ssize_t>(Len(cmd)));
    EXPECT_EQ(syslink_dma_bytes(), 65536u);
    EXPECT_TRUE(Check(dst.data(), 65536, 3));
  }
}

TEST(Syslink, NonBlockingAndPoll) {
  Pair p;
  ASSERT_EQ(fcntl(p.b, F_SETFL, O_NONBLOCK), 0);
  Msg got;
  EXPECT_EQ(Recv(p.b, &got), -1);
  EXPECT_EQ(errno, EAGAIN);
  struct pollfd pfd = {p.b, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  ASSERT_GT(Send(p.a, Command(1)), 0);
  EXPECT_EQ(poll(&pfd, 1, 1000), 1);
  EXPECT_TRUE(pfd.revents & POLLIN);
  EXPECT_GT(Recv(p.b, &got), 0);
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
}

TEST(Syslink, QuotaBlocksOrEagain) {
  Pair p;
  ASSERT_EQ(syslink_set_quota(p.a, 100, 0), 0);
  ASSERT_EQ(Len(Command(1, 0, 40)), 80u);
  ASSERT_GT(Send(p.a, Command(1, 0, 40)), 0);
  ASSERT_EQ(fcntl(p.a, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(Send(p.a, Command(2, 0, 40)), -1);  // 80 more would exceed 100
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(Stats(p.a).outstanding_bytes, 80u);
  // Blocking: the write waits until the reply frees the quota.
  ASSERT_EQ(fcntl(p.a, F_SETFL, 0), 0);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    EXPECT_GT(Send(p.a, Command(2, 0, 40)), 0);
    done = true;
  });
  // Wait until the writer is really waiting for quota (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Stats(p.a).quota_waits == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(Stats(p.a).quota_waits, 1u);
  EXPECT_FALSE(done);
  Msg got;
  ASSERT_GT(Recv(p.b, &got), 0);
  ASSERT_GT(Send(p.b, Reply(got)), 0);
  ASSERT_GT(Recv(p.a, &got), 0);  // the reply frees 80 bytes
  writer.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(Stats(p.a).outstanding, 1u);
}

TEST(Syslink, FarEndDeathSynthesizesOneReplyPerCommand) {
  Pair p;
  constexpr int kN = 25;
  for (int i = 0; i < kN; i++) {
    ASSERT_GT(Send(p.a, Command(1000 + i, 0, 0, static_cast<sl_rlabel_t>(i))), 0);
  }
  // b answers the first five, reads two more and dies without answering.
  Msg got;
  for (int i = 0; i < 7; i++) {
    ASSERT_GT(Recv(p.b, &got), 0);
    if (i < 5) {
      ASSERT_GT(Send(p.b, Reply(got, 0)), 0);
    }
  }
  // And b had sent a command of its own, which a never answers.
  ASSERT_GT(Send(p.b, Command(42)), 0);
  p.CloseB();
  std::set<uint64_t> seen;
  int real = 0, synthesized = 0;
  bool saw_b_command = false;
  for (;;) {
    ssize_t n = Recv(p.a, &got);
    ASSERT_GE(n, 0) << strerror(errno);
    if (n == 0) break;
    if (!(got.msg.sm_proto & SM_PROTO_REPLY)) {
      saw_b_command = true;
      continue;
    }
    EXPECT_TRUE(got.msg.sm_head.se_cmd & SE_CMDF_REPLY);
    EXPECT_TRUE(seen.insert(got.msg.sm_msgid).second) << "duplicate reply";
    EXPECT_EQ(got.msg.sm_rlabel, got.msg.sm_msgid - 1000);
    if (got.msg.sm_head.se_aux == 0) {
      real++;
    } else {
      EXPECT_EQ(got.msg.sm_head.se_aux, ECONNRESET);
      if (synthesized == 0) {
        EXPECT_EQ(got.msg.sm_msgid, 1005u);  // oldest first
      }
      synthesized++;
    }
  }
  EXPECT_EQ(real, 5);
  EXPECT_EQ(synthesized, kN - 5);
  EXPECT_EQ(static_cast<int>(seen.size()), kN);
  EXPECT_TRUE(saw_b_command);
  EXPECT_EQ(Recv(p.a, &got), 0);  // and stays at end-of-file
  EXPECT_EQ(Send(p.a, Command(7)), -1);
  EXPECT_EQ(errno, EPIPE);
  // b's command can no longer be answered.
  Msg b_cmd = Command(42);
  EXPECT_EQ(Send(p.a, Reply(b_cmd)), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_EQ(Stats(p.a).replies_synthesized, static_cast<uint64_t>(kN - 5));
}

TEST(Syslink, BlockedThreadsWakeWhenFarEndDies) {
  Pair p;
  ASSERT_EQ(syslink_set_quota(p.a, 40, 0), 0);
  ASSERT_GT(Send(p.a, Command(1)), 0);
  std::atomic<int> woke{0};
  ssize_t write_result = 0;
  int write_errno = 0;
  std::thread writer([&] {  // blocked on quota
    write_result = Send(p.a, Command(2));
    write_errno = errno;
    woke++;
  });
  std::vector<ssize_t> reads(3);
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; i++) {  // blocked in read
    readers.emplace_back([&, i] {
      Msg got;
      reads[i] = Recv(p.a, &got);
      woke++;
    });
  }
  std::thread poller([&] {  // blocked in poll
    struct pollfd pfd = {p.a, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 60000), 1);
    woke++;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Stats(p.a).quota_waits == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  p.CloseB();
  writer.join();
  for (auto& t : readers) t.join();
  poller.join();
  EXPECT_EQ(woke, 5);
  EXPECT_EQ(write_result, -1);
  EXPECT_EQ(write_errno, EPIPE);
  // Exactly one reader got the synthesized reply to command 1; the others
  // saw end-of-file.
  int replies = 0;
  for (ssize_t r : reads) {
    EXPECT_TRUE(r == 0 || r == 32);
    replies += r == 32;
  }
  EXPECT_EQ(replies, 1);
}

TEST(Syslink, CloseWakesOwnBlockedReader) {
  Pair p;
  ssize_t r = 1;
  int err = 0;
  std::thread reader([&] {
    Msg got;
    r = Recv(p.a, &got);
    err = errno;
  });
  // The reader may not have entered recvmsg yet: either way it must return.
  std::this_thread::yield();
  syslink_close(p.a);
  p.a = -1;
  reader.join();
  EXPECT_EQ(r, -1);
  EXPECT_TRUE(err == EBADF || err == ENOTSOCK) << err;
}

// DMAW, DMAR and both, from ordinary memory and from syslink_dma_alloc().
TEST(Syslink, DmaBothWaysAndBothKindsOfBuffer) {
  for (bool memfd : {false, true}) {
    SCOPED_TRACE(memfd ? "syslink_dma_alloc buffers" : "ordinary buffers");
    Pair p;
    constexpr size_t kLen = SL_DMA_MAX;
    Aligned plain(kLen);
    unsigned char* out =
        memfd ? static_cast<unsigned char*>(syslink_dma_alloc(kLen)) : plain.data();
    ASSERT_NE(out, nullptr);
    Aligned in(kLen);
    Fill(out, kLen, 1);
    // DMAW|DMAR: the target receives the buffer and writes back half of it.
    Msg cmd = Command(1, SE_CMDF_DMAW | SE_CMDF_DMAR);
    ASSERT_GT(SendDma(p.a, cmd, out, kLen), 0);
    Msg got;
    ASSERT_GT(RecvDma(p.b, &got, in.p, kLen), 0);
    EXPECT_EQ(syslink_dma_bytes(), kLen);
    EXPECT_TRUE(Check(in.data(), kLen, 1));
    Fill(in.data(), kLen / 2, 2);
    Msg rep = Reply(got);
    ASSERT_GT(SendDma(p.b, rep, in.p, kLen / 2), 0);
    memset(in.p, 0, kLen);  // replies are copied at once: reuse is fine
    ASSERT_EQ(Recv(p.a, &got), 32);
    EXPECT_TRUE(got.msg.sm_head.se_cmd & SE_CMDF_DMAR);
    EXPECT_EQ(syslink_dma_bytes(), kLen / 2);
    EXPECT_TRUE(Check(out, kLen / 2, 2));
    EXPECT_TRUE(Check(out + kLen / 2, kLen / 2, 1) ||
                !Check(out + kLen / 2, 1, 99));  // the rest untouched
    // A reply with more data than the originator's buffer: EFBIG.
    Msg cmd2 = Command(2, SE_CMDF_DMAR);
    ASSERT_GT(SendDma(p.a, cmd2, out, 4096), 0);
    ASSERT_GT(Recv(p.b, &got), 0);
    EXPECT_EQ(syslink_dma_bytes(), 0u);
    Msg rep2 = Reply(got);
    EXPECT_EQ(SendDma(p.b, rep2, in.p, 8192), -1);
    EXPECT_EQ(errno, EFBIG);
    // A DMAR reply without data: the DMAR bit is cleared.
    ASSERT_GT(Send(p.b, rep2), 0);
    ASSERT_EQ(Recv(p.a, &got), 32);
    EXPECT_FALSE(got.msg.sm_head.se_cmd & SE_CMDF_DMAR);
    EXPECT_EQ(syslink_dma_bytes(), 0u);
    // Data on a reply to a command without DMAR: EINVAL.
    ASSERT_GT(Send(p.a, Command(3)), 0);
    ASSERT_GT(Recv(p.b, &got), 0);
    EXPECT_EQ(SendDma(p.b, Reply(got), in.p, 16), -1);
    EXPECT_EQ(errno, EINVAL);
    if (memfd) {
      EXPECT_EQ(syslink_dma_free(out), 0);
    }
  }
  EXPECT_EQ(syslink_dma_free(reinterpret_cast<void*>(4096)), -1);
  EXPECT_EQ(errno, EINVAL);
}

// DragonFly's own test: a writer pipelines 10 commands with 64 KiB DMA
// buffers in both directions before reading any reply; every byte checked.
TEST(Syslink, DragonFlyPipelinedDmaBothDirections) {
  Pair p;
  static constexpr int kCmds = 10;
  static constexpr size_t kLen = 65536;
  // Each side fills buffer i with seed + i, sends ten DMAW|DMAR commands,
  // then serves the other side's ten (checking their data, answering with it
  // inverted) and collects its own replies (checking the inverted data
  // landed in its buffers).
  auto side = [](int fd, unsigned seed, unsigned peer_seed, bool memfd) {
    std::vector<unsigned char*> bufs;
    std::vector<std::unique_ptr<Aligned>> plain;
    for (int i = 0; i < kCmds; i++) {
      unsigned char* b;
      if (memfd) {
        b = static_cast<unsigned char*>(syslink_dma_alloc(kLen));
      } else {
        plain.push_back(std::make_unique<Aligned>(kLen));
        b = plain.back()->data();
      }
      Fill(b, kLen, seed + i);
      bufs.push_back(b);
      Msg cmd = Command(100 + i, SE_CMDF_DMAW | SE_CMDF_DMAR);
      ASSERT_GT(SendDma(fd, cmd, b, kLen), 0);
    }
    Aligned in(kLen);
    int served = 0, replies = 0;
    while (served < kCmds || replies < kCmds) {
      Msg got;
      ssize_t n = RecvDma(fd, &got, in.p, kLen);
      ASSERT_GT(n, 0) << strerror(errno);
      const unsigned i = static_cast<unsigned>(got.msg.sm_msgid - 100);
      ASSERT_LT(i, static_cast<unsigned>(kCmds));
      ASSERT_EQ(syslink_dma_bytes(), kLen);
      if (got.msg.sm_proto & SM_PROTO_REPLY) {
        for (size_t k = 0; k < kLen; k++) {
          const auto want = static_cast<unsigned char>(
              ~static_cast<unsigned char>((seed + i) * 131 + k * 7));
          ASSERT_EQ(bufs[i][k], want) << "buffer " << i << " byte " << k;
        }
        replies++;
      } else {
        ASSERT_TRUE(Check(in.data(), kLen, peer_seed + i)) << "command " << i;
        for (size_t k = 0; k < kLen; k++) in.data()[k] = static_cast<unsigned char>(~in.data()[k]);
        Msg rep = Reply(got);
        ASSERT_GT(SendDma(fd, rep, in.p, kLen), 0);
        served++;
      }
    }
    if (memfd) {
      for (auto* b : bufs) syslink_dma_free(b);
    }
  };
  std::thread ta([&] { side(p.a, 1000, 0, false); });
  std::thread tb([&] { side(p.b, 0, 1000, true); });
  ta.join();
  tb.join();
}

// A pool of worker threads serving one descriptor, and a pool of client
// threads sharing the other: every command is answered exactly once.
TEST(Syslink, ThreadPoolsOnBothEnds) {
  Pair p;
  constexpr int kClients = 4, kWorkers = 3, kPerClient = 500;
  std::atomic<int> served{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; w++) {
    workers.emplace_back([&] {
      Msg got;
      for (;;) {
        ssize_t n = Recv(p.b, &got);
        if (n <= 0) return;
        Msg rep = Reply(got, static_cast<int>(got.msg.sm_msgid % 7));
        ASSERT_GT(Send(p.b, rep), 0);
        served++;
      }
    });
  }
  std::mutex mu;
  std::multiset<uint64_t> replies;
  std::atomic<int> sent{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; c++) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kPerClient; i++) {
        ASSERT_GT(Send(p.a, Command(static_cast<uint64_t>(c) * 100000 + i)), 0);
        sent++;
      }
    });
  }
  std::thread collector([&] {
    Msg got;
    for (int i = 0; i < kClients * kPerClient; i++) {
      ASSERT_EQ(Recv(p.a, &got), 32);
      EXPECT_EQ(got.msg.sm_head.se_aux, static_cast<int>(got.msg.sm_msgid % 7));
      std::lock_guard<std::mutex> l(mu);
      replies.insert(got.msg.sm_msgid);
    }
  });
  for (auto& t : clients) t.join();
  collector.join();
  EXPECT_EQ(static_cast<int>(replies.size()), kClients * kPerClient);
  for (uint64_t id : replies) EXPECT_EQ(replies.count(id), 1u);
  syslink_close(p.a);  // the workers see end-of-file
  p.a = -1;
  for (auto& t : workers) t.join();
  EXPECT_EQ(served.load(), kClients * kPerClient);
}

// A peer that writes raw bytes to the socket, bypassing the library.
TEST(Syslink, GarbageFromAPeerIsDroppedAndCounted) {
  Pair p;
  auto raw = [&](const void* data, size_t len, int fd_to_pass = -1) {
    struct iovec v = {const_cast<void*>(data), len};
    struct msghdr mh = {};
    mh.msg_iov = &v;
    mh.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    if (fd_to_pass >= 0) {
      mh.msg_control = cbuf;
      mh.msg_controllen = sizeof cbuf;
      struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    }
    ASSERT_EQ(sendmsg(p.a, &mh, MSG_NOSIGNAL), static_cast<ssize_t>(len));
  };
  struct Frame {  // libsyslink/frame.h's LocalFrame, by hand
    uint32_t magic;
    uint8_t carrier, flags;
    uint16_t reserved;
    uint32_t dma_bytes, dma_room;
    uint64_t dma_offset;
    uint64_t dma_buffer;
  };
  const Frame good = {0x314b4c53, 0, 0, 0, 0, 0, 0, 0};
  Msg cmd = Command(1);
  auto framed = [&](Frame f, const void* m, size_t len) {
    std::vector<unsigned char> v(sizeof f + len);
    memcpy(v.data(), &f, sizeof f);
    memcpy(v.data() + sizeof f, m, len);
    return v;
  };
  int expected = 0;
  // 1. Random garbage of many sizes.
  unsigned seed = 1;
  for (size_t len : {1, 7, 23, 24, 31, 100, 4000}) {
    std::vector<unsigned char> junk(len);
    for (auto& c : junk) c = static_cast<unsigned char>(rand_r(&seed));
    raw(junk.data(), junk.size());
    expected++;
  }
  // 2. A zero-length record: not end-of-file.
  raw("", 0);
  expected++;
  // 3. Wrong magic, unknown carrier, reserved bits.
  Frame f = good;
  f.magic = 1;
  auto v = framed(f, &cmd, Len(cmd));
  raw(v.data(), v.size());
  f = good;
  f.carrier = 9;
  v = framed(f, &cmd, Len(cmd));
  raw(v.data(), v.size());
  f = good;
  f.reserved = 1;
  v = framed(f, &cmd, Len(cmd));
  raw(v.data(), v.size());
  expected += 3;
  // 4. A good frame around a malformed message.
  Msg bad = cmd;
  bad.msg.sm_head.se_bytes = 200;
  v = framed(good, &bad, Len(bad));
  raw(v.data(), v.size());
  expected++;
  // 5. A pipe carrier with no descriptor; a descriptor with no carrier.
  f = good;
  f.carrier = 1;
  f.dma_bytes = 10;
  Msg dcmd = Command(2, SE_CMDF_DMAW);
  v = framed(f, &dcmd, Len(dcmd));
  raw(v.data(), v.size());
  int pfd[2];
  ASSERT_EQ(pipe(pfd), 0);
  v = framed(good, &cmd, Len(cmd));
  raw(v.data(), v.size(), pfd[0]);
  expected += 2;
  // 6. A pipe that holds less than the frame says (and a write end kept
  // open: the receiver must not wait for it).
  f = good;
  f.carrier = 1;
  f.dma_bytes = 4096;
  ASSERT_EQ(write(pfd[1], "short", 5), 5);
  v = framed(f, &dcmd, Len(dcmd));
  raw(v.data(), v.size(), pfd[0]);
  expected++;
  // 7. A memfd carrier that is not a sealed memfd.
  f = good;
  f.carrier = 2;
  f.dma_bytes = 16;
  v = framed(f, &dcmd, Len(dcmd));
  raw(v.data(), v.size(), pfd[0]);
  expected++;
  // 8. A reply to nothing: counted as late, not rejected.
  Msg rep = Reply(Command(77));
  v = framed(good, &rep, Len(rep));
  raw(v.data(), v.size());
  // 9. A duplicate msgid: the first is delivered, the second dropped.
  v = framed(good, &cmd, Len(cmd));
  raw(v.data(), v.size());
  raw(v.data(), v.size());
  expected++;
  // 10. A PAD: dropped silently.
  const uint16_t pad[4] = {SMPROTO_PAD, 8, 0, 0};
  v = framed(good, pad, sizeof pad);
  raw(v.data(), v.size());

  Msg got;
  Aligned buf(4096);
  ASSERT_EQ(RecvDma(p.b, &got, buf.p, 4096), static_cast<ssize_t>(Len(cmd)));
  EXPECT_EQ(got.msg.sm_msgid, 1u);
  const Msg delivered = got;  // later reads scribble on got
  ASSERT_EQ(fcntl(p.b, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(RecvDma(p.b, &got, buf.p, 4096), -1);
  EXPECT_EQ(errno, EAGAIN);
  auto st = Stats(p.b);
  EXPECT_EQ(st.rejected, static_cast<uint64_t>(expected));
  EXPECT_EQ(st.late_replies, 1u);
  EXPECT_EQ(st.cmds_received, 1u);
  // The link still works.
  ASSERT_GT(Send(p.b, Reply(delivered)), 0);
  close(pfd[0]);
  close(pfd[1]);
}

// meshd, relaying a session, says why it is ending before it closes: the
// replies synthesized for the commands in flight carry that errno.
TEST(Syslink, GoodbyeSetsTheErrnoOfSynthesizedReplies) {
  Pair p;
  for (int i = 0; i < 3; i++) ASSERT_GT(Send(p.a, Command(10 + i)), 0);
  struct Frame {  // libsyslink/frame.h's LocalFrame, by hand
    uint32_t magic;
    uint8_t carrier, flags;
    uint16_t reserved;
    uint32_t dma_bytes, dma_room;
    uint64_t dma_offset;
    uint64_t dma_buffer;
  };
  // A malformed goodbye (with a message after it) is rejected.
  unsigned char bad[sizeof(Frame) + 32] = {};
  Frame f = {0x314b4c53, 0, 0x02, 0, 0, EHOSTUNREACH, 0, 0};
  memcpy(bad, &f, sizeof f);
  Msg junk = Command(1);
  memcpy(bad + sizeof f, &junk, 32);
  ASSERT_EQ(send(p.b, bad, sizeof bad, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof bad));
  ASSERT_EQ(send(p.b, &f, sizeof f, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof f));
  p.CloseB();
  Msg got;
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(Recv(p.a, &got), 32);
    EXPECT_EQ(got.msg.sm_msgid, 10u + i);
    EXPECT_EQ(got.msg.sm_head.se_aux, EHOSTUNREACH);
  }
  EXPECT_EQ(Recv(p.a, &got), 0);
  EXPECT_EQ(Stats(p.a).rejected, 1u);
}

// Map mode: DMAW data from a syslink_dma_alloc() buffer into one of ours
// arrives as a read-only shared view of the originator's pages.
TEST(Syslink, MapModeViews) {
  Pair p;
  ASSERT_EQ(syslink_set_dma_map(p.b, 1), 0);
  constexpr size_t kLen = 65536 + 100;  // 16 whole pages mapped, 100 bytes copied
  auto* src = static_cast<unsigned char*>(syslink_dma_alloc(kLen));
  auto* dst = static_cast<unsigned char*>(syslink_dma_alloc(kLen));
  ASSERT_NE(src, nullptr);
  ASSERT_NE(dst, nullptr);
  Fill(src, kLen, 5);
  Msg c = Command(1, SE_CMDF_DMAW);
  ASSERT_GT(SendDma(p.a, c, src, kLen), 0);
  Msg got;
  ASSERT_GT(RecvDma(p.b, &got, dst, kLen), 0);
  EXPECT_EQ(syslink_dma_bytes(), kLen);
  EXPECT_TRUE(Check(dst, kLen, 5));
  // A view, not a copy: the originator's later writes show through (the
  // manual's rule: after the reply the originator may change its buffer).
  ASSERT_GT(Send(p.b, Reply(got)), 0);
  ASSERT_GT(Recv(p.a, &got), 0);
  src[0] = 0xEE;
  src[65535] = 0xEF;
  EXPECT_EQ(dst[0], 0xEE);
  EXPECT_EQ(dst[65535], 0xEF);
  EXPECT_NE(dst[65536], 0x77);
  src[65536] = 0x77;  // the copied tail is ours
  EXPECT_NE(dst[65536], 0x77);
  // Data copied into the same place (from a plain buffer): the view goes
  // first, so the copy lands in writable memory of our own.
  Aligned plain(4096);
  Fill(plain.data(), 4096, 9);
  ASSERT_GT(SendDma(p.a, Command(2, SE_CMDF_DMAW), plain.p, 4096), 0);
  ASSERT_GT(RecvDma(p.b, &got, dst, kLen), 0);
  EXPECT_TRUE(Check(dst, 4096, 9));
  dst[1] = 1;  // writable again (a view would fault)
  src[4096] = 0x55;
  EXPECT_NE(dst[4096], 0x55);  // the rest of the old view is gone too
  ASSERT_GT(Send(p.b, Reply(got)), 0);
  ASSERT_GT(Recv(p.a, &got), 0);
  // Into a plain buffer, map mode copies.
  Aligned plain_dst(kLen);
  ASSERT_GT(SendDma(p.a, Command(3, SE_CMDF_DMAW), src, kLen), 0);
  ASSERT_GT(RecvDma(p.b, &got, plain_dst.p, kLen), 0);
  src[8] = 0x42;
  EXPECT_NE(plain_dst.data()[8], 0x42);
  ASSERT_GT(Send(p.b, Reply(got)), 0);
  ASSERT_GT(Recv(p.a, &got), 0);
  // A view again; then the originator frees its buffer: the receiver drops
  // the view (its own pages come back) when it next reads.
  ASSERT_GT(SendDma(p.a, Command(4, SE_CMDF_DMAW), src, kLen), 0);
  ASSERT_GT(RecvDma(p.b, &got, dst, kLen), 0);
  ASSERT_GT(Send(p.b, Reply(got)), 0);
  ASSERT_GT(Recv(p.a, &got), 0);
  src[100] = 0x99;
  EXPECT_EQ(dst[100], 0x99);
  ASSERT_EQ(syslink_dma_free(src), 0);
  ASSERT_GT(Send(p.a, Command(5)), 0);
  ASSERT_GT(RecvDma(p.b, &got, dst, kLen), 0);  // the forget frame came first
  EXPECT_EQ(got.msg.sm_msgid, 5u);
  dst[100] = 1;  // writable: the view is gone
  EXPECT_EQ(syslink_set_dma_map(p.b, 0), 0);
  syslink_dma_free(dst);
}

// A command naming a DMA buffer the receiver was never given (a peer that
// bypasses the library, or a descriptor passed to a new process after its
// buffers were announced) is answered by the receiver's library: ESTALE.
TEST(Syslink, UnknownBufferIsAnsweredWithEstale) {
  Pair p;
  struct Frame {
    uint32_t magic;
    uint8_t carrier, flags;
    uint16_t reserved;
    uint32_t dma_bytes, dma_room;
    uint64_t dma_offset;
    uint64_t dma_buffer;
  };
  Frame f = {0x314b4c53, 2, 0, 0, 4096, 0, 0, 777};
  Msg c = Command(31, SE_CMDF_DMAW);
  unsigned char pkt[sizeof f + 32];
  memcpy(pkt, &f, sizeof f);
  memcpy(pkt + sizeof f, &c, 32);
  ASSERT_EQ(send(p.a, pkt, sizeof pkt, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof pkt));
  ASSERT_GT(Send(p.a, Command(32)), 0);  // p.a's library knows only this one
  Aligned buf(4096);
  Msg got;
  ASSERT_GT(RecvDma(p.b, &got, buf.p, 4096), 0);
  EXPECT_EQ(got.msg.sm_msgid, 32u);  // 31 was not delivered...
  unsigned char raw[256];
  ASSERT_GT(recv(p.a, raw, sizeof raw, 0), 0);  // ...but answered
  Msg rep;
  memcpy(&rep, raw + sizeof f, 32);
  EXPECT_EQ(rep.msg.sm_msgid, 31u);
  EXPECT_TRUE(rep.msg.sm_proto & SM_PROTO_REPLY);
  EXPECT_EQ(rep.msg.sm_head.se_aux, ESTALE);
}

TEST(Syslink, PadIsNeverDelivered) {
  Pair p;
  alignas(8) uint16_t pad[8] = {SMPROTO_PAD, 16, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(syslink_write(p.a, pad, sizeof pad), 16);
  ASSERT_GT(Send(p.a, Command(1)), 0);
  Msg got;
  ASSERT_GT(Recv(p.b, &got), 0);
  EXPECT_EQ(got.msg.sm_msgid, 1u);
  EXPECT_EQ(Stats(p.b).rejected, 0u);
}

TEST(Syslink, ReversedByteOrderIsSwappedOnTheWay) {
  Pair p;
  Msg cmd = Command(0x0102030405060708ull, 0, 8);
  // Swap the whole message by hand to big-endian.
  Msg be = cmd;
  auto sw16 = [](void* at) {
    uint16_t v;
    memcpy(&v, at, 2);
    v = __builtin_bswap16(v);
    memcpy(at, &v, 2);
  };
  auto sw32 = [](void* at) {
    uint32_t v;
    memcpy(&v, at, 4);
    v = __builtin_bswap32(v);
    memcpy(at, &v, 4);
  };
  auto sw64 = [](void* at) {
    uint64_t v;
    memcpy(&v, at, 8);
    v = __builtin_bswap64(v);
    memcpy(at, &v, 8);
  };
  sw16(&be.msg.sm_proto);
  sw16(&be.msg.sm_bytes);
  sw32(&be.msg.sm_rlabel);
  sw64(&be.msg.sm_msgid);
  sw64(&be.msg.sm_sessid);
  for (unsigned char* e : {be.buf + 24, be.buf + 32}) {
    sw16(e);
    sw16(e + 2);
    sw32(e + 4);
  }
  ASSERT_EQ(syslink_write(p.a, &be, Len(cmd)), static_cast<ssize_t>(Len(cmd)));
  Msg got;
  ASSERT_GT(Recv(p.b, &got), 0);
  EXPECT_EQ(got.msg.sm_msgid, 0x0102030405060708ull);
  EXPECT_EQ(got.msg.sm_proto, kProto);
  EXPECT_EQ(got.msg.sm_head.se_cmd, (7 | SE_CMDF_STRUCTURED | SE_CMDF_UNTRANSLATED));
}

// ---------------------------------------------------------------------------
// The Link's two hooks for meshd's region server: DMAW data left in place
// (Options::defer_dma) and DMAR replies gathered from pieces.

struct RawLinks {
  RawLinks() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    libsyslink::Link::Options server;
    server.defer_dma = true;
    a = std::make_shared<libsyslink::Link>(sv[0], libsyslink::Link::Options{});
    b = std::make_shared<libsyslink::Link>(sv[1], server);
  }
  std::shared_ptr<libsyslink::Link> a, b;
};

TEST(LinkDeferred, DmawDataIsLeftForTheReaderToScatter) {
  const size_t n = 100000;
  auto* shared = static_cast<unsigned char*>(syslink_dma_alloc(n));
  void* plain_raw = nullptr;
  ASSERT_EQ(posix_memalign(&plain_raw, 4096, n), 0);
  auto* plain = static_cast<unsigned char*>(plain_raw);
  for (unsigned char* src : {shared, plain}) {  // memfd, then pipe
    RawLinks l;
    Fill(src, n, src == shared ? 1 : 2);
    Msg cmd = Command(5, SE_CMDF_DMAW);
    struct iovec out[2] = {{&cmd, Len(cmd)}, {src, n}};
    ASSERT_EQ(l.a->Write(out, 2), static_cast<ssize_t>(Len(cmd)));
    Msg got;
    struct iovec in = {&got, sizeof got};  // no iov[1]: the data stays put
    ASSERT_EQ(l.b->Read(&in, 1), static_cast<ssize_t>(Len(cmd)));
    libsyslink::DeferredDma d = libsyslink::TakeDeferredDma();
    ASSERT_EQ(d.bytes(), n);
    std::vector<unsigned char> x(10), y(n - 10 - 30000), z(30000);
    const struct iovec pieces[3] = {{x.data(), x.size()}, {y.data(), y.size()},
                                    {z.data(), z.size()}};
    ASSERT_EQ(d.CopyTo(pieces, 3), 0);
    EXPECT_EQ(memcmp(x.data(), src, 10), 0);
    EXPECT_EQ(memcmp(y.data(), src + 10, y.size()), 0);
    EXPECT_EQ(memcmp(z.data(), src + n - 30000, 30000), 0);
    EXPECT_EQ(libsyslink::TakeDeferredDma().bytes(), 0u) << "taken once";
    // Pieces that do not add up are refused.
    Msg cmd2 = Command(6, SE_CMDF_DMAW);
    struct iovec out2[2] = {{&cmd2, Len(cmd2)}, {src, 4096}};
    ASSERT_EQ(l.a->Write(out2, 2), static_cast<ssize_t>(Len(cmd2)));
    ASSERT_GT(l.b->Read(&in, 1), 0);
    d = libsyslink::TakeDeferredDma();
    EXPECT_EQ(d.CopyTo(pieces, 1), EINVAL);
  }
  syslink_dma_free(shared);
  free(plain);
}

TEST(LinkDeferred, DmarRepliesAreGatheredFromPieces) {
  const size_t n = 70000;
  auto* shared = static_cast<unsigned char*>(syslink_dma_alloc(n));
  void* plain_raw = nullptr;
  ASSERT_EQ(posix_memalign(&plain_raw, 4096, n), 0);
  auto* plain = static_cast<unsigned char*>(plain_raw);
  std::vector<unsigned char> src(n);
  Fill(src.data(), n, 9);
  for (unsigned char* dst : {shared, plain}) {  // in place, then through a pipe
    RawLinks l;
    memset(dst, 0, n);
    Msg cmd = Command(8, SE_CMDF_DMAR);
    struct iovec out[2] = {{&cmd, Len(cmd)}, {dst, n}};
    ASSERT_EQ(l.a->Write(out, 2), static_cast<ssize_t>(Len(cmd)));
    Msg got;
    struct iovec in = {&got, sizeof got};
    ASSERT_GT(l.b->Read(&in, 1), 0);
    Msg rep = Reply(got);
    const struct iovec pieces[3] = {{src.data(), 1}, {src.data() + 1, 40000},
                                    {src.data() + 40001, n - 40001}};
    ASSERT_EQ(l.b->WriteReplyGather({&rep, Len(rep)}, pieces, 3),
              static_cast<ssize_t>(Len(rep)));
    Msg r;
    struct iovec rin = {&r, sizeof r};
    ASSERT_GT(l.a->Read(&rin, 1), 0);
    EXPECT_EQ(r.msg.sm_msgid, 8u);
    EXPECT_EQ(syslink_dma_bytes(), n);
    EXPECT_EQ(memcmp(dst, src.data(), n), 0);
    // A gathered reply must be a reply, to a DMAR command, within its room.
    EXPECT_EQ(l.b->WriteReplyGather({&cmd, Len(cmd)}, pieces, 1), -EINVAL);
  }
  syslink_dma_free(shared);
  free(plain);
}

}  // namespace
