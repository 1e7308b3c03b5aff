// Local syslinks between real processes: across fork(), passed to another
// process with SCM_RIGHTS, DMA across address spaces, and a peer killed with
// SIGKILL while commands are outstanding.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "syslink/syslink.h"

namespace {

constexpr sl_proto_t kProto = SM_PROTO_ENCODE(200);
constexpr sl_cmd_t kEcho = 1;     // reply with the DMA data transformed
constexpr sl_cmd_t kHold = 2;     // read, never answer
constexpr sl_cmd_t kQuit = 3;

union Msg {
  struct syslink_msg msg;
  unsigned char buf[SL_MAXSIZE];
};

Msg Command(uint64_t msgid, sl_cmd_t cmd) {
  Msg m;
  memset(&m, 0, sizeof m);
  sl_msg_init_cmd(&m.msg, kProto, cmd);
  m.msg.sm_msgid = msgid;
  sl_msg_fini(&m.msg);
  return m;
}

size_t Len(const Msg& m) { return SL_MSG_ALIGN(m.msg.sm_bytes); }

void NewPair(int fds[2]) {
  struct syslink_info_new info = {};
  info.head.version = SYSLINK_INFO_VERSION;
  ASSERT_EQ(syslink(SYSLINK_CMD_NEW, &info.head, sizeof info), 0);
  fds[0] = info.fds[0];
  fds[1] = info.fds[1];
}

// The child side: serves commands until kQuit or end-of-file. kEcho with a
// DMA buffer answers with the data, each byte incremented; kHold is read and
// never answered. Exits 0 if every message was as expected.
[[noreturn]] void Serve(int fd) {
  static unsigned char data[SL_DMA_MAX] __attribute__((aligned(4096)));
  for (;;) {
    Msg m;
    struct iovec iov[2] = {{&m, sizeof m}, {data, sizeof data}};
    ssize_t n = syslink_readv(fd, iov, 2);
    if (n == 0) _exit(0);
    if (n < 0) _exit(10);
    const sl_cmd_t cmd = m.msg.sm_head.se_cmd & SE_CMD_MASK;
    if (cmd == kHold) continue;
    if (cmd == kQuit) _exit(0);
    const size_t got = syslink_dma_bytes();
    for (size_t i = 0; i < got; i++) data[i]++;
    Msg r;
    sl_msg_init_reply(&m.msg, &r.msg, 0);
    sl_msg_fini(&r.msg);
    struct iovec out[2] = {{&r, Len(r)}, {data, got}};
    const bool dmar = m.msg.sm_head.se_cmd & SE_CMDF_DMAR;
    if (syslink_writev(fd, out, dmar && got > 0 ? 2 : 1) < 0) _exit(11);
  }
}

int WaitExit(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

// Round trips with DMA (both buffer kinds) against a peer process.
void RoundTrips(int fd) {
  for (bool memfd : {false, true}) {
    unsigned char* buf;
    void* plain = nullptr;
    if (memfd) {
      buf = static_cast<unsigned char*>(syslink_dma_alloc(SL_DMA_MAX));
    } else {
      ASSERT_EQ(posix_memalign(&plain, 4096, SL_DMA_MAX), 0);
      buf = static_cast<unsigned char*>(plain);
    }
    ASSERT_NE(buf, nullptr);
    for (int round = 0; round < 20; round++) {
      for (size_t i = 0; i < SL_DMA_MAX; i++) buf[i] = static_cast<unsigned char>(i * 3 + round);
      Msg c = Command(1000 + round, kEcho | SE_CMDF_DMAW | SE_CMDF_DMAR);
      struct iovec iov[2] = {{&c, Len(c)}, {buf, SL_DMA_MAX}};
      ASSERT_EQ(syslink_writev(fd, iov, 2), static_cast<ssize_t>(Len(c)));
      Msg r;
      ASSERT_EQ(syslink_read(fd, &r, sizeof r), 32);
      EXPECT_EQ(r.msg.sm_msgid, 1000u + round);
      EXPECT_EQ(r.msg.sm_head.se_aux, 0);
      ASSERT_EQ(syslink_dma_bytes(), SL_DMA_MAX);
      for (size_t i = 0; i < SL_DMA_MAX; i++) {
        ASSERT_EQ(buf[i], static_cast<unsigned char>(i * 3 + round + 1)) << i;
      }
    }
    if (memfd) {
      syslink_dma_free(buf);
    } else {
      free(plain);
    }
  }
}

TEST(LocalProcess, AcrossFork) {
  int fds[2];
  NewPair(fds);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    syslink_close(fds[0]);
    Serve(fds[1]);
  }
  syslink_close(fds[1]);  // the parent's copy of the child's end
  RoundTrips(fds[0]);
  Msg q = Command(1, kQuit);
  ASSERT_GT(syslink_write(fds[0], &q, Len(q)), 0);
  EXPECT_EQ(WaitExit(pid), 0);
  // The child is gone: the quit command gets its synthesized reply.
  Msg r;
  ASSERT_EQ(syslink_read(fds[0], &r, sizeof r), 32);
  EXPECT_EQ(r.msg.sm_msgid, 1u);
  EXPECT_EQ(r.msg.sm_head.se_aux, ECONNRESET);
  EXPECT_EQ(syslink_read(fds[0], &r, sizeof r), 0);
  syslink_close(fds[0]);
}

// The descriptor reaches a process that never had it through fork: the
// library adopts it on first use.
TEST(LocalProcess, PassedWithScmRights) {
  int chan[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(chan[0]);
    char byte;
    struct iovec v = {&byte, 1};
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr mh = {};
    mh.msg_iov = &v;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    if (recvmsg(chan[1], &mh, 0) != 1) _exit(20);
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof fd);
    Serve(fd);
  }
  close(chan[1]);
  int fds[2];
  NewPair(fds);  // made after the fork: the child cannot have it
  char byte = 'x';
  struct iovec v = {&byte, 1};
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  struct msghdr mh = {};
  mh.msg_iov = &v;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof cbuf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fds[1], sizeof(int));
  ASSERT_EQ(sendmsg(chan[0], &mh, 0), 1);
  syslink_close(fds[1]);
  close(chan[0]);
  RoundTrips(fds[0]);
  syslink_close(fds[0]);  // the child reads end-of-file and exits 0
  EXPECT_EQ(WaitExit(pid), 0);
}

