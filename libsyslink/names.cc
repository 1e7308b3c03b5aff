#include "libsyslink/names.h"

#include <string.h>

namespace libsyslink {

bool ValidName(std::string_view name, bool empty_ok) {
  if (name.empty()) return empty_ok;
  if (name.size() >= SYSLINK_NAME_MAX) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ValidName(const char (&name)[SYSLINK_NAME_MAX], bool empty_ok) {
  const size_t len = strnlen(name, SYSLINK_NAME_MAX);
  if (len == SYSLINK_NAME_MAX) return false;  // not terminated
  return ValidName(std::string_view(name, len), empty_ok);
}

}  // namespace libsyslink
