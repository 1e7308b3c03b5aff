// MeshGlue: joins the mesh link layer (MeshNode) and the session relay.
//
// It is the relay's MeshPort (routing and DATA frames go to the MeshNode)
// and the MeshNode's Handler (frames and link events go to the Relay), so
// neither component knows the other.
#ifndef MESHD_MESH_GLUE_H_
#define MESHD_MESH_GLUE_H_

#include "meshd/mesh/mesh_node.h"
#include "meshd/relay/mesh_port.h"
#include "meshd/relay/relay.h"

namespace meshd {

class MeshGlue : public MeshPort, public MeshNode::Handler {
 public:
  MeshGlue() = default;
  // Both must be set before the MeshNode starts.
  void Attach(MeshNode* node, Relay* relay) {
    node_ = node;
    relay_ = relay;
  }

  // MeshPort
  uint64_t self_id() const override { return node_->node_id(); }
  const std::string& self_name() const override { return node_->node_name(); }
  std::optional<uint64_t> Resolve(std::string_view name) const override {
    return node_->Resolve(name);
  }
  std::string NameOf(uint64_t node) const override;
  uint64_t NextHop(uint64_t node) const override { return node_->NextHop(node); }
  bool SendData(uint64_t link, mesh::DataPayload payload) override {
    return node_->SendData(link, std::move(payload));
  }
  bool Congested(uint64_t link) const override { return node_->Congested(link); }
  void PauseRead(uint64_t link) override { node_->PauseRead(link); }
  void ResumeRead(uint64_t link) override { node_->ResumeRead(link); }

  // MeshNode::Handler
  void OnData(LinkId from, NodeId from_node, std::string payload) override {
    relay_->OnData(from, from_node, std::move(payload));
  }
  mesh::PayloadSplit SplitData(LinkId from, std::string_view first, uint32_t len) override {
    return relay_->SplitMsg(from, first, len);
  }
  void OnSplitData(LinkId from, NodeId from_node, std::string payload,
                   mesh::PayloadSplit split) override {
    relay_->OnSplitData(from, from_node, std::move(payload), std::move(split));
  }
  void OnLinkDown(LinkId link, NodeId peer) override { relay_->OnLinkDown(link); }
  void OnReachability(NodeId node, bool reachable) override {
    relay_->OnReachability(node, reachable);
  }
  void OnLinkWritable(LinkId link) override { relay_->OnLinkWritable(link); }

 private:
  MeshNode* node_ = nullptr;
  Relay* relay_ = nullptr;
};

}  // namespace meshd

#endif  // MESHD_MESH_GLUE_H_
