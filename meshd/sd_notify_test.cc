#include "meshd/sd_notify.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"

namespace meshd {
namespace {

using common::UniqueFd;

// A bound SOCK_DGRAM socket standing in for systemd's notify socket, with
// SO_PASSCRED on (as systemd has it) so the sender's pid can be checked.
class Receiver {
 public:
  // Binds ADDRESS: a path, or "@name" for the abstract namespace.
  explicit Receiver(const std::string& address) : address_(address) {
    fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd_.ok());
    int on = 1;
    EXPECT_EQ(setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on),
              0);
    struct sockaddr_un addr;
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    EXPECT_LT(address.size(), sizeof addr.sun_path);
    std::memcpy(addr.sun_path, address.data(), address.size());
    if (address[0] == '@') addr.sun_path[0] = '\0';
    const socklen_t len = static_cast<socklen_t>(
        offsetof(struct sockaddr_un, sun_path) + address.size());
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<struct sockaddr*>(&addr), len),
              0)
        << address << ": " << strerror(errno);
  }

  // The next datagram, without waiting (the sender has already sent it),
  // after checking that the kernel vouches it came from this process.
  std::string Receive() {
    char buf[4096];
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    const ssize_t n = recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
    EXPECT_GE(n, 0) << strerror(errno);
    if (n < 0) return "";
    EXPECT_EQ(msg.msg_flags & MSG_TRUNC, 0);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    EXPECT_NE(cmsg, nullptr);
    if (cmsg != nullptr) {
      EXPECT_EQ(cmsg->cmsg_type, SCM_CREDENTIALS);
      struct ucred cred;
      std::memcpy(&cred, CMSG_DATA(cmsg), sizeof cred);
      EXPECT_EQ(cred.pid, getpid());
    }
    return std::string(buf, static_cast<size_t>(n));
  }

  // True if nothing is queued.
  bool Empty() {
    char c;
    return recv(fd_.get(), &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 &&
           errno == EAGAIN;
  }

  void Close() { fd_.reset(); }

 private:
  std::string address_;
  UniqueFd fd_;
};

// A short directory under /tmp (TEST_TMPDIR is too long for socket paths),
// removed with the socket in it.
class SdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sdn.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    dir_ = tmpl;
    path_ = dir_ + "/notify";
    unsetenv("NOTIFY_SOCKET");
  }
  void TearDown() override {
    unsetenv("NOTIFY_SOCKET");
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SdNotifyTest, SendsToPath) {
  Receiver systemd(path_);
  ASSERT_TRUE(SdNotifyTo(path_, "READY=1").ok());
  EXPECT_EQ(systemd.Receive(), "READY=1");
  EXPECT_TRUE(systemd.Empty());
}

TEST_F(SdNotifyTest, SendsToAbstractSocket) {
  const std::string name =
      absl::StrCat("@sdn-test-", getpid(), "-", dir_.substr(9));
  Receiver systemd(name);
  ASSERT_TRUE(SdNotifyTo(name, "STOPPING=1").ok());
  EXPECT_EQ(systemd.Receive(), "STOPPING=1");
}

TEST_F(SdNotifyTest, UsesEnvironment) {
  Receiver systemd(path_);
  ASSERT_EQ(setenv("NOTIFY_SOCKET", path_.c_str(), 1), 0);
  EXPECT_TRUE(SdNotify("READY=1"));
  EXPECT_TRUE(SdNotify("STATUS=2 peers up\nSTOPPING=1"));
  EXPECT_EQ(systemd.Receive(), "READY=1");
  EXPECT_EQ(systemd.Receive(), "STATUS=2 peers up\nSTOPPING=1");
}

TEST_F(SdNotifyTest, UnsetOrEmptyIsFalseNotError) {
  EXPECT_FALSE(SdNotify("READY=1"));
  ASSERT_EQ(setenv("NOTIFY_SOCKET", "", 1), 0);
  EXPECT_FALSE(SdNotify("READY=1"));
}

TEST_F(SdNotifyTest, BadAddresses) {
  EXPECT_EQ(SdNotifyTo("", "READY=1").code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status relative = SdNotifyTo("run/notify", "READY=1");
  EXPECT_EQ(relative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(relative.message(),
            "sd_notify: NOTIFY_SOCKET \"run/notify\" is neither an absolute "
            "path nor an abstract socket (@name)");
  const std::string long_path = "/tmp/" + std::string(103, 'x');  // 108
  absl::Status too_long = SdNotifyTo(long_path, "READY=1");
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(too_long.message(), absl::StrCat("sd_notify: NOTIFY_SOCKET \"",
                                             long_path,
                                             "\" is longer than 107 bytes"));
  EXPECT_EQ(SdNotifyTo(path_, "").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SdNotifyTest, MissingSocketIsNotFound) {
  absl::Status s = SdNotifyTo(path_, "READY=1");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), absl::StrCat("sd_notify: send to ", path_,
                                      ": No such file or directory"));
}

TEST_F(SdNotifyTest, NobodyListeningIsUnavailable) {
  Receiver systemd(path_);
  systemd.Close();  // the path stays, the socket is gone
  EXPECT_EQ(SdNotifyTo(path_, "READY=1").code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(SdNotifyTest, FailureIsFalseAndLogged) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  UniqueFd log_read(fds[0]), log_write(fds[1]);
  common::SetLogFd(log_write.get());
  ASSERT_EQ(setenv("NOTIFY_SOCKET", path_.c_str(), 1), 0);
  EXPECT_FALSE(SdNotify("READY=1"));
  common::SetLogFd(2);
  char buf[1024];
  const ssize_t n = read(log_read.get(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  const std::string line(buf, static_cast<size_t>(n));
  EXPECT_NE(line.find(" level=warn comp=sd_notify msg=\"cannot notify "
                      "systemd\" state=\"READY=1\" err=\"NOT_FOUND: sd_notify: "),
            std::string::npos)
      << line;
}

}  // namespace
}  // namespace meshd
