// Two network namespaces joined by a veth pair, made for one repetition of
// a case and removed with it: the "two hosts" of the remote cases over a
// real (virtual) link instead of loopback.
//
//   VethPair v;
//   if (absl::Status s = v.Create(); !s.ok()) return s;   // SkippedError if not root
//   meshd.SetNetns(v.ns(1));                              // runs there
//   v.In(1, [&] { fd = socket(...); bind(v.address(1)); return absl::OkStatus(); });
#ifndef TOOLS_BENCH_NETNS_H_
#define TOOLS_BENCH_NETNS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace bench {

class VethPair {
 public:
  VethPair() = default;
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  ~VethPair();  // deletes both namespaces, and with them the veth pair

  // Creates the namespaces and the link (10.201.N.1/24 and .2, N unique in
  // this process). Returns SkippedError (process.h) where `ip netns` cannot
  // be used (not root, no iproute2), another error if it half worked.
  absl::Status Create();

  // Side 0 (the client's) and side 1 (the server's).
  const std::string& ns(int side) const { return ns_[side]; }
  const std::string& address(int side) const { return addr_[side]; }

  // Runs FN with the calling thread in namespace SIDE, then moves it back:
  // sockets FN makes belong to that namespace for good.
  absl::Status In(int side, const std::function<absl::Status()>& fn) const;

 private:
  std::string ns_[2], addr_[2];
  bool made_ = false;
};

}  // namespace bench

#endif  // TOOLS_BENCH_NETNS_H_
