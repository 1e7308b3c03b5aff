#include "meshd/admin/grpc_log.h"

#include <grpc/support/log.h>

#include <string_view>

#include "common/library_log.h"
#include "common/log.h"

namespace meshd {
namespace {

void Handle(gpr_log_func_args* args) {
  static common::LibraryLog* const log = new common::LibraryLog("grpc");  // never destroyed
  const std::string_view message = args->message != nullptr ? args->message : "";
  common::LogLevel level = common::LogLevel::kError;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = common::LogLevel::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_INFO) level = common::LogLevel::kInfo;
  const bool last_words = message.substr(0, 16) == "assertion failed";
  log->Write(level, args->file, args->line, message, last_words);
}

}  // namespace

void RouteGrpcLogs() { gpr_set_log_function(&Handle); }

}  // namespace meshd
