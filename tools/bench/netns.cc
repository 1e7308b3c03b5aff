#include "tools/bench/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "tools/bench/process.h"
#include "tools/bench/transport.h"

namespace bench {
namespace {

int Run(const std::string& command) {
  const int st = system((command + " >/dev/null 2>&1").c_str());
  return st == -1 ? -1 : WEXITSTATUS(st);
}

}  // namespace

absl::Status VethPair::Create() {
  static int counter = 0;
  const int n = counter++;
  const std::string tag = absl::StrCat(getpid() % 100000, "x", n);
  ns_[0] = "sbc" + tag;
  ns_[1] = "sbs" + tag;
  const std::string subnet = absl::StrCat("10.201.", n % 250, ".");
  addr_[0] = subnet + "1";
  addr_[1] = subnet + "2";
  if (getuid() != 0 || Run("ip netns add " + ns_[0]) != 0) {
    return SkippedError("network namespaces need root and iproute2 (`ip netns`)");
  }
  made_ = true;
  const std::string v0 = "vbc" + tag, v1 = "vbs" + tag;  // (at most 15 characters)
  const std::string cmds[] = {
      "ip netns add " + ns_[1],
      "ip link add " + v0 + " type veth peer name " + v1,
      "ip link set " + v0 + " netns " + ns_[0],
      "ip link set " + v1 + " netns " + ns_[1],
      "ip -n " + ns_[0] + " addr add " + addr_[0] + "/24 dev " + v0,
      "ip -n " + ns_[1] + " addr add " + addr_[1] + "/24 dev " + v1,
      "ip -n " + ns_[0] + " link set " + v0 + " up",
      "ip -n " + ns_[1] + " link set " + v1 + " up",
      "ip -n " + ns_[0] + " link set lo up",
      "ip -n " + ns_[1] + " link set lo up",
  };
  for (const std::string& c : cmds) {
    if (Run(c) != 0) return absl::InternalError("failed: " + c);
  }
  return absl::OkStatus();
}

VethPair::~VethPair() {
  if (!made_) return;
  for (const std::string& ns : ns_) Run("ip netns del " + ns);
}

absl::Status VethPair::In(int side, const std::function<absl::Status()>& fn) const {
  common::UniqueFd home(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  common::UniqueFd there(open(("/run/netns/" + ns_[side]).c_str(), O_RDONLY | O_CLOEXEC));
  if (!home.ok() || !there.ok()) return ErrnoStatus("opening a network namespace", errno);
  if (setns(there.get(), CLONE_NEWNET) != 0) return ErrnoStatus("setns", errno);
  absl::Status s = fn();
  if (setns(home.get(), CLONE_NEWNET) != 0) abort();  // cannot go on in the wrong namespace
  return s;
}

}  // namespace bench
