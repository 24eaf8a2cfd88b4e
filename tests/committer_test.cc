// Multi-store commits: the scenarios of the Committable/MultiCommitter
// package, plus the crashes its users hit.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
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

// A committer on `j` with `parts` registered in order (REQUIREd to work).
Result<std::unique_ptr<MultiCommitter>> CommitterWith(
    Journal& j, std::initializer_list<std::pair<const char*, std::shared_ptr<Committable>>> parts) {
  auto mc = test::RequireOk(MultiCommitter::open(j));
  for (const auto& [name, part] : parts) TXJ_REQUIRE_OK((*mc)->register_participant(name, part));
  return mc;
}

}  // namespace

TEST_CASE("a session commits every participant in name order with a deterministic id") {
  std::string ids[2];
  for (int run = 0; run < 2; ++run) {
    TempDir dir;
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
    auto mc = test::RequireOk(MultiCommitter::open(*j));
    auto jp = std::make_shared<JournalParticipant>(*j);
    std::shared_ptr<KvParticipant> kvp = test::RequireOk(KvParticipant::open(dir.sub("kv"))).value();
    std::vector<std::string> log;
    auto probe = std::make_shared<Probe>("b-probe", &log);
    TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
    TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
    TXJ_REQUIRE_OK((*mc)->register_participant("b-probe", probe));
    CHECK((*mc)->register_participant("b-probe", probe).code() == Code::kInvalidArgument);
    auto id = test::RequireOk(RunSession(**mc, *jp, *kvp, "order-1"));
    CHECK(id->size() == 32);
    ids[run] = *id;
    CHECK(log == std::vector<std::string>{"b-probe:begin", "b-probe:prepare", "b-probe:commit"});
    CHECK(CountTopic(*j, "orders") == 1);
    auto bal = test::RequireOk(kvp->get("balance/order-1"));
    CHECK(bal->value_or("") == "100");
  }
  CHECK(ids[0] == ids[1]);  // the same changes give the same id on another machine
}

TEST_CASE_FIXTURE(test::FreshJournal, "session misuse is a distinct error each") {
  auto mc = test::RequireOk(MultiCommitter::open(*j));
  CHECK((*mc)->commit("k").status().code() == Code::kInvalidState);  // not in a session
  CHECK((*mc)->cancel().code() == Code::kInvalidState);
  TXJ_REQUIRE_OK((*mc)->begin("k"));
  CHECK((*mc)->begin("k").code() == Code::kBusy);  // already in a session
  CHECK(IsKeyMismatch((*mc)->commit("other").status()));
  TXJ_CHECK_OK((*mc)->commit("k"));
}

TEST_CASE_FIXTURE(test::FreshJournal, "a failing prepare rolls every participant back and nothing becomes visible") {
  auto mc = test::RequireOk(MultiCommitter::open(*j));
  auto jp = std::make_shared<JournalParticipant>(*j);
  std::shared_ptr<KvParticipant> kvp = test::RequireOk(KvParticipant::open(dir.sub("kv"))).value();
  std::vector<std::string> log;
  auto probe = std::make_shared<Probe>("m-probe", &log);
  probe->fail_on = "prepare";
  TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
  TXJ_REQUIRE_OK((*mc)->register_participant("m-probe", probe));
  TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
  auto id = RunSession(**mc, *jp, *kvp, "s1");
  CHECK(id.status().code() == Code::kIOError);
  CHECK(CountTopic(*j, "orders") == 0);
  auto bal = test::RequireOk(kvp->get("balance/s1"));
  CHECK(!bal->has_value());
  CHECK(log.back() == "m-probe:cancel");
  // The key can be used again afterwards.
  probe->fail_on.clear();
  TXJ_CHECK_OK(RunSession(**mc, *jp, *kvp, "s1"));
  CHECK(CountTopic(*j, "orders") == 1);
}

