// journal-demo: the quickstart's main job. Writes a journal with nested
// transactions, rollbacks and commits, then replays the committed view.
//
//   journal-demo DIR
#include <cstdio>
#include <string>

#include "tool_util.h"
#include "txjournal/journal.h"

namespace {

int Fail(const char* what, const txj::Status& s) {
  std::fprintf(stderr, "journal-demo: %s: %s\n", what, s.ToString().c_str());
  return 1;
}

// One order: the order event, then a stock reservation per item in its own
// sub-transaction; an item out of stock rolls its reservation back, and the
// order goes on without it.
txj::Status PlaceOrder(txj::Journal& j, int order, int items, int out_of_stock_item) {
  auto tx = j.begin();
  if (!tx.ok()) return tx.status();
  const std::string id = "o-" + std::to_string(order);
  TXJ_RETURN_IF_ERROR(tx->append("orders", "created", R"({"order":")" + id + "\"}", {.key = id}));
  for (int i = 0; i < items; ++i) {
    auto sub = tx->begin();
    if (!sub.ok()) return sub.status();
    const std::string sku = "sku-" + std::to_string(i);
    TXJ_RETURN_IF_ERROR(sub->append("stock", "reserved", R"({"sku":")" + sku + "\"}", {.key = sku}));
    auto audit = sub->begin();  // a third level: an audit note inside the reservation
    if (!audit.ok()) return audit.status();
    TXJ_RETURN_IF_ERROR(audit->append("audit", "checked", "reservation of " + sku + " for " + id));
    auto c = audit->commit();
    if (!c.ok()) return c.status();
    if (i == out_of_stock_item) {
      TXJ_RETURN_IF_ERROR(sub->rollback());  // discards the audit note too
    } else {
      auto sc = sub->commit();
      if (!sc.ok()) return sc.status();
    }
  }
  if (order % 4 == 3) {
    std::printf("order %s: cancelled, whole transaction %llu rolled back\n", id.c_str(),
                static_cast<unsigned long long>(tx->id()));
    return tx->rollback();
  }
  auto info = tx->commit();
  if (!info.ok()) return info.status();
  std::printf("order %s: committed transaction %llu, offsets %llu..%llu (%llu events), ends at LSN %llu\n",
              id.c_str(), static_cast<unsigned long long>(info->txn_id),
              static_cast<unsigned long long>(info->first_offset),
              static_cast<unsigned long long>(info->first_offset + info->count - 1),
              static_cast<unsigned long long>(info->count), static_cast<unsigned long long>(info->lsn));
  return txj::Status::OK();
}

}  // namespace

int Run(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: journal-demo DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  {
    auto j = txj::Journal::open(dir);
    if (!j.ok()) return Fail("open", j.status());
    std::printf("opened %s (identity %s)\n", dir.c_str(), (*j)->identity().c_str());
    for (int order = 0; order < 8; ++order) {
      txj::Status s = PlaceOrder(**j, order, 3, order % 3 == 1 ? 1 : -1);
      if (!s.ok()) return Fail("write", s);
    }
    txj::Status s = (*j)->close();
    if (!s.ok()) return Fail("close", s);
  }
  // Reopen and replay: only committed events, in commit order, dense offsets.
  auto j = txj::Journal::open(dir);
  if (!j.ok()) return Fail("reopen", j.status());
  std::printf("\nreplaying the committed view of %s:\n", dir.c_str());
  auto cur = (*j)->open_cursor(0);
  if (!cur.ok()) return Fail("cursor", cur.status());
  for (;;) {
    auto e = cur->next();
    if (!e.ok()) return Fail("read", e.status());
    if (!e->has_value()) break;
    const txj::Event& ev = **e;
    std::printf("  #%-3llu txn %-3llu %-7.*s %-9.*s %.*s\n", static_cast<unsigned long long>(ev.offset),
                static_cast<unsigned long long>(ev.txn_id), static_cast<int>(ev.topic.size()), ev.topic.data(),
                static_cast<int>(ev.type.size()), ev.type.data(), static_cast<int>(ev.payload.size()),
                ev.payload.data());
  }
  std::printf("%llu committed events\n", static_cast<unsigned long long>((*j)->next_offset()));
  return 0;
}

int main(int argc, char** argv) {
  return txj::tools::RunAsMain(argc, argv, "journal-demo", Run);
}
