// Multi-store commits: the scenarios of the Committable/MultiCommitter
// package, plus the crashes its users hit.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "test_util.h"
#include "txjournal/committable.h"

using namespace txj;
using txj::test::TempDir;

namespace {

// Logs calls; can fail one kind of call, or kill the process at a step.
class Probe final : public Committable {
 public:
  Probe(std::string name, std::vector<std::string>* log) : name_(std::move(name)), log_(log) {}
  std::string fail_on;
  Status begin(std::string_view) override { return Step("begin"); }
  Status begin_recovery(std::string_view) override { return Step("begin_recovery"); }
  Status prepare(std::string_view) override { return Step("prepare"); }
  Result<std::string> commit(std::string_view key) override {
    TXJ_RETURN_IF_ERROR(Step("commit"));
    return "id-" + name_ + "-" + std::string(key);
  }
  Status cancel() override { return Step("cancel"); }

 private:
  Status Step(const std::string& what) {
    log_->push_back(name_ + ":" + what);
    if (what == fail_on) return Status::IOError(name_ + " failed " + what);
    return Status::OK();
  }
  std::string name_;
  std::vector<std::string>* log_;
};

std::size_t CountTopic(Journal& j, const std::string& topic) {
  auto c = j.open_cursor(0, Filter::for_topics({topic}));
  REQUIRE(c.ok());
  std::size_t n = 0;
  for (;;) {
    auto e = c->next();
    REQUIRE(e.ok());
    if (!e->has_value()) return n;
    ++n;
  }
}

// One session: an order event in the journal and a balance in the kv store.
Result<std::string> RunSession(MultiCommitter& mc, JournalParticipant& jp, KvParticipant& kv, const std::string& key) {
  TXJ_RETURN_IF_ERROR(mc.begin(key));
  TXJ_RETURN_IF_ERROR(jp.append("orders", "placed", "order for " + key, {.key = key}));
  TXJ_RETURN_IF_ERROR(kv.put("balance/" + key, "100"));
  return mc.commit(key);
}

}  // namespace

TEST_CASE("a session commits every participant in name order with a deterministic id") {
  std::string ids[2];
  for (int run = 0; run < 2; ++run) {
    TempDir dir;
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
    auto mc = MultiCommitter::open(*j);
    TXJ_REQUIRE_OK(mc);
    auto jp = std::make_shared<JournalParticipant>(*j);
    auto kv = KvParticipant::open(dir.sub("kv"));
    TXJ_REQUIRE_OK(kv);
    std::shared_ptr<KvParticipant> kvp = std::move(kv).value();
    std::vector<std::string> log;
    auto probe = std::make_shared<Probe>("b-probe", &log);
    TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
    TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
    TXJ_REQUIRE_OK((*mc)->register_participant("b-probe", probe));
    CHECK((*mc)->register_participant("b-probe", probe).code() == Code::kInvalidArgument);
    auto id = RunSession(**mc, *jp, *kvp, "order-1");
    TXJ_REQUIRE_OK(id);
    CHECK(id->size() == 32);
    ids[run] = *id;
    CHECK(log == std::vector<std::string>{"b-probe:begin", "b-probe:prepare", "b-probe:commit"});
    CHECK(CountTopic(*j, "orders") == 1);
    auto bal = kvp->get("balance/order-1");
    TXJ_REQUIRE_OK(bal);
    CHECK(bal->value_or("") == "100");
  }
  CHECK(ids[0] == ids[1]);  // the same changes give the same id on another machine
}

TEST_CASE("session misuse is a distinct error each") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto mc = MultiCommitter::open(*j);
  TXJ_REQUIRE_OK(mc);
  CHECK((*mc)->commit("k").status().code() == Code::kInvalidState);  // not in a session
  CHECK((*mc)->cancel().code() == Code::kInvalidState);
  TXJ_REQUIRE_OK((*mc)->begin("k"));
  CHECK((*mc)->begin("k").code() == Code::kBusy);  // already in a session
  CHECK(IsKeyMismatch((*mc)->commit("other").status()));
  TXJ_CHECK_OK((*mc)->commit("k"));
}

