// txjournal: the C API (include/txjournal/c.h) over the C++ API.
//
// Every entry point is noexcept: C++ exceptions (std::bad_alloc, a
// std::system_error from the standard library) are caught in Guard() and
// turned into a status code and a message.
#include "txjournal/c.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "txjournal/compactor.h"
#include "txjournal/cursor.h"
#include "txjournal/journal.h"
#include "txjournal/offset_store.h"
#include "txjournal/options.h"
#include "txjournal/recovery_report.h"
#include "txjournal/status.h"
#include "txjournal/transaction.h"
#include "txjournal/version.h"

// The C codes are txj::Code's values, one for one.
static_assert(TXJ_OK == static_cast<int>(txj::Code::kOk));
static_assert(TXJ_INVALID_ARGUMENT == static_cast<int>(txj::Code::kInvalidArgument));
static_assert(TXJ_INVALID_STATE == static_cast<int>(txj::Code::kInvalidState));
static_assert(TXJ_NOT_FOUND == static_cast<int>(txj::Code::kNotFound));
static_assert(TXJ_CORRUPTION == static_cast<int>(txj::Code::kCorruption));
static_assert(TXJ_TRUNCATED == static_cast<int>(txj::Code::kTruncated));
static_assert(TXJ_CLOSED == static_cast<int>(txj::Code::kClosed));
static_assert(TXJ_BUSY == static_cast<int>(txj::Code::kBusy));
static_assert(TXJ_TIMED_OUT == static_cast<int>(txj::Code::kTimedOut));
static_assert(TXJ_CANCELLED == static_cast<int>(txj::Code::kCancelled));
static_assert(TXJ_IO_ERROR == static_cast<int>(txj::Code::kIOError));
static_assert(TXJ_NO_SPACE == static_cast<int>(txj::Code::kNoSpace));
static_assert(TXJ_NOT_SUPPORTED == static_cast<int>(txj::Code::kNotSupported));
static_assert(TXJ_FAILED == static_cast<int>(txj::Code::kFailed));
// The last code: a new txj::Code needs a TXJ_ code (and this assertion moved).
static_assert(static_cast<int>(txj::Code::kFailed) == 13);

static_assert(TXJ_DURABILITY_NONE == static_cast<int>(txj::Durability::kNone));
static_assert(TXJ_DURABILITY_COMMIT == static_cast<int>(txj::Durability::kCommit));
static_assert(TXJ_DURABILITY_PERIODIC == static_cast<int>(txj::Durability::kPeriodic));

struct txj_options {
  txj::Options o;
};

struct txj_journal {
  std::unique_ptr<txj::Journal> j;
  // Handles made from this journal and not yet freed: txj_close() refuses
  // while any is alive (the C++ objects must not outlive the Journal).
  std::atomic<std::int64_t> live_txns{0};
  std::atomic<std::int64_t> live_cursors{0};
  // Opened on first use (OffsetStore::open marks the catalog precious).
  std::mutex offsets_mu;
  std::unique_ptr<txj::OffsetStore> offsets;
};

struct txj_txn {
  txj_journal* owner = nullptr;
  txj::Transaction t;
};

struct txj_cursor {
  txj_journal* owner = nullptr;
  txj::Cursor c;
  std::vector<txj::Event> batch;  // txj_cursor_next_batch's events: the views it hands out
};

struct txj_claim {
  txj_journal* owner = nullptr;
  txj::EventClaim c;
};

struct txj_state {
  txj::RebuiltState r;
  const txj::LatestByKeyCompactor::Map* map = nullptr;
  std::vector<std::pair<const std::string*, const std::string*>> entries;  // key byte order
};

