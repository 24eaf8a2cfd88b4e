// A journal with a schema rejects what cannot appear, in appends and filters.
#include "test_util.h"

using namespace txj;

TEST_CASE("a filter naming a topic or type that cannot appear is an error, not an empty stream") {
  test::TempDir dir;
  Options o = test::SmallOptions();
  o.schema = {{"orders", {"created", "cancelled"}}, {"audit", {}}};
  auto j = test::OpenOrDie(dir.path(), o);
  CHECK(j->open_cursor(0, Filter::for_topics({"invoices"})).status().code() == Code::kInvalidArgument);
  CHECK(j->open_cursor(0, Filter{false, {"orders"}, {"shipped"}}).status().code() == Code::kInvalidArgument);
  CHECK(j->open_cursor(0, Filter{false, {}, {"anything"}}).ok());  // audit allows any type
  CHECK(j->open_cursor(0, Filter{false, {"orders"}, {"created"}}).ok());
  CHECK(j->open_cursor(0, Filter{}).status().code() == Code::kInvalidArgument);  // empty: ask for all() explicitly
  auto tx = test::RequireOk(j->begin());
  CHECK(tx->append("invoices", "created", "x").code() == Code::kInvalidArgument);
  CHECK(tx->append("orders", "shipped", "x").code() == Code::kInvalidArgument);
  TXJ_CHECK_OK(tx->append("orders", "created", "x"));
  TXJ_CHECK_OK(tx->append("audit", "whatever", "x"));
  TXJ_CHECK_OK(tx->commit());
}
