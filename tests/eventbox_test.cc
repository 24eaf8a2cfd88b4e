// Eventbox: the scenarios of LUCI's eventbox tests, and its open issues.
#include <atomic>
#include <set>
#include <thread>

#include "test_util.h"
#include "txjournal/eventbox.h"

using namespace txj;
using txj::test::TempDir;

namespace {

// Consumes every event into a counter state ("n=<count>"), one transition per
// event, with a side effect that records the event id.
class Counter final : public Processor {
 public:
  std::function<void()> during_prepare;
  std::set<std::string> garbage_values;
  std::string fail_side_effect_on;
  bool clean = false;
  bool fail_prepare = false;
  Status prepare_mutation(const std::vector<InboxEvent>& events, const std::string& state, Mutation* out) override {
    if (during_prepare) during_prepare();
    std::uint64_t n = state.empty() ? 0 : std::stoull(state.substr(2));
    for (const auto& e : events) {
      if (garbage_values.count(e.value)) {
        out->garbage.push_back(e.id);
        continue;
      }
      ++n;
      Transition t;
      t.events = {e.id};
      t.transition_to = "n=" + std::to_string(n);
      const std::string id = e.id, value = e.value;
      t.side_effect = [this, id, value](KvTxn& kv) -> Status {
        if (value == fail_side_effect_on) return Status::IOError("side effect failed for " + value);
        return kv.put("effects", id, value);
      };
      t.fails_cleanly = clean;
      t.post_process = [value, this]() {
        post.push_back(value);
        return Status::OK();
      };
      out->transitions.push_back(std::move(t));
    }
    if (fail_prepare) return Status::InvalidArgument("processor refused the batch");
    return Status::OK();
  }
  std::vector<std::string> post;
};

}  // namespace

TEST_CASE_FIXTURE(test::FreshJournal, "emit gives unique ids and list shows unprocessed events in order") {
  auto box = test::RequireOk(Eventbox::open(*j));
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto id = test::RequireOk((*box)->emit("run-1", "v" + std::to_string(i)));
    ids.insert(*id);
  }
  CHECK(ids.size() == 20);
  // An event emitted inside a transaction that rolls back never arrives.
  {
    auto tx = j->begin();
    TXJ_REQUIRE_OK((*box)->emit(*tx, "run-1", "rolled back"));
    TXJ_REQUIRE_OK(tx->rollback());
  }
  auto l = test::RequireOk((*box)->list("run-1"));
  REQUIRE(l->size() == 20);
  for (int i = 0; i < 20; ++i) CHECK((*l)[static_cast<std::size_t>(i)].value == "v" + std::to_string(i));
  CHECK((*box)->list("nobody")->empty());
}

TEST_CASE_FIXTURE(test::FreshJournal, "a batch applies its transitions atomically and returns the post-process functions in order") {
  auto box = std::move(Eventbox::open(*j)).value();
  for (int i = 0; i < 5; ++i) TXJ_REQUIRE_OK(box->emit("r", "e" + std::to_string(i)));
  Counter c;
  auto post = test::RequireOk(box->process_batch("r", c, 3));
  REQUIRE(post->size() == 3);
  for (auto& f : *post) TXJ_CHECK_OK(f());
  CHECK(c.post == std::vector<std::string>{"e0", "e1", "e2"});
  auto st = test::RequireOk(box->state("r"));
  CHECK(st->first == "n=3");
  CHECK(st->second == 1);
  CHECK(box->list("r")->size() == 2);
}

TEST_CASE_FIXTURE(test::FreshJournal, "garbage is dropped even when prepare_mutation fails") {
  auto box = std::move(Eventbox::open(*j)).value();
  TXJ_REQUIRE_OK(box->emit("r", "junk"));
  TXJ_REQUIRE_OK(box->emit("r", "real"));
  Counter c;
  c.garbage_values = {"junk"};
  c.fail_prepare = true;
  CHECK(box->process_batch("r", c, 10).status().code() == Code::kInvalidArgument);
  auto l = box->list("r");
  REQUIRE(l->size() == 1);
  CHECK((*l)[0].value == "real");
  CHECK(box->state("r")->first.empty());  // no transition applied
}

