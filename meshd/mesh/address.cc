#include "meshd/mesh/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace meshd {
namespace mesh {

bool ParseHostPort(std::string_view address, bool port_zero_ok, HostPort* out) {
  HostPort hp;
  std::string_view rest;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return false;
    }
    hp.host = std::string(address.substr(1, close - 1));
    hp.bracketed = true;
    rest = address.substr(close + 2);
    struct in6_addr a6;
    if (inet_pton(AF_INET6, hp.host.c_str(), &a6) != 1) return false;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return false;
    hp.host = std::string(address.substr(0, colon));
    rest = address.substr(colon + 1);
    if (hp.host.empty() || hp.host.size() > 253) return false;
    for (const char c : hp.host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-';
      if (!ok) return false;  // also rejects an unbracketed IPv6 literal
    }
  }
  if (hp.host.empty() || rest.empty() || rest.size() > 5) return false;
  for (const char c : rest) {
    if (c < '0' || c > '9') return false;
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(absl::string_view(rest.data(), rest.size()), &port) || port > 65535 || (port == 0 && !port_zero_ok)) return false;
  hp.port = static_cast<uint16_t>(port);
  *out = std::move(hp);
  return true;
}

bool NumericSockaddr(const HostPort& hp, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  auto* s6 = reinterpret_cast<struct sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, hp.host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(hp.port);
    *len = sizeof *s6;
    return true;
  }
  if (hp.bracketed) return false;
  auto* s4 = reinterpret_cast<struct sockaddr_in*>(ss);
  if (inet_pton(AF_INET, hp.host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(hp.port);
    *len = sizeof *s4;
    return true;
  }
  return false;
}

std::string SockaddrToString(const struct sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const struct sockaddr_in*>(sa);
    if (inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof buf) == nullptr) return "?";
    return absl::StrCat(buf, ":", ntohs(s4->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const struct sockaddr_in6*>(sa);
    if (inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf) == nullptr) return "?";
    return absl::StrCat("[", buf, "]:", ntohs(s6->sin6_port));
  }
  return "?";
}

}  // namespace mesh
}  // namespace meshd
