// Mesh addresses: "host:port", "[v6addr]:port", or "hostname:port".
//
//   HostPort hp;
//   if (!ParseHostPort("[::1]:7946", /*port_zero_ok=*/false, &hp)) ...;   // hp.host "::1", hp.port 7946
//   struct sockaddr_storage ss; socklen_t len;
//   if (NumericSockaddr(hp, &ss, &len)) connect(fd, (sockaddr*)&ss, len);
//   SockaddrToString((sockaddr*)&ss);                  // "[::1]:7946"
#ifndef MESHD_MESH_ADDRESS_H_
#define MESHD_MESH_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace meshd {
namespace mesh {

struct HostPort {
  std::string host;  // without brackets; never empty
  uint16_t port = 0;
  bool bracketed = false;  // written as [host]: must be an IPv6 literal
};

// Parses ADDRESS. The host is an IPv4 literal, a bracketed IPv6 literal or
// a host name (letters, digits, '.', '-'); the port is decimal, 1..65535
// (0 too if PORT_ZERO_OK). Returns false for anything else.
bool ParseHostPort(std::string_view address, bool port_zero_ok, HostPort* out);

// If HP's host is a numeric IPv4 or IPv6 address, fills *SS and *LEN and
// returns true; false for a host name (resolve it instead).
bool NumericSockaddr(const HostPort& hp, struct sockaddr_storage* ss, socklen_t* len);

// "1.2.3.4:5" or "[::1]:5"; "?" for other families.
std::string SockaddrToString(const struct sockaddr* sa);

}  // namespace mesh
}  // namespace meshd

#endif  // MESHD_MESH_ADDRESS_H_
