#include "meshd/mesh/lsdb.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace meshd {
namespace mesh {
namespace {

using R = LinkStateDb::UpdateResult;

std::vector<LsaNeighbor> N(std::vector<NodeId> ids, uint32_t cost = 1) {
  std::vector<LsaNeighbor> out;
  for (NodeId id : ids) out.push_back({id, cost});
  return out;
}

Lsa L(NodeId origin, uint64_t seq, std::vector<NodeId> nbrs, uint32_t cost = 1) {
  return Lsa{origin, "n" + std::to_string(origin), seq, N(nbrs, cost)};
}

// Node 1 ("n1") is self everywhere.
LinkStateDb MakeDb(uint32_t max_nodes = 64) { return LinkStateDb(1, "n1", max_nodes); }

TEST(LsdbTest, Line) {
  // 1 - 2 - 3 - 4
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  EXPECT_EQ(db.Update(L(2, 1, {1, 3}), 0), R::kInstalled);
  EXPECT_EQ(db.Update(L(3, 1, {2, 4}), 0), R::kInstalled);
  EXPECT_EQ(db.Update(L(4, 1, {3}), 0), R::kInstalled);
  EXPECT_EQ(db.NextHop(2), 2u);
  EXPECT_EQ(db.NextHop(3), 2u);
  EXPECT_EQ(db.NextHop(4), 2u);
  EXPECT_EQ(db.NextHop(1), 0u);  // self
  EXPECT_TRUE(db.Reachable(1));
  ASSERT_NE(db.FindRoute(4), nullptr);
  EXPECT_EQ(db.FindRoute(4)->hops, 3u);
  EXPECT_EQ(db.FindRoute(4)->cost, 3u);
  EXPECT_EQ(db.Lookup("n4"), 4u);
  EXPECT_EQ(db.Lookup("n1"), 1u);
  EXPECT_EQ(db.Lookup("n9"), 0u);
}

TEST(LsdbTest, RingTakesTheShorterWayAndTiesAreDeterministic) {
  // 1 - 2 - 3 - 4 - 5 - 6 - 1
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2, 6}), 1);
  db.Update(L(2, 1, {1, 3}), 0);
  db.Update(L(3, 1, {2, 4}), 0);
  db.Update(L(4, 1, {3, 5}), 0);
  db.Update(L(5, 1, {4, 6}), 0);
  db.Update(L(6, 1, {5, 1}), 0);
  EXPECT_EQ(db.NextHop(3), 2u);
  EXPECT_EQ(db.NextHop(5), 6u);
  // 4 is 3 hops either way: the lower first hop wins.
  EXPECT_EQ(db.NextHop(4), 2u);
  EXPECT_EQ(db.FindRoute(4)->hops, 3u);
  // Break 1-2 (we stop advertising it): everything goes via 6.
  db.SetSelf(N({6}), 2);
  EXPECT_EQ(db.NextHop(2), 6u);
  EXPECT_EQ(db.FindRoute(2)->hops, 5u);
}

TEST(LsdbTest, CostsCount) {
  // 1 -(10)- 2 -(10)- 3, and 1 -(1)- 4 -(1)- 5 -(1)- 3: the long way is cheaper.
  LinkStateDb db = MakeDb();
  db.SetSelf({{2, 10}, {4, 1}}, 1);
  db.Update(Lsa{2, "n2", 1, {{1, 10}, {3, 10}}}, 0);
  db.Update(Lsa{3, "n3", 1, {{2, 10}, {5, 1}}}, 0);
  db.Update(Lsa{4, "n4", 1, {{1, 1}, {5, 1}}}, 0);
  db.Update(Lsa{5, "n5", 1, {{4, 1}, {3, 1}}}, 0);
  EXPECT_EQ(db.NextHop(3), 4u);
  EXPECT_EQ(db.FindRoute(3)->cost, 3u);
}

