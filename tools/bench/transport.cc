#include "tools/bench/transport.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cassert>
#include <cstddef>
#include <vector>

#include "absl/strings/str_cat.h"

namespace bench {

absl::Status MsgClient::RoundTrip(uint64_t id) {
  absl::Status s = Send(id);
  if (!s.ok()) return s;
  absl::StatusOr<uint64_t> got = Receive();
  if (!got.ok()) return got.status();
  if (*got != id) {
    return absl::DataLossError(absl::StrCat("reply to ", *got, ", expected ", id));
  }
  return absl::OkStatus();
}

void BuildMessage(size_t bytes, sl_cmd_t flags, MsgBuffer* m) {
  assert(bytes % 8 == 0 &&
         (bytes == SL_MIN_MSG_SIZE || (bytes >= kMinMessageBytes && bytes <= kMaxMessageBytes)));
  memset(m, 0, sizeof *m);
  struct syslink_elm* head =
      sl_msg_init_cmd(&m->msg, kBenchProto, static_cast<sl_cmd_t>(7 | flags));
  if (bytes > SL_MIN_MSG_SIZE) {
    // 32-byte header, 8-byte element header, then the payload.
    const int payload = static_cast<int>(bytes - SL_MIN_MSG_SIZE - SL_MIN_ELM_SIZE);
    struct syslink_elm* e = sl_elm_make(head, 1, payload);
    memset(e + 1, 0x5a, static_cast<size_t>(payload));
  }
  sl_msg_fini(&m->msg);
  assert(static_cast<size_t>(SL_MSG_ALIGN(m->msg.sm_bytes)) == bytes);
}

bool MessageId(const void* p, size_t n, uint64_t* id) {
  if (n < offsetof(struct syslink_msg, sm_msgid) + sizeof(uint64_t)) return false;
  memcpy(id, static_cast<const char*>(p) + offsetof(struct syslink_msg, sm_msgid), sizeof *id);
  return true;
}

SocketDir::~SocketDir() {
  if (dir_.empty()) return;
  if (DIR* d = opendir(dir_.c_str())) {
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
        names.push_back(e->d_name);
      }
    }
    closedir(d);
    for (const auto& n : names) unlink(Path(n).c_str());
  }
  rmdir(dir_.c_str());
}

absl::Status SocketDir::Create() {
  char tmpl[] = "/tmp/slbench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return ErrnoStatus("mkdtemp", errno);
  dir_ = tmpl;
  return absl::OkStatus();
}

absl::Status ErrnoStatus(const char* what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat(what, ": ", strerror(err)));
}

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, static_cast<size_t>(sysconf(_SC_PAGESIZE)), bytes) != 0) return;
  data_ = static_cast<unsigned char*>(p);
  memset(data_, 0xa5, bytes);
}

AlignedBuffer::~AlignedBuffer() { free(data_); }

}  // namespace bench
