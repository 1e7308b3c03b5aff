#include "meshd/mesh/mesh_types.h"

namespace meshd {

const char* HandshakeFailureName(HandshakeFailure f) {
  switch (f) {
    case HandshakeFailure::kNone: return "none";
    case HandshakeFailure::kBadHello: return "bad_hello";
    case HandshakeFailure::kVersion: return "version";
    case HandshakeFailure::kSelf: return "self";
    case HandshakeFailure::kWrongKey: return "wrong_key";
    case HandshakeFailure::kNameClash: return "name_clash";
    case HandshakeFailure::kUnexpectedName: return "unexpected_name";
    case HandshakeFailure::kTimeout: return "timeout";
    case HandshakeFailure::kDuplicate: return "duplicate";
    case HandshakeFailure::kLimit: return "limit";
    case HandshakeFailure::kPeerClosed: return "peer_closed";
    case HandshakeFailure::kPeerRefused: return "peer_refused";
    case HandshakeFailure::kCount: break;
  }
  return "unknown";
}

const char* ProtocolErrorName(ProtocolError e) {
  switch (e) {
    case ProtocolError::kNone: return "none";
    case ProtocolError::kFrameTooLarge: return "frame_too_large";
    case ProtocolError::kUnknownFrameType: return "unknown_frame_type";
    case ProtocolError::kBadMessage: return "bad_message";
    case ProtocolError::kUnexpectedFrame: return "unexpected_frame";
    case ProtocolError::kForgedAdvert: return "forged_advert";
    case ProtocolError::kFlood: return "flood";
    case ProtocolError::kCount: break;
  }
  return "unknown";
}

const char* LinkCloseReasonName(LinkCloseReason r) {
  switch (r) {
    case LinkCloseReason::kNone: return "none";
    case LinkCloseReason::kStopped: return "stopped";
    case LinkCloseReason::kPeerClosed: return "peer_closed";
    case LinkCloseReason::kIoError: return "io_error";
    case LinkCloseReason::kConnectTimeout: return "connect_timeout";
    case LinkCloseReason::kHandshakeFailed: return "handshake_failed";
    case LinkCloseReason::kDead: return "dead";
    case LinkCloseReason::kOverflow: return "overflow";
    case LinkCloseReason::kProtocolError: return "protocol_error";
    case LinkCloseReason::kReplaced: return "replaced";
    case LinkCloseReason::kCount: break;
  }
  return "unknown";
}

const char* LinkStateName(LinkState s) {
  switch (s) {
    case LinkState::kConnecting: return "connecting";
    case LinkState::kHandshake: return "handshake";
    case LinkState::kEstablished: return "established";
    case LinkState::kClosing: return "closing";
  }
  return "unknown";
}

}  // namespace meshd