namespace {

using txj::Code;
using txj::Status;

constexpr char kEmpty[] = "";

// A malloc'd copy of `s` (freed by txj_free), or nullptr when out of memory.
char* Dup(std::string_view s) noexcept {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

// "<code name>: <fn>: <what>" without allocating through C++ (for the
// paths where C++ allocation just failed).
int FailRaw(char** errptr, Code code, const char* fn, const char* what) noexcept {
  if (errptr != nullptr) {
    const char* name = txj_code_name(static_cast<int>(code));
    const std::size_t n = std::strlen(name) + std::strlen(fn) + std::strlen(what) + 5;
    char* p = static_cast<char*>(std::malloc(n));
    if (p != nullptr) std::snprintf(p, n, "%s: %s: %s", name, fn, what);
    *errptr = p;
  }
  return static_cast<int>(code);
}

int Report(char** errptr, const Status& s) {
  if (s.ok()) return TXJ_OK;
  if (errptr != nullptr) *errptr = Dup(s.ToString());
  return static_cast<int>(s.code());
}

int Report(char** errptr, const char* fn, const Status& s) {
  if (s.ok()) return TXJ_OK;
  return Report(errptr, s.WithContext(fn));
}

int NullArg(char** errptr, const char* fn, const char* arg) noexcept {
  char what[96];
  std::snprintf(what, sizeof what, "argument %s is NULL", arg);
  return FailRaw(errptr, Code::kInvalidArgument, fn, what);
}

// A pointer argument and its name, for NullArgs.
struct PtrArg {
  const void* p;
  const char* name;
};

// The first of `args` that is NULL, reported as NullArg does; TXJ_OK when
// none is.
int NullArgs(char** errptr, const char* fn, std::initializer_list<PtrArg> args) noexcept {
  for (const PtrArg& a : args) {
    if (a.p == nullptr) return NullArg(errptr, fn, a.name);
  }
  return TXJ_OK;
}

// kNotFound: "<fn>: <what> <index> out of range (<size> <what>s)".
int OutOfRange(char** errptr, const char* fn, const char* what, std::size_t index, std::size_t size) {
  return Report(errptr, Status::NotFound(std::string(fn) + ": " + what + " " + std::to_string(index) +
                                         " out of range (" + std::to_string(size) + " " + what + "s)"));
}

int Invalid(char** errptr, const char* fn, const std::string& what) {
  return Report(errptr, Status::InvalidArgument(std::string(fn) + ": " + what));
}

// Frees the caller's earlier message, runs `f`, and turns an exception into
// a code.
template <typename F>
int Guard(char** errptr, const char* fn, F&& f) noexcept {
  if (errptr != nullptr && *errptr != nullptr) {
    std::free(*errptr);
    *errptr = nullptr;
  }
  try {
    return f();
  } catch (const std::bad_alloc&) {
    if (errptr != nullptr && *errptr != nullptr) {
      std::free(*errptr);
      *errptr = nullptr;
    }
    return FailRaw(errptr, Code::kNoSpace, fn, "out of memory");
  } catch (const std::exception& e) {
    if (errptr != nullptr && *errptr != nullptr) {
      std::free(*errptr);
      *errptr = nullptr;
    }
    return FailRaw(errptr, Code::kIOError, fn, e.what());
  } catch (...) {
    if (errptr != nullptr && *errptr != nullptr) {
      std::free(*errptr);
      *errptr = nullptr;
    }
    return FailRaw(errptr, Code::kIOError, fn, "unexpected C++ exception");
  }
}

void CopyHash(char (&dst)[33], const std::string& hash) noexcept {
  std::snprintf(dst, sizeof dst, "%.32s", hash.c_str());
}

const char* OrEmpty(std::string_view s) noexcept { return s.empty() ? kEmpty : s.data(); }

void FillEvent(const txj::Event& e, txj_event_t* out) noexcept {
  out->offset = e.offset;
  out->txn_id = e.txn_id;
  out->timestamp_ns = e.timestamp_ns;
  out->lsn = e.lsn;
  out->topic = OrEmpty(e.topic);
  out->topic_len = e.topic.size();
  out->type = OrEmpty(e.type);
  out->type_len = e.type.size();
  out->has_key = e.key.has_value() ? 1 : 0;
  out->key = e.key ? static_cast<const void*>(OrEmpty(*e.key)) : nullptr;
  out->key_len = e.key ? e.key->size() : 0;
  out->payload = OrEmpty(e.payload);
  out->payload_len = e.payload.size();
}

int NewTxn(txj_journal* owner, txj::Result<txj::Transaction> r, txj_txn_t** out, char** errptr,
           const char* fn) {
  if (!r.ok()) return Report(errptr, fn, r.status());
  auto* h = new txj_txn;
  h->owner = owner;
  h->t = std::move(r).value();
  owner->live_txns.fetch_add(1, std::memory_order_relaxed);
  *out = h;
  return TXJ_OK;
}

// Frees a transaction handle (rolling back what is still open in it).
void FreeTxn(txj_txn* txn) noexcept {
  txj_journal* owner = txn->owner;
  delete txn;
  owner->live_txns.fetch_sub(1, std::memory_order_relaxed);
}

int StringList(const char* fn, const char* what, const char* const* list, std::size_t n,
               std::vector<std::string>* out, char** errptr) {
  if (n > 0 && list == nullptr) return NullArg(errptr, fn, what);
  for (std::size_t i = 0; i < n; ++i) {
    if (list[i] == nullptr) {
      return Invalid(errptr, fn, std::string("entry ") + std::to_string(i) + " of " + what + " is NULL");
    }
    out->emplace_back(list[i]);
  }
  return TXJ_OK;
}

txj::Result<txj::OffsetStore*> Offsets(txj_journal* h) {
  std::lock_guard<std::mutex> lock(h->offsets_mu);
  if (!h->offsets) {
    auto r = txj::OffsetStore::open(*h->j);
    if (!r.ok()) return r.status();
    h->offsets = std::move(r).value();
  }
  return h->offsets.get();
}

}  // namespace

extern "C" {

// ---- memory, codes, version ----

void txj_free(void* ptr) { std::free(ptr); }

const char* txj_code_name(int code) {
  if (code < TXJ_OK || code > TXJ_FAILED) return "unknown";
  // CodeName returns views of string literals: NUL-terminated.
  return txj::CodeName(static_cast<Code>(code)).data();
}

int txj_version(int* major, int* minor, int* patch, uint32_t* format_version) {
  if (major != nullptr) *major = txj::kVersionMajor;
  if (minor != nullptr) *minor = txj::kVersionMinor;
  if (patch != nullptr) *patch = txj::kVersionPatch;
  if (format_version != nullptr) *format_version = txj::kFormatVersion;
  return TXJ_OK;
}

// ---- options ----

int txj_options_create(txj_options_t** out, char** errptr) {
  return Guard(errptr, "txj_options_create", [&]() -> int {
    if (out == nullptr) return NullArg(errptr, "txj_options_create", "out");
    *out = new txj_options;
    return TXJ_OK;
  });
}

int txj_options_destroy(txj_options_t* options) {
  delete options;
  return TXJ_OK;
}

#define TXJ_OPTION_SETTER(fn, ctype, body)                     \
  int fn(txj_options_t* options, ctype value, char** errptr) { \
    return Guard(errptr, #fn, [&]() -> int {                            \
      if (options == nullptr) return NullArg(errptr, #fn, "options"); \
      body;                                                    \
      return TXJ_OK;                                           \
    });                                                        \
  }

TXJ_OPTION_SETTER(txj_options_set_create_if_missing, int, options->o.create_if_missing = value != 0)
TXJ_OPTION_SETTER(txj_options_set_error_if_exists, int, options->o.error_if_exists = value != 0)
TXJ_OPTION_SETTER(txj_options_set_read_only, int, options->o.read_only = value != 0)
TXJ_OPTION_SETTER(txj_options_set_segment_size, uint64_t, options->o.segment_size = value)
TXJ_OPTION_SETTER(txj_options_set_pad_commits_to_page, int, options->o.pad_commits_to_page = value != 0)
TXJ_OPTION_SETTER(txj_options_set_recycled_segments, uint64_t,
                  options->o.recycled_segments = static_cast<std::size_t>(value))
TXJ_OPTION_SETTER(txj_options_set_huge_pages, int, options->o.huge_pages = value != 0)
TXJ_OPTION_SETTER(txj_options_set_sync_interval_ms, int64_t,
                  options->o.sync_interval = std::chrono::milliseconds(value))
TXJ_OPTION_SETTER(txj_options_set_poll_interval_ms, int64_t,
                  options->o.poll_interval = std::chrono::milliseconds(value))
TXJ_OPTION_SETTER(txj_options_set_file_mode, unsigned, options->o.file_mode = static_cast<mode_t>(value))
TXJ_OPTION_SETTER(txj_options_set_rebuild_catalog, int, options->o.rebuild_catalog = value != 0)
TXJ_OPTION_SETTER(txj_options_set_durability, int,
                  if (value != TXJ_DURABILITY_NONE && value != TXJ_DURABILITY_COMMIT &&
                      value != TXJ_DURABILITY_PERIODIC) {
                    return Invalid(errptr, "txj_options_set_durability",
                                   "option durability: unknown value " + std::to_string(value) +
                                       " (TXJ_DURABILITY_NONE, _COMMIT or _PERIODIC)");
                  } options->o.durability = static_cast<txj::Durability>(value))

#undef TXJ_OPTION_SETTER

int txj_options_add_schema_topic(txj_options_t* options, const char* topic, const char* const* types,
                                 size_t ntypes, char** errptr) {
  static constexpr const char* fn = "txj_options_add_schema_topic";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{options, "options"}, {topic, "topic"}})) return rc;
    std::vector<std::string> list;
    if (int rc = StringList(fn, "types", types, ntypes, &list, errptr); rc != TXJ_OK) return rc;
    options->o.schema[topic] = std::move(list);
    return TXJ_OK;
  });
}

