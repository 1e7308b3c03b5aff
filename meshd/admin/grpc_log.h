// Routes gRPC's own log lines into common::Log.
//
// gRPC writes lines of its own to stderr ("E1203 15:40:01.123 ... Handshake
// failed with fatal error SSL_ERROR_SSL"), which a stranger reaching the
// admin API's TCP port can cause at will. After RouteGrpcLogs() each one is
// a comp=grpc event in meshd's log format (level error, info or debug as
// gRPC's severity says; which severities gRPC emits at all is its own
// setting, GRPC_VERBOSITY, ERROR by default), rate limited as
// common::LibraryLog says; "assertion failed" lines, gRPC's last words
// before an abort, always get through.
#ifndef MESHD_ADMIN_GRPC_LOG_H_
#define MESHD_ADMIN_GRPC_LOG_H_

namespace meshd {

// Installs the handler, process-wide; call it at start-up, before gRPC
// starts threads. Calling it again changes nothing.
void RouteGrpcLogs();

}  // namespace meshd

#endif  // MESHD_ADMIN_GRPC_LOG_H_
