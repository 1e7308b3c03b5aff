// Broker logic with fake connections and timers: no sockets, no loop.
#include "meshd/client/broker.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <deque>

#include <gtest/gtest.h>

namespace meshd {
namespace {

using libsyslink::ctl::Message;
using libsyslink::ctl::Op;

class FakeClient : public Client {
 public:
  FakeClient(pid_t pid, uid_t uid) : pid_(pid), uid_(uid) {}
  ~FakeClient() override {
    for (auto& s : sent) {
      if (s.fd >= 0) close(s.fd);
    }
  }
  void Send(const Message& m, int pass_fd) override {
    sent.push_back({m, pass_fd >= 0 ? fcntl(pass_fd, F_DUPFD_CLOEXEC, 0) : -1});
  }
  void CloseAfterFlush() override { closed = true; }
  uint64_t id() const override { return static_cast<uint64_t>(pid_); }
  pid_t pid() const override { return pid_; }
  uid_t uid() const override { return uid_; }

  struct Sent {
    Message m;
    int fd;
  };
  Sent Pop() {
    EXPECT_FALSE(sent.empty());
    Sent s = sent.front();
    sent.pop_front();
    return s;
  }
  std::deque<Sent> sent;
  bool closed = false;

 private:
  pid_t pid_;
  uid_t uid_;
};

struct FakeTimers {
  struct T : Timer {
    explicit T(FakeTimers* o) : owner(o) {}
    void Start(uint64_t ms, std::function<void()> f) override {
      this->ms = ms;
      fn = std::move(f);
      owner->started.push_back(this);
    }
    void Cancel() override { fn = nullptr; }
    ~T() override {
      for (auto& t : owner->started) {
        if (t == this) t = nullptr;
      }
    }
    FakeTimers* owner;
    uint64_t ms = 0;
    std::function<void()> fn;
  };
  TimerFactory factory() {
    return [this] { return std::unique_ptr<Timer>(new T(this)); };
  }
  // Fires the most recent live timer.
  void FireLast() {
    for (auto it = started.rbegin(); it != started.rend(); ++it) {
      if (*it != nullptr && (*it)->fn) {
        auto fn = std::move((*it)->fn);
        fn();
        return;
      }
    }
    ADD_FAILURE() << "no live timer";
  }
  std::vector<T*> started;
};

Message Req(Op op, uint64_t msgid, std::string service = "", std::string node = "") {
  Message m;
  m.op = op;
  m.msgid = msgid;
  m.service = std::move(service);
  m.node = std::move(node);
  return m;
}

class BrokerTest : public ::testing::Test {
 protected:
  Broker::Limits limits() {
    Broker::Limits l;
    l.max_services = 2;
    l.max_sessions_per_client = 2;
    return l;
  }
  FakeTimers timers;
  Broker broker{"node1", limits(), timers.factory()};
  FakeClient svc{100, 1000}, cli{200, 1000}, cli2{201, 1000};

