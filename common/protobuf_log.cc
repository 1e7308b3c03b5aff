#include "common/protobuf_log.h"

#include <string>

#include "common/library_log.h"
#include "common/log.h"
#include "google/protobuf/stubs/logging.h"

namespace common {
namespace {

void Handle(google::protobuf::LogLevel level, const char* filename, int line,
            const std::string& message) {
  static LibraryLog* const log = new LibraryLog("protobuf");  // never destroyed
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      return log->Write(LogLevel::kInfo, filename, line, message);
    case google::protobuf::LOGLEVEL_WARNING:
    case google::protobuf::LOGLEVEL_ERROR:
      return log->Write(LogLevel::kWarn, filename, line, message);
    case google::protobuf::LOGLEVEL_FATAL:
      break;
  }
  log->Write(LogLevel::kError, filename, line, message, /*unlimited=*/true);
}

}  // namespace

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&Handle); }

}  // namespace common