// ---- open, close, sync ----

int txj_open(const char* dir, const txj_options_t* options, txj_journal_t** out, char** errptr) {
  static constexpr const char* fn = "txj_open";
  if (out != nullptr) *out = nullptr;
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{dir, "dir"}, {out, "out"}})) return rc;
    auto h = std::make_unique<txj_journal>();
    auto r = txj::Journal::open(dir, options != nullptr ? options->o : txj::Options{});
    if (!r.ok()) return Report(errptr, r.status());
    h->j = std::move(r).value();
    *out = h.release();
    return TXJ_OK;
  });
}

int txj_close(txj_journal_t* journal, char** errptr) {
  static constexpr const char* fn = "txj_close";
  return Guard(errptr, fn, [&]() -> int {
    if (journal == nullptr) return NullArg(errptr, fn, "journal");
    const std::int64_t txns = journal->live_txns.load();
    const std::int64_t cursors = journal->live_cursors.load();
    if (txns != 0 || cursors != 0) {
      return Report(errptr, Status::InvalidState(std::string(fn) + ": journal " + journal->j->dir() + " still has " +
                                                 std::to_string(txns) + " transaction handle(s) (claims included) and " +
                                                 std::to_string(cursors) +
                                                 " cursor handle(s); free them first (nothing was closed)"));
    }
    std::unique_ptr<txj_journal> h(journal);
    h->offsets.reset();
    Status s = h->j->close();
    h->j.reset();
    return Report(errptr, fn, s);
  });
}

