// Tests only: what a stranger on the network does to a server's TCP port,
// and how many log lines that may cost under a common::LogLimiter.
//
//   absl::StatusOr<double> took = Pester(port, "GET / HTTP/1.0\r\n\r\n", 60);
//   ASSERT_TRUE(took.ok()) << took.status();
//   EXPECT_LE(lines, MostLimitedLines(*took));
#ifndef COMMON_STRANGER_H_
#define COMMON_STRANGER_H_

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/log_limiter.h"
#include "common/unique_fd.h"

namespace common {

// Connects to 127.0.0.1:PORT TIMES times, one after the other; each time
// sends BYTES (the server may close before taking them all) and reads until
// the server closes the connection. Returns the seconds that took, or an
// error if a connection failed or the server kept one open for 10 s.
inline absl::StatusOr<double> Pester(uint16_t port, std::string_view bytes, int times) {
  struct sockaddr_in to = {};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < times; i++) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.ok()) return absl::InternalError(std::string("socket: ") + strerror(errno));
    struct timeval tv = {10, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&to), sizeof to) != 0) {
      return absl::UnavailableError(std::string("connect: ") + strerror(errno));
    }
    (void)!send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd.get(), buf, sizeof buf)) > 0) {
    }
    if (n < 0 && errno != ECONNRESET) {
      return absl::DeadlineExceededError("connection " + std::to_string(i) +
                                         " not closed by the server: " + strerror(errno));
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The most lines a fresh LogLimiter lets through in SECONDS: its burst,
// what it earns back meanwhile, and one for the rounding.
inline int MostLimitedLines(double seconds) {
  return LogLimiter::kBurst + 1 + static_cast<int>(seconds * LogLimiter::kPerSecond);
}

}  // namespace common

#endif  // COMMON_STRANGER_H_