TEST_CASE("a failing prepare rolls every participant back and nothing becomes visible") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto mc = MultiCommitter::open(*j);
  TXJ_REQUIRE_OK(mc);
  auto jp = std::make_shared<JournalParticipant>(*j);
  auto kv = KvParticipant::open(dir.sub("kv"));
  TXJ_REQUIRE_OK(kv);
  std::shared_ptr<KvParticipant> kvp = std::move(kv).value();
  std::vector<std::string> log;
  auto probe = std::make_shared<Probe>("m-probe", &log);
  probe->fail_on = "prepare";
  TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
  TXJ_REQUIRE_OK((*mc)->register_participant("m-probe", probe));
  TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
  auto id = RunSession(**mc, *jp, *kvp, "s1");
  CHECK(id.status().code() == Code::kIOError);
  CHECK(CountTopic(*j, "orders") == 0);
  auto bal = kvp->get("balance/s1");
  TXJ_REQUIRE_OK(bal);
  CHECK(!bal->has_value());
  CHECK(log.back() == "m-probe:cancel");
  // The key can be used again afterwards.
  probe->fail_on.clear();
  TXJ_CHECK_OK(RunSession(**mc, *jp, *kvp, "s1"));
  CHECK(CountTopic(*j, "orders") == 1);
}

TEST_CASE("reusing a completed key returns the original id and applies nothing twice") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto mc = MultiCommitter::open(*j);
  TXJ_REQUIRE_OK(mc);
  auto jp = std::make_shared<JournalParticipant>(*j);
  auto kv = KvParticipant::open(dir.sub("kv"));
  TXJ_REQUIRE_OK(kv);
  std::shared_ptr<KvParticipant> kvp = std::move(kv).value();
  TXJ_REQUIRE_OK((*mc)->register_participant("journal", jp));
  TXJ_REQUIRE_OK((*mc)->register_participant("kv", kvp));
  auto first = RunSession(**mc, *jp, *kvp, "pay-7");
  TXJ_REQUIRE_OK(first);
  TXJ_REQUIRE_OK((*mc)->begin("pay-7"));
  auto again = (*mc)->commit("pay-7");
  TXJ_REQUIRE_OK(again);
  CHECK(*again == *first);
  CHECK(CountTopic(*j, "orders") == 1);
  auto r = (*mc)->result_of("pay-7");
  TXJ_REQUIRE_OK(r);
  CHECK(r->value_or("") == *first);
}

TEST_CASE("a decided session interrupted by a failure is completed by the next begin with its key") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  std::vector<std::string> log;
  auto probe = std::make_shared<Probe>("b-probe", &log);
  probe->fail_on = "commit";  // after the decision
  std::string reference;
  {
    TempDir clean;
    auto cj = test::OpenOrDie(clean.path(), test::SmallOptions());
    auto cmc = MultiCommitter::open(*cj);
    auto cjp = std::make_shared<JournalParticipant>(*cj);
    auto ckv = KvParticipant::open(clean.sub("kv"));
    std::shared_ptr<KvParticipant> ckvp = std::move(ckv).value();
    std::vector<std::string> clog;
    TXJ_REQUIRE_OK((*cmc)->register_participant("a-journal", cjp));
    TXJ_REQUIRE_OK((*cmc)->register_participant("b-probe", std::make_shared<Probe>("b-probe", &clog)));
    TXJ_REQUIRE_OK((*cmc)->register_participant("c-kv", ckvp));
    auto id = RunSession(**cmc, *cjp, *ckvp, "s");
    TXJ_REQUIRE_OK(id);
    reference = *id;
  }
  auto jp = std::make_shared<JournalParticipant>(*j);
  std::shared_ptr<KvParticipant> kvp = std::move(KvParticipant::open(dir.sub("kv"))).value();
  {
    auto mc = MultiCommitter::open(*j);
    TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
    TXJ_REQUIRE_OK((*mc)->register_participant("b-probe", probe));
    TXJ_REQUIRE_OK((*mc)->register_participant("c-kv", kvp));
    CHECK(!RunSession(**mc, *jp, *kvp, "s").ok());
    CHECK(CountTopic(*j, "orders") == 1);  // the journal committed before the failure
    auto bal = kvp->get("balance/s");
    CHECK(!bal->has_value());             // the kv store did not yet
  }
  probe->fail_on.clear();
  auto mc = MultiCommitter::open(*j);  // as after a restart
  TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
  TXJ_REQUIRE_OK((*mc)->register_participant("b-probe", probe));
  TXJ_REQUIRE_OK((*mc)->register_participant("c-kv", kvp));
  CHECK(IsKeyMismatch((*mc)->begin("other")));
  TXJ_REQUIRE_OK((*mc)->begin("s"));
  auto id = (*mc)->commit("s");
  TXJ_REQUIRE_OK(id);
  CHECK(*id == reference);
  CHECK(CountTopic(*j, "orders") == 1);
  CHECK(kvp->get("balance/s")->value_or("") == "100");
}

