// Fuzzes meshd::ParseConfigText(), which reads the operator's config file.
//
// Properties: it never crashes, hangs or reads out of bounds (ASan); a
// rejection is InvalidArgument with a message; an accepted config passes
// ValidateConfig(), and ConfigToText() of it parses back to the same config.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "meshd/config.h"

namespace {

// A fixed environment: the defaults must not depend on the machine.
const meshd::ConfigEnvironment& Env() {
  static const meshd::ConfigEnvironment env = [] {
    meshd::ConfigEnvironment e;
    e.hostname = "fuzzhost";
    e.run_meshd_writable = true;
    return e;
  }();
  return env;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<meshd::config::MeshdConfig> config =
      meshd::ParseConfigText(text, "fuzz.conf", Env());
  if (!config.ok()) {
    if (config.status().code() != absl::StatusCode::kInvalidArgument ||
        config.status().message().empty()) {
      std::abort();
    }
    return 0;
  }
  if (!meshd::ValidateConfig(*config).ok()) std::abort();
  const std::string printed = meshd::ConfigToText(*config);
  absl::StatusOr<meshd::config::MeshdConfig> again =
      meshd::ParseConfigText(printed, "printed.conf", Env());
  if (!again.ok()) std::abort();
  if (!google::protobuf::util::MessageDifferencer::Equals(*config, *again)) {
    std::abort();
  }
  return 0;
}
