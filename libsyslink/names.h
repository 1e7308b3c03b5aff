// Node and service names: 1-63 characters from [A-Za-z0-9._-].
#ifndef LIBSYSLINK_NAMES_H_
#define LIBSYSLINK_NAMES_H_

#include <string_view>

#include "syslink/syslink.h"

namespace libsyslink {

// True if NAME is a valid node or service name; EMPTY_OK also accepts "".
bool ValidName(std::string_view name, bool empty_ok);

// True if the NUL-terminated NAME in a SYSLINK_NAME_MAX field is valid.
bool ValidName(const char (&name)[SYSLINK_NAME_MAX], bool empty_ok);

}  // namespace libsyslink

#endif  // LIBSYSLINK_NAMES_H_