TEST_CASE_FIXTURE(test::FreshJournal, "transitions that change nothing open no transaction and bump no version") {
  auto box = std::move(Eventbox::open(*j)).value();
  TXJ_REQUIRE_OK(box->emit("r", "x"));
  struct Idle final : Processor {
    Status prepare_mutation(const std::vector<InboxEvent>&, const std::string& state, Mutation* out) override {
      Transition t;
      t.transition_to = state;  // equal by value
      out->transitions.push_back(t);
      return Status::OK();
    }
  } idle;
  auto post = test::RequireOk(box->process_batch("r", idle, 10));
  CHECK(box->state("r")->second == 0);
  CHECK(box->list("r")->size() == 1);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a state-only transition happens with an empty inbox, and an idle processor writes nothing") {
  auto box = std::move(Eventbox::open(*j)).value();
  // A timer-like processor: with no events it moves "waiting" to "expired"
  // once; in "expired" it has nothing to do and returns no transition.
  struct Timer final : Processor {
    int calls = 0;
    std::size_t last_batch = 99;
    Status prepare_mutation(const std::vector<InboxEvent>& events, const std::string& state, Mutation* out) override {
      ++calls;
      last_batch = events.size();
      if (state == "expired") return Status::OK();  // nothing to do
      Transition t;
      t.transition_to = "expired";
      t.side_effect = [](KvTxn& kv) { return kv.put("timer", "fired", "yes"); };
      t.post_process = [] { return Status::OK(); };
      out->transitions.push_back(std::move(t));
      return Status::OK();
    }
  } timer;
  REQUIRE(box->list("r")->empty());
  auto post = test::RequireOk(box->process_batch("r", timer, 10));
  CHECK(timer.calls == 1);
  CHECK(timer.last_batch == 0);
  CHECK(post->size() == 1);
  auto st = test::RequireOk(box->state("r"));
  CHECK(st->first == "expired");
  CHECK(st->second == 1);
  // Idle: the processor is asked, returns nothing, and no version is bumped.
  for (int i = 0; i < 3; ++i) {
    auto idle = test::RequireOk(box->process_batch("r", timer, 10));
    CHECK(idle->empty());
  }
  CHECK(timer.calls == 4);
  CHECK(box->state("r")->second == 1);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a failing side effect rolls everything back and the events stay pending") {
  auto box = std::move(Eventbox::open(*j)).value();
  for (int i = 0; i < 3; ++i) TXJ_REQUIRE_OK(box->emit("r", "e" + std::to_string(i)));
  Counter c;
  c.fail_side_effect_on = "e2";
  CHECK(box->process_batch("r", c, 10).status().code() == Code::kIOError);
  CHECK(box->state("r")->second == 0);
  CHECK(box->list("r")->size() == 3);
  SUBCASE("unless it fails cleanly: transitions before it commit") {
    c.clean = true;
    auto post = test::RequireOk(box->process_batch("r", c, 10));
    CHECK(post->size() == 2);
    CHECK(box->state("r")->first == "n=2");
    auto l = box->list("r");
    REQUIRE(l->size() == 1);
    CHECK((*l)[0].value == "e2");
  }
}

TEST_CASE_FIXTURE(test::FreshJournal, "a concurrent change makes a batch fail with contention and apply nothing") {
  auto box = std::move(Eventbox::open(*j)).value();
  TXJ_REQUIRE_OK(box->emit("r", "a"));
  TXJ_REQUIRE_OK(box->emit("r", "b"));
  Counter inner, outer;
  bool once = true;
  outer.during_prepare = [&] {
    if (!once) return;
    once = false;
    auto r = box->process_batch("r", inner, 1);  // another processor commits first
    REQUIRE(r.ok());
  };
  auto r = box->process_batch("r", outer, 10);
  CHECK(IsContention(r.status()));
  CHECK(box->state("r")->first == "n=1");
  CHECK(box->list("r")->size() == 1);
}

TEST_CASE_FIXTURE(test::FreshJournal, "two processors of one recipient never both commit and never lose an event") {
  auto box = std::move(Eventbox::open(*j)).value();
  const int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) TXJ_REQUIRE_OK(box->emit("r", "e" + std::to_string(i)));
  std::atomic<int> contention{0};
  auto worker = [&] {
    Counter c;
    for (int round = 0; round < 2000; ++round) {
      auto r = box->process_batch("r", c, 7);
      if (!r.ok()) {
        CHECK(IsContention(r.status()));
        ++contention;
        continue;
      }
      auto l = box->list("r");
      if (l.ok() && l->empty()) break;
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  CHECK(box->list("r")->empty());
  auto st = box->state("r");
  CHECK(st->first == "n=" + std::to_string(kEvents));  // every event counted exactly once
  MESSAGE("contention seen ", contention.load(), " times");
}