int txj_sync(txj_journal_t* journal, char** errptr) {
  static constexpr const char* fn = "txj_sync";
  return Guard(errptr, fn, [&]() -> int {
    if (journal == nullptr) return NullArg(errptr, fn, "journal");
    if (journal->j->options().read_only) {
      return Report(errptr, Status::InvalidState(std::string(fn) + ": journal " + journal->j->dir() +
                                                 " is open read-only"));
    }
    return Report(errptr, fn, journal->j->sync());
  });
}

// ---- recovery report ----

int txj_recovery(const txj_journal_t* journal, txj_recovery_info_t* out, char** errptr) {
  static constexpr const char* fn = "txj_recovery";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    const txj::RecoveryReport& r = journal->j->recovery_report();
    *out = txj_recovery_info_t{};
    out->created = r.created ? 1 : 0;
    out->catalog_rebuilt = r.catalog_rebuilt ? 1 : 0;
    out->scanned_bytes = r.scanned_bytes;
    out->start_lsn = r.start_lsn;
    out->end_lsn = r.end_lsn;
    out->next_offset = r.next_offset;
    out->next_txn_id = r.next_txn_id;
    out->repair_count = r.repairs.size();
    out->note_count = r.notes.size();
    return TXJ_OK;
  });
}

int txj_recovery_repair(const txj_journal_t* journal, size_t index, txj_recovery_repair_t* out, char** errptr) {
  static constexpr const char* fn = "txj_recovery_repair";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    const txj::RecoveryReport& r = journal->j->recovery_report();
    if (index >= r.repairs.size()) return OutOfRange(errptr, fn, "repair", index, r.repairs.size());
    const auto& rep = r.repairs[index];
    out->file = rep.file.c_str();
    out->file_offset = rep.file_offset;
    out->lsn = rep.lsn;
    out->bytes_dropped = rep.bytes_dropped;
    out->reason = rep.reason.c_str();
    return TXJ_OK;
  });
}

int txj_recovery_note(const txj_journal_t* journal, size_t index, const char** note, char** errptr) {
  static constexpr const char* fn = "txj_recovery_note";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {note, "note"}})) return rc;
    const txj::RecoveryReport& r = journal->j->recovery_report();
    if (index >= r.notes.size()) return OutOfRange(errptr, fn, "note", index, r.notes.size());
    *note = r.notes[index].c_str();
    return TXJ_OK;
  });
}

int txj_recovery_string(const txj_journal_t* journal, char** out, char** errptr) {
  static constexpr const char* fn = "txj_recovery_string";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    char* p = Dup(journal->j->recovery_report().ToString());
    if (p == nullptr) throw std::bad_alloc();
    *out = p;
    return TXJ_OK;
  });
}

// ---- stats ----

int txj_stats(const txj_journal_t* journal, txj_stats_t* out, char** errptr) {
  static constexpr const char* fn = "txj_stats";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    const txj::Journal& j = *journal->j;
    *out = txj_stats_t{};
    out->next_offset = j.next_offset();
    out->first_offset = j.first_offset();
    out->visible_lsn = j.visible_lsn();
    out->read_only = j.options().read_only ? 1 : 0;
    out->durability = static_cast<int>(j.options().durability);
    out->segment_size = j.options().segment_size;
    CopyHash(out->identity, j.identity());
    return TXJ_OK;
  });
}

int txj_topics(txj_journal_t* journal, txj_topic_info_t** out, size_t* count, char** errptr) {
  static constexpr const char* fn = "txj_topics";
  if (out != nullptr) *out = nullptr;
  if (count != nullptr) *count = 0;
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}, {count, "count"}})) return rc;
    auto r = journal->j->topics();
    if (!r.ok()) return Report(errptr, fn, r.status());
    if (r->empty()) return TXJ_OK;
    std::size_t bytes = r->size() * sizeof(txj_topic_info_t);
    for (const auto& t : *r) bytes += t.name.size() + 1;
    auto* block = static_cast<txj_topic_info_t*>(std::malloc(bytes));
    if (block == nullptr) throw std::bad_alloc();
    char* names = reinterpret_cast<char*>(block + r->size());
    for (std::size_t i = 0; i < r->size(); ++i) {
      const txj::TopicInfo& t = (*r)[i];
      std::memcpy(names, t.name.c_str(), t.name.size() + 1);
      block[i] = txj_topic_info_t{names, t.events, t.bytes, t.first_offset, t.last_offset};
      names += t.name.size() + 1;
    }
    *out = block;
    *count = r->size();
    return TXJ_OK;
  });
}

