// Nested transaction semantics, through the public API.
#include <string>
#include <vector>

#include "test_util.h"

using namespace txj;
using txj::test::TempDir;

namespace {

std::vector<std::string> ReadAllPayloads(Journal& j, std::uint64_t from = 0) {
  std::vector<std::string> out;
  auto c = j.open_cursor(from);
  REQUIRE(c.ok());
  for (;;) {
    auto e = c->next();
    REQUIRE(e.ok());
    if (!e->has_value()) break;
    out.emplace_back((**e).payload);
  }
  return out;
}

}  // namespace

TEST_CASE("a committed sub-transaction's events become visible with its parent's commit") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto tx = j->begin();
  TXJ_REQUIRE_OK(tx);
  TXJ_CHECK_OK(tx->append("t", "a", "1"));
  auto sub = tx->begin();
  TXJ_REQUIRE_OK(sub);
  TXJ_CHECK_OK(sub->append("t", "b", "2"));
  TXJ_CHECK_OK(sub->commit());
  CHECK(ReadAllPayloads(*j).empty());
  auto info = tx->commit();
  TXJ_REQUIRE_OK(info);
  CHECK(info->first_offset == 0);
  CHECK(info->count == 2);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"1", "2"});
}

TEST_CASE("a rolled-back sub-transaction discards its committed descendants and the parent goes on") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto tx = j->begin();
  TXJ_REQUIRE_OK(tx);
  TXJ_CHECK_OK(tx->append("t", "a", "keep-1"));
  auto sub = tx->begin();
  TXJ_REQUIRE_OK(sub);
  TXJ_CHECK_OK(sub->append("t", "a", "drop-1"));
  auto subsub = sub->begin();
  TXJ_REQUIRE_OK(subsub);
  TXJ_CHECK_OK(subsub->append("t", "a", "drop-2"));
  TXJ_CHECK_OK(subsub->commit());
  TXJ_CHECK_OK(sub->rollback());
  TXJ_CHECK_OK(tx->append("t", "a", "keep-2"));
  auto info = tx->commit();
  TXJ_REQUIRE_OK(info);
  CHECK(info->count == 2);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"keep-1", "keep-2"});
}

TEST_CASE("ending a parent while a child is open is an invalid-state error") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto tx = j->begin();
  TXJ_REQUIRE_OK(tx);
  auto sub = tx->begin();
  TXJ_REQUIRE_OK(sub);
  CHECK(tx->commit().status().code() == Code::kInvalidState);
  CHECK(tx->rollback().code() == Code::kInvalidState);
  CHECK(tx->append("t", "a", "x").code() == Code::kInvalidState);
  TXJ_CHECK_OK(sub->commit());
  CHECK(sub->append("t", "a", "x").code() == Code::kInvalidState);
  TXJ_CHECK_OK(tx->commit());
  CHECK(tx->commit().status().code() == Code::kInvalidState);
}