TEST_CASE_FIXTURE(test::FreshJournal, "reusing a completed key returns the original id and applies nothing twice") {
  auto mc = test::RequireOk(MultiCommitter::open(*j));
  auto jp = std::make_shared<JournalParticipant>(*j);
  std::shared_ptr<KvParticipant> kvp = test::RequireOk(KvParticipant::open(dir.sub("kv"))).value();
  TXJ_REQUIRE_OK((*mc)->register_participant("journal", jp));
  TXJ_REQUIRE_OK((*mc)->register_participant("kv", kvp));
  auto first = test::RequireOk(RunSession(**mc, *jp, *kvp, "pay-7"));
  TXJ_REQUIRE_OK((*mc)->begin("pay-7"));
  auto again = test::RequireOk((*mc)->commit("pay-7"));
  CHECK(*again == *first);
  CHECK(CountTopic(*j, "orders") == 1);
  auto r = test::RequireOk((*mc)->result_of("pay-7"));
  CHECK(r->value_or("") == *first);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a decided session interrupted by a failure is completed by the next begin with its key") {
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
    auto id = test::RequireOk(RunSession(**cmc, *cjp, *ckvp, "s"));
    reference = *id;
  }
  auto jp = std::make_shared<JournalParticipant>(*j);
  std::shared_ptr<KvParticipant> kvp = std::move(KvParticipant::open(dir.sub("kv"))).value();
  {
    auto mc = CommitterWith(*j, {{"a-journal", jp}, {"b-probe", probe}, {"c-kv", kvp}});
    CHECK(!RunSession(**mc, *jp, *kvp, "s").ok());
    CHECK(CountTopic(*j, "orders") == 1);  // the journal committed before the failure
    auto bal = kvp->get("balance/s");
    CHECK(!bal->has_value());             // the kv store did not yet
  }
  probe->fail_on.clear();
  auto mc = CommitterWith(*j, {{"a-journal", jp}, {"b-probe", probe}, {"c-kv", kvp}});  // as after a restart
  CHECK(IsKeyMismatch((*mc)->begin("other")));
  TXJ_REQUIRE_OK((*mc)->begin("s"));
  auto id = test::RequireOk((*mc)->commit("s"));
  CHECK(*id == reference);
  CHECK(CountTopic(*j, "orders") == 1);
  CHECK(kvp->get("balance/s")->value_or("") == "100");
}

TEST_CASE_FIXTURE(test::FreshJournal, "an undecided session interrupted is rolled back everywhere by recover()") {
  auto jp = std::make_shared<JournalParticipant>(*j);
  std::shared_ptr<KvParticipant> kvp = std::move(KvParticipant::open(dir.sub("kv"))).value();
  std::vector<std::string> log;
  auto probe = std::make_shared<Probe>("m-probe", &log);
  {
    auto mc = CommitterWith(*j, {{"a-journal", jp}, {"m-probe", probe}, {"z-kv", kvp}});
    TXJ_REQUIRE_OK((*mc)->begin("u"));
    TXJ_REQUIRE_OK(jp->append("orders", "placed", "x"));
    TXJ_REQUIRE_OK(kvp->put("k", "v"));
    // The process "dies" here: the committer is dropped mid-session.
  }
  auto mc = MultiCommitter::open(*j);
  TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", std::make_shared<JournalParticipant>(*j)));
  TXJ_REQUIRE_OK((*mc)->register_participant("m-probe", probe));
  TXJ_REQUIRE_OK((*mc)->register_participant("z-kv", kvp));
  auto r = test::RequireOk((*mc)->recover());
  CHECK(r->value_or("") == "u");
  CHECK(log.back() == "m-probe:cancel");
  CHECK(CountTopic(*j, "orders") == 0);
  CHECK(!kvp->get("k")->has_value());
  auto none = test::RequireOk((*mc)->recover());
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
    auto id = test::RequireOk((*mc)->commit("crash-key"));
    CHECK(CountTopic(*j, "orders") == 1);
    CHECK(CountTopic(*j, "$session") == 1);
    CHECK(kvp->get("balance/crash-key")->value_or("") == "100");
  }
}

namespace {

// Forwards to a participant and kills the process before or after its
// `at`-th begin/prepare/commit call (counted across every Killing sharing
// `counter`).
class Killing final : public Committable {
 public:
  Killing(std::shared_ptr<Committable> inner, int* counter, int at, bool after)
      : inner_(std::move(inner)), counter_(counter), at_(at), after_(after) {}
  Status begin(std::string_view key) override {
    return Around([&] { return inner_->begin(key); });
  }
  Status begin_recovery(std::string_view key) override { return inner_->begin_recovery(key); }
  Status prepare(std::string_view key) override {
    return Around([&] { return inner_->prepare(key); });
  }
  Result<std::string> commit(std::string_view key) override {
    return Around([&] { return inner_->commit(key); });
  }
  Status cancel() override { return inner_->cancel(); }