// ---- transactions ----

int txj_begin(txj_journal_t* journal, txj_txn_t** out, char** errptr) {
  static constexpr const char* fn = "txj_begin";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    *out = nullptr;
    return NewTxn(journal, journal->j->begin(), out, errptr, fn);
  });
}

int txj_try_begin(txj_journal_t* journal, txj_txn_t** out, char** errptr) {
  static constexpr const char* fn = "txj_try_begin";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    *out = nullptr;
    return NewTxn(journal, journal->j->try_begin(), out, errptr, fn);
  });
}

int txj_begin_timeout(txj_journal_t* journal, uint64_t timeout_ms, txj_txn_t** out, char** errptr) {
  static constexpr const char* fn = "txj_begin_timeout";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    *out = nullptr;
    // Clamp so that the nanosecond count cannot overflow (about 292 years).
    constexpr std::uint64_t kMaxMs = 9'000'000'000'000ull;
    const std::uint64_t ms = timeout_ms > kMaxMs ? kMaxMs : timeout_ms;
    return NewTxn(journal, journal->j->begin_for(std::chrono::milliseconds(ms)), out, errptr, fn);
  });
}

int txj_txn_begin(txj_txn_t* parent, txj_txn_t** out, char** errptr) {
  static constexpr const char* fn = "txj_txn_begin";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{parent, "parent"}, {out, "out"}})) return rc;
    *out = nullptr;
    return NewTxn(parent->owner, parent->t.begin(), out, errptr, fn);
  });
}

int txj_txn_append_ex(txj_txn_t* txn, const char* topic, const char* type, const void* key, size_t key_len,
                      const void* payload, size_t payload_len, uint64_t timestamp_ns, char** errptr) {
  static constexpr const char* fn = "txj_txn_append";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{txn, "txn"}, {topic, "topic"}, {type, "type"}})) return rc;
    if (payload == nullptr && payload_len != 0) {
      return Invalid(errptr, fn, "payload is NULL with payload_len " + std::to_string(payload_len));
    }
    if (key == nullptr && key_len != 0) {
      return Invalid(errptr, fn, "key is NULL with key_len " + std::to_string(key_len));
    }
    txj::AppendOptions o;
    if (key != nullptr) o.key = std::string_view(static_cast<const char*>(key), key_len);
    o.timestamp_ns = timestamp_ns;
    const std::string_view body =
        payload_len == 0 ? std::string_view() : std::string_view(static_cast<const char*>(payload), payload_len);
    return Report(errptr, fn, txn->t.append(topic, type, body, o));
  });
}

int txj_txn_append(txj_txn_t* txn, const char* topic, const char* type, const void* payload, size_t payload_len,
                   char** errptr) {
  return txj_txn_append_ex(txn, topic, type, nullptr, 0, payload, payload_len, 0, errptr);
}

int txj_txn_append_batch(txj_txn_t* txn, const txj_new_event_t* events, size_t n, char** errptr) {
  static constexpr const char* fn = "txj_txn_append_batch";
  return Guard(errptr, fn, [&]() -> int {
    if (txn == nullptr) return NullArg(errptr, fn, "txn");
    if (events == nullptr && n != 0) return Invalid(errptr, fn, "events is NULL with n " + std::to_string(n));
    std::vector<txj::NewEvent> batch(n);
    for (std::size_t i = 0; i < n; ++i) {
      const txj_new_event_t& e = events[i];
      const std::string at = "event " + std::to_string(i) + ": ";
      if (e.topic == nullptr || e.type == nullptr) return Invalid(errptr, fn, at + (e.topic ? "type" : "topic") + " is NULL");
      if (e.payload == nullptr && e.payload_len != 0) {
        return Invalid(errptr, fn, at + "payload is NULL with payload_len " + std::to_string(e.payload_len));
      }
      if (e.key == nullptr && e.key_len != 0) {
        return Invalid(errptr, fn, at + "key is NULL with key_len " + std::to_string(e.key_len));
      }
      batch[i].topic = e.topic;
      batch[i].type = e.type;
      if (e.payload_len != 0) batch[i].payload = std::string_view(static_cast<const char*>(e.payload), e.payload_len);
      if (e.key != nullptr) batch[i].options.key = std::string_view(static_cast<const char*>(e.key), e.key_len);
      batch[i].options.timestamp_ns = e.timestamp_ns;
    }
    return Report(errptr, fn, txn->t.append_batch(batch));
  });
}

static void FreeClaim(txj_claim* claim) noexcept {
  txj_journal* owner = claim->owner;
  delete claim;
  owner->live_txns.fetch_sub(1, std::memory_order_relaxed);
}

