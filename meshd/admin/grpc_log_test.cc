#include "meshd/admin/grpc_log.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include <string>

#include "common/log_capture.h"
#include "gtest/gtest.h"

namespace meshd {
namespace {

TEST(GrpcLogTest, GrpcLinesAreRateLimitedLogEvents) {
  // As in meshd: routed first, then gRPC starts (and reads GRPC_VERBOSITY).
  RouteGrpcLogs();
  grpc_init();
  common::CapturedLog log;
  gpr_log(GPR_ERROR, "Handshake failed with fatal error %s", "SSL_ERROR_SSL");
  const std::string text = log.Text();
  EXPECT_EQ(log.Count("\n"), 1) << text;
  EXPECT_NE(text.find("level=error comp=grpc msg=\"Handshake failed with fatal error "
                      "SSL_ERROR_SSL\" src=grpc_log_test.cc:"),
            std::string::npos)
      << text;
  for (int i = 0; i < 300; i++) gpr_log(GPR_ERROR, "again");
  EXPECT_GE(log.Count("msg=again"), 19) << log.Text();
  EXPECT_LE(log.Count("msg=again"), 21) << log.Text();
  grpc_shutdown();
}

}  // namespace
}  // namespace meshd