TEST(LsdbTest, Partition) {
  // 1 - 2   3 - 4 (no link between 2 and 3)
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  db.Update(L(2, 1, {1}), 0);
  db.Update(L(3, 1, {4}), 0);
  db.Update(L(4, 1, {3}), 0);
  EXPECT_TRUE(db.Reachable(2));
  EXPECT_FALSE(db.Reachable(3));
  EXPECT_FALSE(db.Reachable(4));
  EXPECT_EQ(db.NextHop(4), 0u);
  EXPECT_EQ(db.Lookup("n3"), 0u);  // known, but not reachable
  EXPECT_NE(db.Find(3), nullptr);
  // Heal: 2 - 3.
  db.Update(L(2, 2, {1, 3}), 0);
  db.Update(L(3, 2, {4, 2}), 0);
  EXPECT_EQ(db.NextHop(4), 2u);
}

TEST(LsdbTest, TwoWayCheck) {
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  // 2 does not (yet) list us: no edge.
  db.Update(L(2, 1, {3}), 0);
  db.Update(L(3, 1, {2}), 0);
  EXPECT_FALSE(db.Reachable(2));
  EXPECT_FALSE(db.Reachable(3));
  db.Update(L(2, 2, {1, 3}), 0);
  EXPECT_TRUE(db.Reachable(3));
  // 3 claims a link to 1, which we do not advertise: it does not count.
  db.Update(L(3, 2, {2, 1}), 0);
  EXPECT_EQ(db.FindRoute(3)->hops, 2u);
}

TEST(LsdbTest, SequenceOrdering) {
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  EXPECT_EQ(db.Update(L(2, 10, {1}), 0), R::kInstalled);
  EXPECT_EQ(db.Update(L(2, 10, {1}), 0), R::kStale);  // the same
  EXPECT_EQ(db.Update(L(2, 9, {}), 0), R::kStale);    // older
  EXPECT_TRUE(db.Reachable(2));
  EXPECT_EQ(db.Update(L(2, 11, {}), 0), R::kInstalled);  // newer: 2 dropped us
  EXPECT_FALSE(db.Reachable(2));
  EXPECT_EQ(db.Find(2)->seq, 11u);
  // Large seqs (wall clock << 16) compare as unsigned.
  EXPECT_EQ(db.Update(L(2, uint64_t{1} << 62, {1}), 0), R::kInstalled);
  EXPECT_EQ(db.Update(L(2, 12, {1}), 0), R::kStale);
}

TEST(LsdbTest, SelfAdvertsAreTheCallersBusiness) {
  LinkStateDb db = MakeDb();
  EXPECT_EQ(db.Update(L(1, 100, {2}), 0), R::kSelf);
  db.SetSelf(N({2}), 5);
  EXPECT_EQ(db.self_lsa().seq, 5u);
  EXPECT_EQ(db.self_lsa().name, "n1");
}

TEST(LsdbTest, Purge) {
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  db.Update(L(2, 1, {1, 3}), 1000);
  db.Update(L(3, 1, {2}), 5000);
  EXPECT_TRUE(db.Reachable(3));
  EXPECT_TRUE(db.Purge(5000, 4000).empty());
  EXPECT_EQ(db.Purge(5001, 4000), std::vector<NodeId>{2});
  EXPECT_EQ(db.Find(2), nullptr);
  EXPECT_FALSE(db.Reachable(3));
  EXPECT_EQ(db.Purge(100000, 1).size(), 1u);  // 3; never self
  EXPECT_EQ(db.size(), 1u);
  // A purged origin comes back with any seq.
  EXPECT_EQ(db.Update(L(2, 1, {1}), 100000), R::kInstalled);
}