  // Registers "kv" on svc.
  void Listen() {
    broker.OnRequest(&svc, Req(Op::kListen, 1, "kv"), {});
    ASSERT_EQ(svc.Pop().m.error, 0);
  }
  // A CONNECT from C: returns the kSessionOpen sent to the service.
  FakeClient::Sent Connect(FakeClient* c, uint64_t msgid, std::string service = "kv") {
    broker.OnRequest(c, Req(Op::kConnect, msgid, std::move(service)), {});
    return svc.Pop();
  }
};

TEST_F(BrokerTest, ListenRules) {
  Listen();
  FakeClient other(300, 1000);
  broker.OnRequest(&other, Req(Op::kListen, 1, "kv"), {});
  EXPECT_EQ(other.Pop().m.error, EADDRINUSE);
  broker.OnRequest(&svc, Req(Op::kListen, 2, "kv2"), {});
  EXPECT_EQ(svc.Pop().m.error, EINVAL);  // one service per connection
  broker.OnRequest(&other, Req(Op::kListen, 2, "b"), {});
  EXPECT_EQ(other.Pop().m.error, 0);
  FakeClient third(301, 1000);
  broker.OnRequest(&third, Req(Op::kListen, 1, "c"), {});
  EXPECT_EQ(third.Pop().m.error, EAGAIN);  // max_services = 2
  ASSERT_EQ(broker.Services().size(), 2u);
  // A dead service frees its name.
  broker.ClientGone(&other);
  broker.OnRequest(&third, Req(Op::kListen, 2, "b"), {});
  EXPECT_EQ(third.Pop().m.error, 0);
}

// meshd's own services do not count against max_services; new limits
// apply to the next LISTEN and leave the services there alone.
TEST_F(BrokerTest, LimitsChangeForWhatComesNext) {
  FakeClient own(1, 0);
  ASSERT_EQ(broker.RegisterBuiltin("meshd.own", &own), 0);
  Listen();
  FakeClient b(300, 1000), c(301, 1000);
  broker.OnRequest(&b, Req(Op::kListen, 1, "b"), {});
  EXPECT_EQ(b.Pop().m.error, 0);  // two of the client's own, as max_services says
  broker.OnRequest(&c, Req(Op::kListen, 1, "c"), {});
  EXPECT_EQ(c.Pop().m.error, EAGAIN);
  Broker::Limits l = limits();
  l.max_services = 3;
  broker.SetLimits(l);
  broker.OnRequest(&c, Req(Op::kListen, 2, "c"), {});
  EXPECT_EQ(c.Pop().m.error, 0);
  l.max_services = 1;
  broker.SetLimits(l);
  EXPECT_EQ(broker.Services().size(), 4u);  // nothing withdrawn
  broker.ClientGone(&c);
  FakeClient d(302, 1000);
  broker.OnRequest(&d, Req(Op::kListen, 1, "d"), {});
  EXPECT_EQ(d.Pop().m.error, EAGAIN);  // two left, over the lowered limit
}

TEST_F(BrokerTest, ConnectOpensASessionWhenTheServiceAccepts) {
  Listen();
  auto open = Connect(&cli, 7);
  EXPECT_EQ(open.m.op, Op::kSessionOpen);
  EXPECT_FALSE(open.m.reply);
  EXPECT_GE(open.fd, 0);
  EXPECT_GE(open.m.sessid, uint64_t{1} << 63);
  EXPECT_EQ(open.m.peer_pid, 200);
  EXPECT_TRUE(cli.sent.empty());  // not until the service takes it
  broker.OnRequest(&svc, libsyslink::ctl::ReplyTo(open.m, 0), {});
  auto reply = cli.Pop();
  EXPECT_TRUE(reply.m.reply);
  EXPECT_EQ(reply.m.msgid, 7u);
  EXPECT_EQ(reply.m.error, 0);
  EXPECT_EQ(reply.m.sessid, open.m.sessid);
  EXPECT_EQ(reply.m.kind, static_cast<uint32_t>(libsyslink::ctl::Kind::kDirect));
  EXPECT_GE(reply.fd, 0);
  ASSERT_EQ(broker.Sessions().size(), 1u);
  EXPECT_EQ(broker.Sessions()[0].client_pid, 200);
  // The two descriptors are the ends of one socket pair.
  ASSERT_EQ(write(open.fd, "x", 1), 1);
  char c;
  ASSERT_EQ(read(reply.fd, &c, 1), 1);
  // The session ends when the service says so.
  Message ended = Req(Op::kSessionEnded, 9);
  ended.sessid = open.m.sessid;
  ended.why = ECONNRESET;
  broker.OnRequest(&svc, ended, {});
  EXPECT_EQ(svc.Pop().m.error, 0);
  EXPECT_TRUE(broker.Sessions().empty());
  broker.OnRequest(&svc, ended, {});
  EXPECT_EQ(svc.Pop().m.error, ENOENT);
  EXPECT_EQ(broker.counters().sessions_opened, 1u);
  EXPECT_EQ(broker.counters().sessions_closed, 1u);
}

TEST_F(BrokerTest, ConnectErrors) {
  broker.OnRequest(&cli, Req(Op::kConnect, 1, "kv"), {});
  EXPECT_EQ(cli.Pop().m.error, ECONNREFUSED);
  broker.OnRequest(&cli, Req(Op::kConnect, 2, "kv", "elsewhere"), {});
  EXPECT_EQ(cli.Pop().m.error, EHOSTUNREACH);
  Listen();
  broker.OnRequest(&cli, Req(Op::kConnect, 3, "kv", "node1"), {});  // our own name
  EXPECT_EQ(svc.Pop().m.op, Op::kSessionOpen);
  // The service refuses (its library is at a limit).
  auto open = Connect(&cli2, 4);
  broker.OnRequest(&svc, libsyslink::ctl::ReplyTo(open.m, EAGAIN), {});
  EXPECT_EQ(cli2.Pop().m.error, EAGAIN);
  // Draining: no new sessions.
  broker.SetDraining(true);
  broker.OnRequest(&cli2, Req(Op::kConnect, 5, "kv"), {});
  EXPECT_EQ(cli2.Pop().m.error, EAGAIN);
}

TEST_F(BrokerTest, ConnectTimesOut) {
  Listen();
  Message m = Req(Op::kConnect, 1, "kv");
  m.has_timeout = true;
  m.timeout_ms = 250;
  broker.OnRequest(&cli, m, {});
  auto open = svc.Pop();
  ASSERT_FALSE(timers.started.empty());
  EXPECT_EQ(timers.started.back()->ms, 250u);
  timers.FireLast();
  EXPECT_EQ(cli.Pop().m.error, ETIMEDOUT);
  // A late acceptance is ignored.
  broker.OnRequest(&svc, libsyslink::ctl::ReplyTo(open.m, 0), {});
  EXPECT_TRUE(cli.sent.empty());
  EXPECT_TRUE(broker.Sessions().empty());
  EXPECT_EQ(broker.counters().connect_timeouts, 1u);
}

TEST_F(BrokerTest, SessionsPerClientAreLimited) {
  Listen();
  for (int i = 0; i < 2; i++) {
    auto open = Connect(&cli, 10 + i);
    broker.OnRequest(&svc, libsyslink::ctl::ReplyTo(open.m, 0), {});
    EXPECT_EQ(cli.Pop().m.error, 0);
  }
  broker.OnRequest(&cli, Req(Op::kConnect, 20, "kv"), {});
  EXPECT_EQ(cli.Pop().m.error, EAGAIN);
  // Another process is not affected.
  auto open = Connect(&cli2, 21);
  EXPECT_EQ(open.m.op, Op::kSessionOpen);
}

TEST_F(BrokerTest, ServiceDeathAnswersPendingConnectsAndDropsSessions) {
  Listen();
  auto open = Connect(&cli, 1);
  broker.OnRequest(&svc, libsyslink::ctl::ReplyTo(open.m, 0), {});
  EXPECT_EQ(cli.Pop().m.error, 0);
  Connect(&cli2, 2);  // pending
  broker.ClientGone(&svc);
  EXPECT_EQ(cli2.Pop().m.error, ECONNREFUSED);
  EXPECT_TRUE(broker.Sessions().empty());
  EXPECT_TRUE(broker.Services().empty());
  broker.OnRequest(&cli, Req(Op::kConnect, 3, "kv"), {});
  EXPECT_EQ(cli.Pop().m.error, ECONNREFUSED);
}

TEST_F(BrokerTest, ClientDeathDropsItsPendingConnect) {
  Listen();
  auto open = Connect(&cli, 1);
  broker.ClientGone(&cli);
  broker.OnRequest(&svc, libsyslink::ctl::ReplyTo(open.m, 0), {});  // too late
  EXPECT_TRUE(broker.Sessions().empty());
  // Its session count was released: the limit is per live session.
  auto again = Connect(&cli2, 2);
  EXPECT_EQ(again.m.op, Op::kSessionOpen);
}

TEST_F(BrokerTest, MeshdOnlyRequestsFromClientsAreRefused) {
  Message m = Req(Op::kSessionOpen, 1);
  m.sessid = uint64_t{1} << 63;
  m.kind = 1;
  broker.OnRequest(&cli, m, {});
  EXPECT_EQ(cli.Pop().m.error, EINVAL);
  EXPECT_EQ(broker.counters().bad_requests, 1u);
}

}  // namespace
}  // namespace meshd