TEST_CASE("an undecided session interrupted is rolled back everywhere by recover()") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto jp = std::make_shared<JournalParticipant>(*j);
  std::shared_ptr<KvParticipant> kvp = std::move(KvParticipant::open(dir.sub("kv"))).value();
  std::vector<std::string> log;
  auto probe = std::make_shared<Probe>("m-probe", &log);
  {
    auto mc = MultiCommitter::open(*j);
    TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
    TXJ_REQUIRE_OK((*mc)->register_participant("m-probe", probe));
    TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
    TXJ_REQUIRE_OK((*mc)->begin("u"));
    TXJ_REQUIRE_OK(jp->append("orders", "placed", "x"));
    TXJ_REQUIRE_OK(kvp->put("k", "v"));
    // The process "dies" here: the committer is dropped mid-session.
  }
  auto mc = MultiCommitter::open(*j);
  TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", std::make_shared<JournalParticipant>(*j)));
  TXJ_REQUIRE_OK((*mc)->register_participant("m-probe", probe));
  TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
  auto r = (*mc)->recover();
  TXJ_REQUIRE_OK(r);
  CHECK(r->value_or("") == "u");
  CHECK(log.back() == "m-probe:cancel");
  CHECK(CountTopic(*j, "orders") == 0);
  CHECK(!kvp->get("k")->has_value());
  auto none = (*mc)->recover();
  TXJ_REQUIRE_OK(none);
  CHECK(!none->has_value());
}

TEST_CASE("a process killed at every step of a multi-store commit recovers to all or nothing") {
  // Steps are counted across the participants' calls; step N kills.
  for (int step = 1; step <= 8; ++step) {
    CAPTURE(step);
    TempDir dir;
    {
      auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
      TXJ_REQUIRE_OK(j->close());
    }
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto j = Journal::open(dir.path(), test::SmallOptions(Durability::kCommit));
      if (!j.ok()) ::_exit(3);
      auto mc = MultiCommitter::open(**j);
      auto jp = std::make_shared<JournalParticipant>(**j);
      std::shared_ptr<KvParticipant> kvp = std::move(KvParticipant::open(dir.sub("kv"))).value();
      struct Killer final : Committable {
        int at;
        int n = 0;
        explicit Killer(int a) : at(a) {}
        Status Tick() {
          if (++n == at) ::raise(SIGKILL);
          return Status::OK();
        }
        Status begin(std::string_view) override { return Tick(); }
        Status begin_recovery(std::string_view) override { return Status::OK(); }
        Status prepare(std::string_view) override { return Tick(); }
        Result<std::string> commit(std::string_view) override {
          TXJ_RETURN_IF_ERROR(Tick());
          return std::string("killer");
        }
        Status cancel() override { return Status::OK(); }
      };
      // Killer sits between the journal and the kv store in name order;
      // steps 1-3 hit it directly, later ones after it finished (the
      // commit loop continues: kill via a second killer at the end).
      (void)(*mc)->register_participant("a-journal", jp);
      (void)(*mc)->register_participant("m-killer", std::make_shared<Killer>(step <= 3 ? step : 100));
      (void)(*mc)->register_participant("z-kv", kvp);
      (void)(*mc)->register_participant("zz-killer", std::make_shared<Killer>(step > 3 ? step - 3 : 100));
      auto id = RunSession(**mc, *jp, *kvp, "crash-key");
      ::_exit(id.ok() ? 0 : 4);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
    auto mc = MultiCommitter::open(*j);
    auto jp = std::make_shared<JournalParticipant>(*j);
    std::shared_ptr<KvParticipant> kvp = std::move(KvParticipant::open(dir.sub("kv"))).value();
    struct Quiet final : Committable {
      Status begin(std::string_view) override { return Status::OK(); }
      Status begin_recovery(std::string_view) override { return Status::OK(); }
      Status prepare(std::string_view) override { return Status::OK(); }
      Result<std::string> commit(std::string_view) override { return std::string("killer"); }
      Status cancel() override { return Status::OK(); }
    };
    TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
    TXJ_REQUIRE_OK((*mc)->register_participant("m-killer", std::make_shared<Quiet>()));
    TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
    TXJ_REQUIRE_OK((*mc)->register_participant("zz-killer", std::make_shared<Quiet>()));
    // Whatever happened, the same key brings it to one complete commit.
    Status b = (*mc)->begin("crash-key");
    TXJ_REQUIRE_OK(b);
    (void)jp->append("orders", "placed", "order for crash-key", {.key = "crash-key"});
    (void)kvp->put("balance/crash-key", "100");
    auto id = (*mc)->commit("crash-key");
    TXJ_REQUIRE_OK(id);
    CHECK(CountTopic(*j, "orders") == 1);
    CHECK(CountTopic(*j, "$session") == 1);
    CHECK(kvp->get("balance/crash-key")->value_or("") == "100");
  }
}