TEST(LsdbTest, NameClashWithReachableNodeIsRefused) {
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  db.Update(L(2, 1, {1}), 0);
  // Node 9 claims "n2" while 2 is reachable.
  EXPECT_EQ(db.Update(Lsa{9, "n2", 1, {}}, 0), R::kClash);
  // And our own name.
  EXPECT_EQ(db.Update(Lsa{9, "n1", 1, {}}, 0), R::kClash);
  EXPECT_TRUE(db.Clashes(9, "n2"));
  EXPECT_TRUE(db.Clashes(2, "other"));   // 2 is reachable as "n2"
  EXPECT_TRUE(db.Clashes(9, "n1"));
  EXPECT_FALSE(db.Clashes(2, "n2"));     // that is 2 itself
  EXPECT_FALSE(db.Clashes(9, "n9"));
}

TEST(LsdbTest, StaleEntryYieldsItsName) {
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  db.Update(L(2, 1, {1, 3}), 0);
  db.Update(L(3, 1, {2}), 0);
  db.SetSelf(N({}), 2);  // 2 and 3 now unreachable
  EXPECT_FALSE(db.Clashes(9, "n3"));
  // "n3" comes back under id 9: the stale 3 is replaced.
  EXPECT_EQ(db.Update(Lsa{9, "n3", 1, {}}, 0), R::kInstalled);
  EXPECT_EQ(db.Find(3), nullptr);
}

TEST(LsdbTest, RenameBySameIdWithNewerSeq) {
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  db.Update(L(2, 1, {1}), 0);
  EXPECT_EQ(db.Update(Lsa{2, "renamed", 2, N({1})}, 0), R::kInstalled);
  EXPECT_EQ(db.Lookup("renamed"), 2u);
  EXPECT_EQ(db.Lookup("n2"), 0u);
}

TEST(LsdbTest, BoundedByMaxNodes) {
  LinkStateDb db = MakeDb(3);  // self + 2
  db.SetSelf(N({2, 3}), 1);
  EXPECT_EQ(db.Update(L(2, 1, {1}), 0), R::kInstalled);
  EXPECT_EQ(db.Update(L(3, 1, {1}), 0), R::kInstalled);
  EXPECT_EQ(db.Update(L(4, 1, {}), 0), R::kFull);  // all reachable: refused
  EXPECT_EQ(db.size(), 3u);
  // Once 3 is unreachable, a new origin evicts it.
  db.SetSelf(N({2}), 2);
  EXPECT_EQ(db.Update(L(4, 1, {}), 0), R::kInstalled);
  EXPECT_EQ(db.Find(3), nullptr);
  EXPECT_EQ(db.size(), 3u);
}

TEST(LsdbTest, RecomputesOnlyOnChange) {
  LinkStateDb db = MakeDb();
  db.SetSelf(N({2}), 1);
  db.Update(L(2, 1, {1}), 0);
  db.NextHop(2);
  const uint64_t runs = db.spf_runs();
  db.NextHop(2);
  db.Lookup("n2");
  db.Update(L(2, 1, {1}), 0);  // stale: no change
  db.NextHop(2);
  EXPECT_EQ(db.spf_runs(), runs);
  db.Update(L(2, 2, {1}), 0);
  db.NextHop(2);
  EXPECT_EQ(db.spf_runs(), runs + 1);
}

TEST(LsdbTest, LargeMeshIsFast) {
  // A 1024-node ring with chords: SPF must be quick and correct.
  constexpr NodeId kN = 1024;
  LinkStateDb db(1, "n1", kN);
  auto nbrs = [](NodeId i) {
    std::vector<NodeId> v;
    v.push_back(i == 1 ? kN : i - 1);
    v.push_back(i == kN ? 1 : i + 1);
    const NodeId chord = ((i - 1 + kN / 2) % kN) + 1;
    v.push_back(chord);
    return v;
  };
  db.SetSelf(N(nbrs(1)), 1);
  for (NodeId i = 2; i <= kN; i++) ASSERT_EQ(db.Update(L(i, 1, nbrs(i)), 0), R::kInstalled);
  EXPECT_EQ(db.routes().size(), kN);
  EXPECT_LE(db.FindRoute(kN / 4)->hops, kN / 4);
}

}  // namespace
}  // namespace mesh
}  // namespace meshd