int txj_txn_claim(txj_txn_t* txn, const char* topic, const char* type, size_t size, void** payload,
                  txj_claim_t** out, char** errptr) {
  static constexpr const char* fn = "txj_txn_claim";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{txn, "txn"}, {topic, "topic"}, {type, "type"}, {payload, "payload"}, {out, "out"}})) {
      return rc;
    }
    *out = nullptr;
    *payload = nullptr;
    auto r = txn->t.claim(topic, type, size);
    if (!r.ok()) return Report(errptr, fn, r.status());
    auto claim = std::make_unique<txj_claim>();
    claim->owner = txn->owner;
    claim->c = std::move(r).value();
    *payload = claim->c.payload().data();
    txn->owner->live_txns.fetch_add(1, std::memory_order_relaxed);
    *out = claim.release();
    return TXJ_OK;
  });
}

// Publishes or cancels `claim`, and frees its handle whatever happens.
static int EndClaim(txj_claim_t* claim, bool publish, char** errptr, const char* fn) {
  return Guard(errptr, fn, [&]() -> int {
    if (claim == nullptr) return NullArg(errptr, fn, "claim");
    std::unique_ptr<txj_claim, void (*)(txj_claim*)> owned(claim, FreeClaim);
    if (publish) return Report(errptr, fn, claim->c.publish());
    claim->c.cancel();
    return TXJ_OK;
  });
}

int txj_claim_publish(txj_claim_t* claim, char** errptr) {
  return EndClaim(claim, /*publish=*/true, errptr, "txj_claim_publish");
}

int txj_claim_cancel(txj_claim_t* claim, char** errptr) {
  return EndClaim(claim, /*publish=*/false, errptr, "txj_claim_cancel");
}

int txj_txn_commit(txj_txn_t* txn, txj_commit_info_t* info, char** errptr) {
  static constexpr const char* fn = "txj_txn_commit";
  return Guard(errptr, fn, [&]() -> int {
    if (txn == nullptr) return NullArg(errptr, fn, "txn");
    // The handle goes whatever happens below (also on an exception).
    std::unique_ptr<txj_txn, void (*)(txj_txn*)> owned(txn, FreeTxn);
    auto r = txn->t.commit();
    if (!r.ok()) return Report(errptr, fn, r.status());
    if (info != nullptr) {
      *info = {.txn_id = r->txn_id, .sub_id = r->sub_id, .first_offset = r->first_offset, .count = r->count,
               .lsn = r->lsn};
    }
    return TXJ_OK;
  });
}

int txj_txn_rollback(txj_txn_t* txn, char** errptr) {
  static constexpr const char* fn = "txj_txn_rollback";
  return Guard(errptr, fn, [&]() -> int {
    if (txn == nullptr) return NullArg(errptr, fn, "txn");
    std::unique_ptr<txj_txn, void (*)(txj_txn*)> owned(txn, FreeTxn);
    return Report(errptr, fn, txn->t.rollback());
  });
}

int txj_txn_info(const txj_txn_t* txn, uint64_t* txn_id, uint32_t* sub_id, uint32_t* depth, int* is_open,
                 char** errptr) {
  static constexpr const char* fn = "txj_txn_info";
  return Guard(errptr, fn, [&]() -> int {
    if (txn == nullptr) return NullArg(errptr, fn, "txn");
    if (txn_id != nullptr) *txn_id = txn->t.id();
    if (sub_id != nullptr) *sub_id = txn->t.sub_id();
    if (depth != nullptr) *depth = txn->t.depth();
    if (is_open != nullptr) *is_open = txn->t.is_open() ? 1 : 0;
    return TXJ_OK;
  });
}

// ---- cursors ----

int txj_cursor_open(txj_journal_t* journal, uint64_t offset, const char* const* topics, size_t ntopics,
                    const char* const* types, size_t ntypes, txj_cursor_t** out, char** errptr) {
  static constexpr const char* fn = "txj_cursor_open";
  if (out != nullptr) *out = nullptr;
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {out, "out"}})) return rc;
    txj::Filter filter = txj::Filter::all();
    if (ntopics != 0 || ntypes != 0) {
      filter.match_all = false;
      if (int rc = StringList(fn, "topics", topics, ntopics, &filter.topics, errptr); rc != TXJ_OK) return rc;
      if (int rc = StringList(fn, "types", types, ntypes, &filter.types, errptr); rc != TXJ_OK) return rc;
    }
    auto r = journal->j->open_cursor(offset, filter);
    if (!r.ok()) return Report(errptr, fn, r.status());
    auto h = std::make_unique<txj_cursor>();
    h->owner = journal;
    h->c = std::move(r).value();
    journal->live_cursors.fetch_add(1, std::memory_order_relaxed);
    *out = h.release();
    return TXJ_OK;
  });
}

