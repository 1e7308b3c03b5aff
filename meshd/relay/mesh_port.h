// MeshPort: what the session relay needs from the mesh link layer.
//
// Implemented over MeshNode (meshd/mesh) in production and by an in-memory
// fake in the relay's unit tests. All calls happen on the loop thread; none
// calls back into the Relay re-entrantly.
#ifndef MESHD_RELAY_MESH_PORT_H_
#define MESHD_RELAY_MESH_PORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "meshd/mesh/frame.h"

namespace meshd {

class MeshPort {
 public:
  virtual ~MeshPort() = default;
  virtual uint64_t self_id() const = 0;
  virtual const std::string& self_name() const = 0;
  // The id of the reachable node called NAME.
  virtual std::optional<uint64_t> Resolve(std::string_view name) const = 0;
  // The name of a known node ("" if unknown).
  virtual std::string NameOf(uint64_t node) const = 0;
  // The link toward NODE, or 0 if unreachable.
  virtual uint64_t NextHop(uint64_t node) const = 0;
  // Queues PAYLOAD on LINK. False if the link is gone (nothing sent).
  virtual bool SendData(uint64_t link, mesh::DataPayload payload) = 0;
  // True while LINK has more queued than it should: stop feeding it until
  // the Relay's OnLinkWritable(LINK).
  virtual bool Congested(uint64_t link) const = 0;
  virtual void PauseRead(uint64_t link) = 0;
  virtual void ResumeRead(uint64_t link) = 0;
};

}  // namespace meshd

#endif  // MESHD_RELAY_MESH_PORT_H_
