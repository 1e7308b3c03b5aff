// Routes the protobuf library's own log messages into common::Log.
//
// libprotobuf writes a line of its own to stderr for some inputs it refuses:
// "String field 'meshd.mesh.Hello.node_name' contains invalid UTF-8 data
// when parsing a protocol buffer", for every such message, whoever sent it
// (a Hello arrives before the peer has proved anything). Such lines would
// bypass the log format (logfmt or JSON) and every rate limit. After
// RouteProtobufLogs() each one is a common::Log event instead:
//
//   ts=... level=warn comp=protobuf msg="String field ... UTF-8 data ..." src=wire_format_lite.cc:618
//
// at warn for protobuf's ERROR and WARNING (the caller refuses the message
// and reports that itself), info for INFO, error for FATAL (protobuf aborts
// after it). Lines below FATAL are rate limited as common::LibraryLog says
// (a burst of 20, then 10 a second; the next line written carries
// suppressed=N); FATAL is always written.
#ifndef COMMON_PROTOBUF_LOG_H_
#define COMMON_PROTOBUF_LOG_H_

namespace common {

// Installs the handler, process-wide. Call it at start-up before any thread
// uses protobuf (the library's SetLogHandler is not thread-safe); the
// handler itself is. Calling it again changes nothing.
void RouteProtobufLogs();

}  // namespace common

#endif  // COMMON_PROTOBUF_LOG_H_