int txj_cursor_next(txj_cursor_t* cursor, txj_event_t* event, int* found, char** errptr) {
  static constexpr const char* fn = "txj_cursor_next";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{cursor, "cursor"}, {event, "event"}, {found, "found"}})) return rc;
    *found = 0;
    auto r = cursor->c.next();
    if (!r.ok()) return Report(errptr, fn, r.status());
    if (r->has_value()) {
      FillEvent(**r, event);
      *found = 1;
    }
    return TXJ_OK;
  });
}

int txj_cursor_next_batch(txj_cursor_t* cursor, txj_event_t* events, size_t cap, size_t* count, char** errptr) {
  static constexpr const char* fn = "txj_cursor_next_batch";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{cursor, "cursor"}, {events, "events"}, {count, "count"}})) return rc;
    *count = 0;
    if (cap == 0) return Invalid(errptr, fn, "cap is 0");
    if (cursor->batch.size() < cap) cursor->batch.resize(cap);
    auto r = cursor->c.next_batch(std::span<txj::Event>(cursor->batch.data(), cap));
    if (!r.ok()) return Report(errptr, fn, r.status());
    for (std::size_t i = 0; i < *r; ++i) FillEvent(cursor->batch[i], &events[i]);
    *count = *r;
    return TXJ_OK;
  });
}

int txj_cursor_wait(txj_cursor_t* cursor, int64_t timeout_ms, txj_event_t* event, char** errptr) {
  static constexpr const char* fn = "txj_cursor_wait";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{cursor, "cursor"}, {event, "event"}})) return rc;
    using Clock = std::chrono::steady_clock;
    // Beyond about a century, as good as forever (and no overflow).
    constexpr std::int64_t kForeverMs = 3'000'000'000'000;
    const Clock::time_point deadline = (timeout_ms < 0 || timeout_ms > kForeverMs)
                                           ? Clock::time_point::max()
                                           : Clock::now() + std::chrono::milliseconds(timeout_ms);
    auto r = cursor->c.wait_next(deadline);
    if (!r.ok()) return Report(errptr, fn, r.status());
    FillEvent(*r, event);
    return TXJ_OK;
  });
}

int txj_cursor_position(const txj_cursor_t* cursor, uint64_t* offset, char** errptr) {
  static constexpr const char* fn = "txj_cursor_position";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{cursor, "cursor"}, {offset, "offset"}})) return rc;
    *offset = cursor->c.position();
    return TXJ_OK;
  });
}

int txj_cursor_close(txj_cursor_t* cursor, char** errptr) {
  static constexpr const char* fn = "txj_cursor_close";
  return Guard(errptr, fn, [&]() -> int {
    if (cursor == nullptr) return NullArg(errptr, fn, "cursor");
    return Report(errptr, fn, cursor->c.close());
  });
}

int txj_cursor_destroy(txj_cursor_t* cursor) {
  if (cursor == nullptr) return TXJ_OK;
  txj_journal* owner = cursor->owner;
  delete cursor;
  owner->live_cursors.fetch_sub(1, std::memory_order_relaxed);
  return TXJ_OK;
}

// ---- compaction ----

int txj_register_latest_by_key(txj_journal_t* journal, const char* topic, const char* tombstone_type,
                               uint64_t every_events, uint64_t every_bytes, char** errptr) {
  static constexpr const char* fn = "txj_register_latest_by_key";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {topic, "topic"}})) return rc;
    auto c = std::make_shared<txj::LatestByKeyCompactor>(tombstone_type != nullptr ? tombstone_type : "tombstone");
    txj::CompactionPolicy policy;
    policy.every_events = every_events;
    policy.every_bytes = every_bytes;
    return Report(errptr, fn, journal->j->register_compactor(topic, std::move(c), policy));
  });
}

int txj_compact(txj_journal_t* journal, const char* topic, txj_snapshot_info_t* info, char** errptr) {
  static constexpr const char* fn = "txj_compact";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {topic, "topic"}})) return rc;
    auto r = journal->j->compact(topic);
    if (!r.ok()) return Report(errptr, fn, r.status());
    if (info != nullptr) {
      *info = {.covered_offset = r->covered_offset, .events_folded = r->events_folded, .size = r->size,
               .compactor_version = r->compactor_version, .state_hash = {}};
      CopyHash(info->state_hash, r->state_hash);
    }
    return TXJ_OK;
  });
}

int txj_apply_retention(txj_journal_t* journal, uint64_t min_offset, char** errptr) {
  static constexpr const char* fn = "txj_apply_retention";
  return Guard(errptr, fn, [&]() -> int {
    if (journal == nullptr) return NullArg(errptr, fn, "journal");
    return Report(errptr, fn, journal->j->apply_retention(min_offset));
  });
}

