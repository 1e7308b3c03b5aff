#include "meshd/mesh_glue.h"

namespace meshd {

std::string MeshGlue::NameOf(uint64_t node) const {
  for (const auto& n : node_->Nodes()) {
    if (n.id == node) return n.name;
  }
  return "";
}

}  // namespace meshd
