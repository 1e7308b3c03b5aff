// Tests only: sends common::Log's lines into a memfd while it lives.
//
//   CapturedLog log;
//   ... code that logs ...
//   EXPECT_NE(log.Text().find("comp=protobuf"), std::string::npos);
#ifndef COMMON_LOG_CAPTURE_H_
#define COMMON_LOG_CAPTURE_H_

#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "common/log.h"
#include "common/unique_fd.h"

namespace common {

// How many times WHAT occurs in TEXT.
inline int Occurrences(std::string_view text, std::string_view what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) n++;
  return n;
}

class CapturedLog {
 public:
  CapturedLog() : fd_(memfd_create("log", MFD_CLOEXEC)), old_fd_(GetLogFd()) {
    SetLogFd(fd_.get());
  }
  ~CapturedLog() { SetLogFd(old_fd_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  // Everything written so far.
  std::string Text() const {
    std::string out;
    char buf[4096];
    for (off_t at = 0;;) {
      const ssize_t n = pread(fd_.get(), buf, sizeof buf, at);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
      at += n;
    }
  }

  // How many times WHAT occurs in Text().
  int Count(std::string_view what) const { return Occurrences(Text(), what); }

 private:
  UniqueFd fd_;
  int old_fd_;
};

}  // namespace common

#endif  // COMMON_LOG_CAPTURE_H_