int txj_rebuild(txj_journal_t* journal, const char* topic, txj_state_t** out, char** errptr) {
  static constexpr const char* fn = "txj_rebuild";
  if (out != nullptr) *out = nullptr;
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {topic, "topic"}, {out, "out"}})) return rc;
    auto r = journal->j->rebuild(topic);
    if (!r.ok() && r.status().code() == Code::kNotFound &&
        r.status().message().rfind("no compactor registered", 0) == 0) {
      r = journal->j->rebuild(topic, txj::LatestByKeyCompactor());
    }
    if (!r.ok()) return Report(errptr, fn, r.status());
    auto h = std::make_unique<txj_state>();
    h->r = std::move(r).value();
    h->map = dynamic_cast<const txj::LatestByKeyCompactor::Map*>(h->r.state.get());
    if (h->map == nullptr) {
      return Report(errptr, Status::NotSupported(std::string(fn) + ": the compactor registered for topic " + topic +
                                                 " is not latest-by-key; the C API reads only that one"));
    }
    h->entries.reserve(h->map->values.size());
    for (const auto& [k, v] : h->map->values) h->entries.emplace_back(&k, &v);
    *out = h.release();
    return TXJ_OK;
  });
}

int txj_state_info(const txj_state_t* state, txj_state_info_t* out, char** errptr) {
  static constexpr const char* fn = "txj_state_info";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{state, "state"}, {out, "out"}})) return rc;
    *out = txj_state_info_t{};
    CopyHash(out->state_hash, state->r.state_hash);
    out->next_offset = state->r.next_offset;
    out->from_snapshot = state->r.from_snapshot;
    out->events_applied = state->r.events_applied;
    out->key_count = state->entries.size();
    return TXJ_OK;
  });
}

int txj_state_get(const txj_state_t* state, const void* key, size_t key_len, const void** value, size_t* value_len,
                  int* found, char** errptr) {
  static constexpr const char* fn = "txj_state_get";
  return Guard(errptr, fn, [&]() -> int {
    if (state == nullptr) return NullArg(errptr, fn, "state");
    if (key == nullptr && key_len != 0) return NullArg(errptr, fn, "key");
    if (int rc = NullArgs(errptr, fn, {{value, "value"}, {value_len, "value_len"}, {found, "found"}})) return rc;
    *found = 0;
    *value = nullptr;
    *value_len = 0;
    const std::string k = key_len == 0 ? std::string() : std::string(static_cast<const char*>(key), key_len);
    auto it = state->map->values.find(k);
    if (it != state->map->values.end()) {
      *found = 1;
      *value = OrEmpty(it->second);
      *value_len = it->second.size();
    }
    return TXJ_OK;
  });
}

int txj_state_entry(const txj_state_t* state, size_t index, const void** key, size_t* key_len, const void** value,
                    size_t* value_len, char** errptr) {
  static constexpr const char* fn = "txj_state_entry";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{state, "state"}, {key, "key"}, {key_len, "key_len"}})) return rc;
    if (int rc = NullArgs(errptr, fn, {{value, "value"}, {value_len, "value_len"}})) return rc;
    if (index >= state->entries.size()) {
      return Report(errptr, Status::NotFound(std::string(fn) + ": entry " + std::to_string(index) +
                                             " out of range (" + std::to_string(state->entries.size()) + " keys)"));
    }
    const auto& [k, v] = state->entries[index];
    *key = OrEmpty(*k);
    *key_len = k->size();
    *value = OrEmpty(*v);
    *value_len = v->size();
    return TXJ_OK;
  });
}

int txj_state_encoded(const txj_state_t* state, const void** data, size_t* size, char** errptr) {
  static constexpr const char* fn = "txj_state_encoded";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{state, "state"}, {data, "data"}, {size, "size"}})) return rc;
    *data = OrEmpty(state->r.encoded);
    *size = state->r.encoded.size();
    return TXJ_OK;
  });
}

int txj_state_destroy(txj_state_t* state) {
  delete state;
  return TXJ_OK;
}

// ---- consumer offsets ----

int txj_offset_load(txj_journal_t* journal, const char* consumer, uint64_t* next_offset, char** errptr) {
  static constexpr const char* fn = "txj_offset_load";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {consumer, "consumer"}, {next_offset, "next_offset"}})) {
      return rc;
    }
    if (*consumer == '\0') return Invalid(errptr, fn, "empty consumer name");
    auto store = Offsets(journal);
    if (!store.ok()) return Report(errptr, fn, store.status());
    auto r = (*store)->load(consumer);
    if (!r.ok()) return Report(errptr, fn, r.status());
    *next_offset = *r;
    return TXJ_OK;
  });
}

int txj_offset_save(txj_journal_t* journal, const char* consumer, uint64_t next_offset, char** errptr) {
  static constexpr const char* fn = "txj_offset_save";
  return Guard(errptr, fn, [&]() -> int {
    if (int rc = NullArgs(errptr, fn, {{journal, "journal"}, {consumer, "consumer"}})) return rc;
    if (*consumer == '\0') return Invalid(errptr, fn, "empty consumer name");
    auto store = Offsets(journal);
    if (!store.ok()) return Report(errptr, fn, store.status());
    return Report(errptr, fn, (*store)->save(consumer, next_offset));
  });
}

}  // extern "C"