 private:
  template <typename F>
  auto Around(F f) -> decltype(f()) {
    const int n = (*counter_)++;
    if (n == at_ && !after_) ::raise(SIGKILL);
    auto r = f();
    if (n == at_ && after_) ::raise(SIGKILL);
    return r;
  }
  std::shared_ptr<Committable> inner_;
  int* counter_;
  int at_;
  bool after_;
};

// What the three stores of the registration-order test hold of one session.
struct Applied {
  std::size_t orders = 0;
  bool b = false, c = false;
  bool operator==(const Applied&) const = default;
};

}  // namespace

TEST_CASE("an interrupted session is finished only once every participant it names is registered, in any order") {
  // Three participants, in name order a-journal, b-kv, c-kv: nine calls
  // (begin, prepare, commit of each). A child process is killed before or
  // after each call in turn; then, on a copy of what it left for each order
  // of registration, every participant is registered one at a time, and
  // after each registration recover() or begin(key) (chosen by the seed) is
  // tried: it must refuse, naming a missing participant and changing
  // nothing, until the last one is registered; then it finishes the session.
  // Afterwards the session is in all three stores or in none, and running it
  // again with its key gives exactly one complete commit.
  const std::vector<std::string> names = {"a-journal", "b-kv", "c-kv"};
  const std::string key = "order-66";
  std::mt19937_64 rng(test::Seed());
  auto stage = [&](JournalParticipant& jp, KvParticipant& kb, KvParticipant& kc) {
    Status s = jp.append("orders", "placed", "order for " + key, {.key = key});
    if (s.ok()) s = kb.put("balance/" + key, "100");
    if (s.ok()) s = kc.put("stock/" + key, "-1");
    return s;
  };
  std::string reference;  // the id of the session run without interruption
  {
    TempDir clean;
    auto j = test::OpenOrDie(clean.sub("j"), test::SmallOptions(Durability::kCommit));
    auto mc = test::RequireOk(MultiCommitter::open(*j));
    auto jp = std::make_shared<JournalParticipant>(*j);
    std::shared_ptr<KvParticipant> kb = std::move(KvParticipant::open(clean.sub("kv-b"))).value();
    std::shared_ptr<KvParticipant> kc = std::move(KvParticipant::open(clean.sub("kv-c"))).value();
    TXJ_REQUIRE_OK((*mc)->register_participant("a-journal", jp));
    TXJ_REQUIRE_OK((*mc)->register_participant("b-kv", kb));
    TXJ_REQUIRE_OK((*mc)->register_participant("c-kv", kc));
    TXJ_REQUIRE_OK((*mc)->begin(key));
    TXJ_REQUIRE_OK(stage(*jp, *kb, *kc));
    auto id = test::RequireOk((*mc)->commit(key));
    reference = *id;
  }
  int trials = 0;
  for (int point = 0; point < 18; ++point) {
    const int at = point / 2;
    const bool after = point % 2 == 1;
    const bool decided = at >= 6;  // the decision is stored between the last prepare and the first commit
    CAPTURE(at);
    CAPTURE(after);
    TempDir crashed;
    const std::string jdir = crashed.sub("j");
    {
      auto j = test::OpenOrDie(jdir, test::SmallOptions(Durability::kCommit));
      TXJ_REQUIRE_OK(j->close());
    }
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto j = Journal::open(jdir, test::SmallOptions(Durability::kCommit));
      if (!j.ok()) ::_exit(3);
      auto mc = MultiCommitter::open(**j);
      if (!mc.ok()) ::_exit(3);
      auto jp = std::make_shared<JournalParticipant>(**j);
      auto b = KvParticipant::open(crashed.sub("kv-b"));
      auto c = KvParticipant::open(crashed.sub("kv-c"));
      if (!b.ok() || !c.ok()) ::_exit(3);
      std::shared_ptr<KvParticipant> kb = std::move(b).value(), kc = std::move(c).value();
      int counter = 0;
      (void)(*mc)->register_participant("a-journal", std::make_shared<Killing>(jp, &counter, at, after));
      (void)(*mc)->register_participant("b-kv", std::make_shared<Killing>(kb, &counter, at, after));
      (void)(*mc)->register_participant("c-kv", std::make_shared<Killing>(kc, &counter, at, after));
      Status s = (*mc)->begin(key);
      if (s.ok()) s = stage(*jp, *kb, *kc);
      if (s.ok()) s = (*mc)->commit(key).status();
      ::_exit(s.ok() ? 0 : 4);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);

    std::vector<std::string> order = names;
    do {
      ++trials;
      CAPTURE(order[0] + "," + order[1] + "," + order[2]);
      TempDir d;
      std::filesystem::copy(crashed.path(), d.path(), std::filesystem::copy_options::recursive);
      auto j = test::OpenOrDie(d.sub("j"), test::SmallOptions(Durability::kCommit));
      auto mc = test::RequireOk(MultiCommitter::open(*j));
      auto jp = std::make_shared<JournalParticipant>(*j);
      std::shared_ptr<KvParticipant> kb = std::move(KvParticipant::open(d.sub("kv-b"))).value();
      std::shared_ptr<KvParticipant> kc = std::move(KvParticipant::open(d.sub("kv-c"))).value();
      auto applied = [&] {
        Applied a;
        a.orders = CountTopic(*j, "orders");
        a.b = kb->get("balance/" + key)->has_value();
        a.c = kc->get("stock/" + key)->has_value();
        return a;
      };
      const Applied at_crash = applied();
      std::map<std::string, std::shared_ptr<Committable>> objects = {
          {"a-journal", jp}, {"b-kv", kb}, {"c-kv", kc}};
      for (std::size_t r = 0; r < order.size(); ++r) {
        TXJ_REQUIRE_OK((*mc)->register_participant(order[r], objects[order[r]]));
        const bool use_recover = rng() % 2 == 0;
        if (r + 1 < order.size()) {
          Status s = use_recover ? (*mc)->recover().status() : (*mc)->begin(key);
          INFO("status: ", s.ToString());
          CHECK(IsMissingParticipant(s));
          bool names_a_missing_one = false;
          for (std::size_t m = r + 1; m < order.size(); ++m) {
            names_a_missing_one |= s.message().find(order[m]) != std::string::npos;
          }
          CHECK(names_a_missing_one);
          CHECK(applied() == at_crash);  // nothing changed while refused
          CHECK(!(*mc)->result_of(key)->has_value());
          CHECK((*mc)->cancel().code() == Code::kInvalidState);  // no session was begun
          continue;
        }
        if (use_recover) {
          auto rec = test::RequireOk((*mc)->recover());
          CHECK(rec->value_or("") == key);
          const Applied now = applied();
          if (decided) {
            CHECK(now == Applied{1, true, true});
            CHECK((*mc)->result_of(key)->has_value());
          } else {
            CHECK(now == Applied{0, false, false});
          }
          TXJ_REQUIRE_OK((*mc)->begin(key));
        } else {
          TXJ_REQUIRE_OK((*mc)->begin(key));  // finishes the interrupted session first
        }
      }
      // The application runs the session again with its key: a decided one
      // returns its id and applies nothing; a rolled back one commits now.
      // (Outside a session after a replayed begin: the stagings are refused.)
      (void)stage(*jp, *kb, *kc);
      auto id = test::RequireOk((*mc)->commit(key));
      CHECK(*id == reference);
      CHECK(applied() == Applied{1, true, true});
      CHECK(CountTopic(*j, "$session") == 1);
      CHECK(kb->get("balance/" + key)->value_or("") == "100");
      CHECK(kc->get("stock/" + key)->value_or("") == "-1");
      CHECK((*mc)->result_of(key)->value_or("") == *id);
      auto none = test::RequireOk((*mc)->recover());
      CHECK(!none->has_value());
    } while (std::next_permutation(order.begin(), order.end()));
  }
  MESSAGE(trials, " registration sequences after 18 interruption points");
}

TEST_CASE_FIXTURE(test::FreshJournal, "a participant registered after a session was interrupted takes no part in finishing it") {
  std::vector<std::string> log;
  auto failing = std::make_shared<Probe>("b-probe", &log);
  failing->fail_on = "commit";  // after the decision
  std::shared_ptr<KvParticipant> kvp = std::move(KvParticipant::open(dir.sub("kv"))).value();
  {
    auto mc = CommitterWith(*j, {{"b-probe", failing}, {"c-kv", kvp}});
    TXJ_REQUIRE_OK((*mc)->begin("s"));
    TXJ_REQUIRE_OK(kvp->put("k", "v"));
    CHECK(!(*mc)->commit("s").ok());
  }
  failing->fail_on.clear();
  std::vector<std::string> late_log;
  auto late = std::make_shared<Probe>("a-late", &late_log);
  auto mc = CommitterWith(*j, {{"a-late", late}, {"b-probe", failing}, {"c-kv", kvp}});
  auto r = test::RequireOk((*mc)->recover());
  CHECK(r->value_or("") == "s");
  CHECK(late_log.empty());
  CHECK(kvp->get("k")->value_or("") == "v");
}