// A peer killed with SIGKILL while N commands are outstanding: exactly N
// replies, each once; every thread blocked in read, write or poll wakes.
TEST(LocalProcess, SigkillWithCommandsOutstanding) {
  for (int trial = 0; trial < 5; trial++) {
    SCOPED_TRACE(trial);
    int fds[2];
    NewPair(fds);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      syslink_close(fds[0]);
      Serve(fds[1]);
    }
    syslink_close(fds[1]);
    const int fd = fds[0];
    // Some answered commands first, then N the child reads and holds, and
    // M it never gets to read.
    constexpr int kAnswered = 10, kHeld = 30, kUnread = 20;
    for (int i = 0; i < kAnswered; i++) {
      Msg c = Command(i, kEcho);
      ASSERT_GT(syslink_write(fd, &c, Len(c)), 0);
      Msg r;
      ASSERT_EQ(syslink_read(fd, &r, sizeof r), 32);
      ASSERT_EQ(r.msg.sm_head.se_aux, 0);
    }
    for (int i = 0; i < kHeld + kUnread; i++) {
      Msg c = Command(100 + i, kHold);
      ASSERT_GT(syslink_write(fd, &c, Len(c)), 0);
    }
    // One more that cannot be sent: the quota is exactly full.
    struct syslink_stats st;
    ASSERT_EQ(syslink_get_stats(fd, &st), 0);
    ASSERT_EQ(st.outstanding, static_cast<uint32_t>(kHeld + kUnread));
    ASSERT_EQ(syslink_set_quota(fd, st.outstanding_bytes, 0), 0);
    std::atomic<int> woken{0};
    int writer_errno = 0;
    std::thread writer([&] {
      Msg c = Command(999, kHold);
      EXPECT_EQ(syslink_write(fd, &c, Len(c)), -1);
      writer_errno = errno;
      woken++;
    });
    std::thread poller([&] {
      struct pollfd pfd = {fd, POLLIN, 0};
      EXPECT_EQ(poll(&pfd, 1, 30000), 1);
      woken++;
    });
    // Readers blocked in read collect every reply.
    std::mutex mu;
    std::multiset<uint64_t> replies;
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; t++) {
      readers.emplace_back([&] {
        for (;;) {
          Msg r;
          ssize_t n = syslink_read(fd, &r, sizeof r);
          if (n <= 0) break;
          EXPECT_EQ(r.msg.sm_head.se_aux, ECONNRESET);
          std::lock_guard<std::mutex> l(mu);
          replies.insert(r.msg.sm_msgid);
        }
        woken++;
      });
    }
    // The writer must be waiting for quota before the kill (bounded wait).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
      ASSERT_EQ(syslink_get_stats(fd, &st), 0);
    } while (st.quota_waits == 0 && std::chrono::steady_clock::now() < deadline);
    ASSERT_EQ(st.quota_waits, 1u);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    EXPECT_TRUE(WIFSIGNALED(WaitExit(pid)));
    writer.join();
    poller.join();
    for (auto& t : readers) t.join();
    EXPECT_EQ(woken, 5);
    EXPECT_EQ(writer_errno, EPIPE);
    EXPECT_EQ(static_cast<int>(replies.size()), kHeld + kUnread);
    for (int i = 0; i < kHeld + kUnread; i++) EXPECT_EQ(replies.count(100 + i), 1u) << i;
    ASSERT_EQ(syslink_get_stats(fd, &st), 0);
    EXPECT_EQ(st.replies_synthesized, static_cast<uint64_t>(kHeld + kUnread));
    EXPECT_EQ(st.outstanding, 0u);
    syslink_close(fd);
  }
}

}  // namespace
