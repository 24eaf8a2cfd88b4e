#include "txjournal/offset_store.h"

#include <cstring>

#include "journal_door.h"
#include "txjournal/journal.h"

namespace txj {

namespace {

constexpr std::string_view kOffsets = "consumer_offsets";

class LmdbOffsetStore final : public OffsetStore {
 public:
  LmdbOffsetStore(std::unique_ptr<internal::UserTables> tables, std::shared_ptr<std::atomic<bool>> alive,
                  std::shared_ptr<std::atomic<bool>> accepting)
      : tables_(std::move(tables)), alive_(std::move(alive)), accepting_(std::move(accepting)) {}

  Result<std::uint64_t> load(const std::string& consumer) override {
    TXJ_RETURN_IF_ERROR(CheckOpen());
    auto v = tables_->Get(kOffsets, consumer);
    if (!v.ok()) return v.status();
    if (!v->has_value()) return std::uint64_t{0};
    if ((*v)->size() != 8) {
      return Status::Corruption("offset of consumer " + consumer + " in " + tables_->where() + " is malformed");
    }
    std::uint64_t off;
    std::memcpy(&off, (*v)->data(), 8);
    return off;
  }

  Status save(const std::string& consumer, std::uint64_t next_offset) override {
    return commit_with(consumer, next_offset, [](KvTxn&) { return Status::OK(); });
  }

  Status commit_with(const std::string& consumer, std::uint64_t next_offset,
                     const std::function<Status(KvTxn&)>& fn) override {
    TXJ_RETURN_IF_ERROR(CheckOpen());
    if (consumer.empty()) return Status::InvalidArgument("empty consumer name");
    bool fn_failed = false;
    Status s = tables_->Write([&](KvTxn& t) -> Status {
      Status f = fn(t);
      if (!f.ok()) {
        fn_failed = true;
        return f;
      }
      return t.put(kOffsets, consumer,
                   std::string_view(reinterpret_cast<const char*>(&next_offset), sizeof next_offset));
    });
    if (s.ok() || fn_failed) return s;
    // The catalog failed: nothing of this transaction was saved.
    return s.WithContext("consumer " + consumer + ": saving next offset " + std::to_string(next_offset) +
                         " (not saved; the offset stays at the last one saved)");
  }

  Result<std::optional<std::string>> get(std::string_view table, std::string_view key) override {
    TXJ_RETURN_IF_ERROR(CheckOpen());
    return tables_->Get(table, key);
  }

 private:
  // The catalog belongs to the journal: once the journal is closed (or
  // destroyed, which closes the catalog) nothing more is read or written.
  Status CheckOpen() const {
    if (!alive_->load(std::memory_order_acquire) || !accepting_->load(std::memory_order_acquire)) {
      return Status::Closed("offset store of " + tables_->where() + ": its journal was closed");
    }
    return Status::OK();
  }
  std::unique_ptr<internal::UserTables> tables_;
  std::shared_ptr<std::atomic<bool>> alive_, accepting_;
};

}  // namespace

Result<std::unique_ptr<OffsetStore>> OffsetStore::open(Journal& journal) {
  if (!internal::HasWritableCatalog(journal)) {
    return Status::InvalidState("journal " + journal.dir() + " has no writable catalog (open it for writing)");
  }
  TXJ_RETURN_IF_ERROR(internal::MarkCatalogPrecious(journal));
  return std::unique_ptr<OffsetStore>(std::make_unique<LmdbOffsetStore>(
      internal::OpenUserTables(journal), internal::AliveFlag(journal), internal::AcceptingFlag(journal)));
}

}  // namespace txj
