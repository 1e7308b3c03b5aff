#include "meshd/mesh/address.h"

#include "gtest/gtest.h"

namespace meshd {
namespace mesh {
namespace {

TEST(AddressTest, Parse) {
  HostPort hp;
  ASSERT_TRUE(ParseHostPort("10.0.0.1:7946", false, &hp));
  EXPECT_EQ(hp.host, "10.0.0.1");
  EXPECT_EQ(hp.port, 7946);
  ASSERT_TRUE(ParseHostPort("[::1]:80", false, &hp));
  EXPECT_EQ(hp.host, "::1");
  EXPECT_TRUE(hp.bracketed);
  ASSERT_TRUE(ParseHostPort("storage-1.example.com:1", false, &hp));
  EXPECT_EQ(hp.host, "storage-1.example.com");
  ASSERT_TRUE(ParseHostPort("[::]:0", true, &hp));
  EXPECT_EQ(hp.port, 0);
}

TEST(AddressTest, Refused) {
  HostPort hp;
  for (const char* bad : {"", ":80", "host", "host:", "host:x", "host:65536", "host:-1",
                          "::1:80", "[::1]80", "[::1]", "[nothost]:80", "[1.2.3.4]:80",
                          "ho st:80", "host:123456", "[::1]:"}) {
    EXPECT_FALSE(ParseHostPort(bad, true, &hp)) << bad;
  }
  EXPECT_FALSE(ParseHostPort("host:0", false, &hp));
}

TEST(AddressTest, Sockaddr) {
  HostPort hp;
  struct sockaddr_storage ss;
  socklen_t len;
  ASSERT_TRUE(ParseHostPort("127.0.0.1:5", false, &hp));
  ASSERT_TRUE(NumericSockaddr(hp, &ss, &len));
  EXPECT_EQ(ss.ss_family, AF_INET);
  EXPECT_EQ(SockaddrToString(reinterpret_cast<struct sockaddr*>(&ss)), "127.0.0.1:5");
  ASSERT_TRUE(ParseHostPort("[fe80::1]:65535", false, &hp));
  ASSERT_TRUE(NumericSockaddr(hp, &ss, &len));
  EXPECT_EQ(ss.ss_family, AF_INET6);
  EXPECT_EQ(SockaddrToString(reinterpret_cast<struct sockaddr*>(&ss)), "[fe80::1]:65535");
  ASSERT_TRUE(ParseHostPort("localhost:5", false, &hp));
  EXPECT_FALSE(NumericSockaddr(hp, &ss, &len));  // a name: resolve it
}

}  // namespace
}  // namespace mesh
}  // namespace meshd
