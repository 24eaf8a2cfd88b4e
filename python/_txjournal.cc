// The Python binding of txjournal (module txjournal._txjournal).
//
// The pure-Python package txjournal (python/txjournal/__init__.py) re-exports
// what is here and defines the exception hierarchy; this file maps every
// txj::Status that is not OK to one of those exception classes (one per
// txj::Code), which __init__.py hands over through _set_error_classes().
//
// Lifetimes: the C++ API requires transactions, cursors and offset stores to
// go before their Journal. Python frees objects in no fixed order, so every
// such object holds a shared_ptr to the JournalBox that owns the Journal: the
// Journal is destroyed only after the last of them.
//
// Threads: the GIL is released around every call that can block (begin,
// commit and rollback, wait_next, compaction, rebuild, retention, sync,
// close, the offset store's LMDB writes). A transaction tree and a cursor may
// be used by one thread at a time (C++ rule); the binding enforces that with
// a try-lock per tree and per cursor and raises InvalidStateError on
// concurrent use instead of letting two threads into the same tree.
#include <deque>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "txjournal/compactor.h"
#include "txjournal/cursor.h"
#include "txjournal/event.h"
#include "txjournal/journal.h"
#include "txjournal/offset_store.h"
#include "txjournal/options.h"
#include "txjournal/status.h"
#include "txjournal/transaction.h"
#include "txjournal/version.h"

namespace py = pybind11;

namespace {

// ---- errors ----------------------------------------------------------------

// code (int) -> exception class, filled by txjournal/__init__.py.
py::dict& ErrorClasses() {
  static py::dict* classes = new py::dict();  // never freed: outlives the interpreter's teardown order
  return *classes;
}

// Raises the exception class of `st`'s code carrying its message. Needs the GIL.
[[noreturn]] void Raise(const txj::Status& st) {
  py::dict& classes = ErrorClasses();
  py::int_ code(static_cast<int>(st.code()));
  if (classes.contains(code)) {
    py::object cls = classes[code];
    py::object exc = cls(py::str(st.message()));
    PyErr_SetObject(cls.ptr(), exc.ptr());
    throw py::error_already_set();
  }
  throw std::runtime_error(st.ToString());
}

void Check(const txj::Status& st) {
  if (!st.ok()) Raise(st);
}

template <typename T>
T Take(txj::Result<T>&& r) {
  if (!r.ok()) Raise(r.status());
  return std::move(r).value();
}

// ---- bytes-like arguments --------------------------------------------------

// A borrowed view of a str (UTF-8) or a bytes-like object; the owner keeps
// the bytes alive while the view is used (with the GIL held or the object
// referenced).
class BytesArg {
 public:
  BytesArg(const py::handle& obj, const char* what) {
    if (PyUnicode_Check(obj.ptr())) {
      Py_ssize_t n = 0;
      const char* p = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
      if (p == nullptr) throw py::error_already_set();
      view_ = std::string_view(p, static_cast<std::size_t>(n));
      return;
    }
    if (PyBytes_Check(obj.ptr())) {
      view_ = std::string_view(PyBytes_AS_STRING(obj.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(obj.ptr())));
      return;
    }
    if (!PyObject_CheckBuffer(obj.ptr())) {
      throw py::type_error(std::string(what) + " must be bytes, a bytes-like object or str, not " +
                           std::string(py::str(obj.get_type().attr("__name__"))));
    }
    if (PyObject_GetBuffer(obj.ptr(), &buf_, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    has_buf_ = true;
    view_ = std::string_view(static_cast<const char*>(buf_.buf), static_cast<std::size_t>(buf_.len));
  }
  ~BytesArg() {
    if (has_buf_) PyBuffer_Release(&buf_);
  }
  BytesArg(const BytesArg&) = delete;
  BytesArg& operator=(const BytesArg&) = delete;
  std::string_view view() const { return view_; }

 private:
  Py_buffer buf_{};
  bool has_buf_ = false;
  std::string_view view_;
};

std::vector<std::string> StringList(const py::object& obj, const char* what) {
  std::vector<std::string> out;
  if (obj.is_none()) return out;
  if (py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj)) {
    throw py::type_error(std::string(what) + " must be a list of str, not a single string (write [" +
                         std::string(py::repr(obj)) + "])");
  }
  for (py::handle h : obj) {
    if (!py::isinstance<py::str>(h)) {
      throw py::type_error(std::string(what) + " must hold str, not " +
                           std::string(py::str(h.get_type().attr("__name__"))));
    }
    out.push_back(h.cast<std::string>());
  }
  return out;
}

// Seconds (int or float, or None for "no limit") to a nanosecond count;
// negative, NaN or infinite values that mean nothing raise InvalidArgumentError.
std::optional<std::chrono::nanoseconds> Timeout(const py::object& seconds, const char* what) {
  if (seconds.is_none()) return std::nullopt;
  double s = seconds.cast<double>();
  if (std::isnan(s) || s < 0) {
    Raise(txj::Status::InvalidArgument(std::string(what) + " must be >= 0 seconds or None, not " +
                                       std::string(py::repr(seconds))));
  }
  if (std::isinf(s) || s > 1e9) return std::nullopt;  // longer than any run: no limit
  return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
}

// ---- the journal box -------------------------------------------------------

// Owns the Journal; shared by every object that must not outlive it.
// `mu` is taken shared by Journal methods and offset store calls and
// exclusively by close(): the catalog an OffsetStore points at is gone after
// close, so such calls must see `closed` first. It is only ever taken with
// the GIL released (a thread blocked on it must not hold the GIL).
struct JournalBox {
  std::unique_ptr<txj::Journal> journal;
  std::shared_mutex mu;
  bool closed = false;  // guarded by mu
  std::string dir;
};

// Set while this thread runs a commit_with callback, which holds the box lock
// shared and the catalog's LMDB write transaction: journal and offset store
// calls from there would wait for themselves (InvalidStateError instead).
thread_local bool in_commit_with = false;

[[noreturn]] void RaiseInCallback(const std::string& dir) {
  Raise(txj::Status::InvalidState("journal " + dir +
                                  ": inside an OffsetStore.commit_with callback only the KvTxn it was given may "
                                  "be used (the catalog transaction is open)"));
}

// Runs fn(journal) with the GIL released and the box held shared; ClosedError
// after close(). Returns what fn returns (a Status or Result, checked by the
// caller with the GIL held again).
template <typename F>
auto WithJournal(JournalBox& box, F&& fn) -> decltype(fn(*box.journal)) {
  if (in_commit_with) RaiseInCallback(box.dir);
  std::optional<decltype(fn(*box.journal))> out;
  bool closed = false;
  {
    py::gil_scoped_release nogil;
    std::shared_lock lock(box.mu);
    if (box.closed) {
      closed = true;
    } else {
      out.emplace(fn(*box.journal));
    }
  }
  if (closed) Raise(txj::Status::Closed("journal " + box.dir + " is closed"));
  return std::move(*out);
}

// ---- events ----------------------------------------------------------------

// A committed event as Python sees it: a struct sequence (a named tuple made
// in C, as os.stat_result), everything copied out of the mapping when it is
// read (a cursor's views die at its next call, and Python code keeps objects
// as long as it likes). A struct sequence costs a fraction of a pybind11
// instance to make, which is most of what a replay through Python costs.
PyStructSequence_Field kEventFields[] = {
    {"offset", "Dense position in the committed view: 0, 1, 2, ..."},
    {"txn_id", "Top-level transaction that committed it."},
    {"topic", "The event's topic (str)."},
    {"type", "The event's type (str)."},
    {"key", "bytes, or None when the event has no key."},
    {"payload", "The event's bytes."},
    {"timestamp_ns", "Nanoseconds since the Unix epoch."},
    {"lsn", "Byte address of the event's record."},
    {"timestamp", "Seconds since the Unix epoch, as time.time() gives them (float; not part of the tuple)."},
    {nullptr, nullptr},
};
PyStructSequence_Desc kEventDesc = {
    "txjournal.Event",
    "One committed event, copied out of the journal (valid for as long as it is kept). A named tuple: "
    "(offset, txn_id, topic, type, key, payload, timestamp_ns, lsn); timestamp is an attribute only.",
    kEventFields,
    8,
};
PyTypeObject* event_type = nullptr;  // made at import, never freed (as the module's own types)

// Interns topic and type strings per cursor: a replay then creates one str
// per distinct name instead of two per event.
class NameCache {
 public:
  py::str get(std::string_view name) {
    auto it = names_.find(std::string(name));
    if (it != names_.end()) return it->second;
    py::str s(name.data(), name.size());
    if (names_.size() < 4096) names_.emplace(std::string(name), s);
    return s;
  }

 private:
  std::unordered_map<std::string, py::str> names_;
};

py::object ToPy(const txj::Event& e, NameCache& names) {
  PyObject* o = PyStructSequence_New(event_type);
  if (o == nullptr) throw py::error_already_set();
  py::object out = py::reinterpret_steal<py::object>(o);  // frees the items set so far on a throw
  auto set = [o](Py_ssize_t i, PyObject* v) {
    if (v == nullptr) throw py::error_already_set();
    PyStructSequence_SetItem(o, i, v);
  };
  set(0, PyLong_FromUnsignedLongLong(e.offset));
  set(1, PyLong_FromUnsignedLongLong(e.txn_id));
  set(2, names.get(e.topic).release().ptr());
  set(3, names.get(e.type).release().ptr());
  set(4, e.key ? PyBytes_FromStringAndSize(e.key->data(), static_cast<Py_ssize_t>(e.key->size()))
               : py::none().release().ptr());
  set(5, PyBytes_FromStringAndSize(e.payload.data(), static_cast<Py_ssize_t>(e.payload.size())));
  set(6, PyLong_FromUnsignedLongLong(e.timestamp_ns));
  set(7, PyLong_FromUnsignedLongLong(e.lsn));
  set(8, PyFloat_FromDouble(static_cast<double>(e.timestamp_ns) / 1e9));
  return out;
}

// ---- transactions ----------------------------------------------------------

// Shared by every handle of one transaction tree: the C++ rule "a tree is used
// by one thread at a time" becomes a try-lock.
struct TreeGuard {
  std::mutex mu;
};

class PyTransaction {
 public:
  PyTransaction(std::shared_ptr<JournalBox> box, std::shared_ptr<TreeGuard> guard, txj::Transaction tx,
                bool durable)
      : box_(std::move(box)), guard_(std::move(guard)), tx_(std::move(tx)), durable_(durable) {}

  ~PyTransaction() {
    // Rolls back if still open (txj::Transaction's destructor); the tree
    // guard keeps another thread out meanwhile. Another handle of the tree
    // may be busy in a thread that released the GIL: wait without it.
    std::unique_lock lock(guard_->mu, std::try_to_lock);
    if (!lock.owns_lock()) {
      py::gil_scoped_release nogil;
      lock.lock();
    }
    tx_ = txj::Transaction();
  }

  void append(const py::object& topic, const py::object& type, const py::object& payload, const py::object& key,
              std::uint64_t timestamp_ns) {
    if (!py::isinstance<py::str>(topic)) throw py::type_error("topic must be str");
    if (!py::isinstance<py::str>(type)) throw py::type_error("type must be str");
    BytesArg t(topic, "topic");
    BytesArg ty(type, "type");
    BytesArg p(payload, "payload");
    std::optional<BytesArg> k;
    txj::AppendOptions opts;
    if (!key.is_none()) {
      k.emplace(key, "key");
      opts.key = k->view();
    }
    opts.timestamp_ns = timestamp_ns;
    std::unique_lock lock(guard_->mu, std::try_to_lock);
    if (!lock.owns_lock()) Busy();
    Check(tx_.append(t.view(), ty.view(), p.view(), opts));
  }

  // events: an iterable of (topic, type, payload) or (topic, type, payload, key).
  void append_batch(const py::iterable& events) {
    std::deque<BytesArg> held;  // keeps every buffer alive until the call returns
    std::vector<txj::NewEvent> batch;
    std::size_t i = 0;
    for (const py::handle item : events) {
      if (!py::isinstance<py::tuple>(item)) {
        throw py::type_error("event " + std::to_string(i) + " of the batch must be a tuple (topic, type, payload[, key])");
      }
      const auto t = py::reinterpret_borrow<py::tuple>(item);
      if (t.size() != 3 && t.size() != 4) {
        throw py::type_error("event " + std::to_string(i) + " of the batch has " + std::to_string(t.size()) +
                             " items; expected (topic, type, payload[, key])");
      }
      if (!py::isinstance<py::str>(t[0]) || !py::isinstance<py::str>(t[1])) {
        throw py::type_error("event " + std::to_string(i) + " of the batch: topic and type must be str");
      }
      txj::NewEvent e;
      e.topic = held.emplace_back(t[0], "topic").view();
      e.type = held.emplace_back(t[1], "type").view();
      e.payload = held.emplace_back(t[2], "payload").view();
      if (t.size() == 4 && !t[3].is_none()) e.options.key = held.emplace_back(t[3], "key").view();
      batch.push_back(e);
      ++i;
    }
    std::unique_lock lock(guard_->mu, std::try_to_lock);
    if (!lock.owns_lock()) Busy();
    Check(tx_.append_batch(batch));
  }

  std::unique_ptr<PyTransaction> begin() {
    txj::Result<txj::Transaction> sub = txj::Status::OK();
    {
      std::unique_lock lock(guard_->mu, std::try_to_lock);
      if (!lock.owns_lock()) Busy();
      py::gil_scoped_release nogil;  // writes a begin marker
      sub = tx_.begin();
    }
    return std::make_unique<PyTransaction>(box_, guard_, Take(std::move(sub)), durable_);
  }

  txj::CommitInfo commit() {
    txj::Result<txj::CommitInfo> r = txj::Status::OK();
    {
      std::unique_lock lock(guard_->mu, std::try_to_lock);
      if (!lock.owns_lock()) Busy();
      if (durable_ && tx_.is_top_level()) {
        py::gil_scoped_release nogil;  // fdatasync under Durability::kCommit
        r = tx_.commit();
      } else {
        r = tx_.commit();
      }
    }
    info_ = Take(std::move(r));
    state_ = "committed";
    return *info_;
  }

  void rollback() {
    txj::Status st;
    {
      std::unique_lock lock(guard_->mu, std::try_to_lock);
      if (!lock.owns_lock()) Busy();
      py::gil_scoped_release nogil;
      st = tx_.rollback();
    }
    Check(st);
    state_ = "rolled back";
  }

  // Rolls this level back together with every open descendant (what the
  // C++ destructor does; rollback() refuses while a child is open). For the
  // context manager's exit on an error.
  void discard() {
    if (!tx_.is_open()) return;
    {
      std::unique_lock lock(guard_->mu, std::try_to_lock);
      if (!lock.owns_lock()) Busy();
      py::gil_scoped_release nogil;
      tx_ = txj::Transaction();
    }
    state_ = "rolled back";
  }

  bool is_open() const { return tx_.is_open(); }
  bool is_top_level() const { return tx_.is_top_level(); }
  std::uint64_t id() const { return tx_.id(); }
  std::uint32_t sub_id() const { return tx_.sub_id(); }
  std::uint32_t depth() const { return tx_.depth(); }
  std::string state() const { return tx_.is_open() ? "open" : state_; }
  std::optional<txj::CommitInfo> commit_info() const { return info_; }

 private:
  [[noreturn]] static void Busy() {
    Raise(txj::Status::InvalidState(
        "the transaction tree is in use by another thread (a transaction tree is used by one thread at a time)"));
  }

  std::shared_ptr<JournalBox> box_;
  std::shared_ptr<TreeGuard> guard_;
  txj::Transaction tx_;
  bool durable_;
  std::string state_ = "rolled back";  // what an ended handle was, when not committed here
  std::optional<txj::CommitInfo> info_;
};

// ---- cursors ---------------------------------------------------------------

class PyCursor {
 public:
  PyCursor(std::shared_ptr<JournalBox> box, txj::Cursor c) : box_(std::move(box)), cursor_(std::move(c)) {}

  ~PyCursor() {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) {
      py::gil_scoped_release nogil;
      lock.lock();
    }
    cursor_ = txj::Cursor();
  }

  py::object next() {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) Busy();
    auto r = cursor_.next();
    if (!r.ok()) Raise(r.status());
    if (!r->has_value()) return py::none();
    return ToPy(**r, names_);
  }

  py::object iter_next() {
    py::object e = next();
    if (e.is_none()) throw py::stop_iteration();
    return e;
  }

  // Waits in slices so that Ctrl-C (a signal handled by Python) ends the wait.
  py::object wait_next(const py::object& timeout) {
    std::optional<std::chrono::nanoseconds> limit = Timeout(timeout, "timeout");
    const auto start = std::chrono::steady_clock::now();
    const auto end = limit ? start + *limit : std::chrono::steady_clock::time_point::max();
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) Busy();
    for (;;) {
      auto slice_end = std::min(end, std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
      std::optional<txj::Result<txj::Event>> r;
      {
        py::gil_scoped_release nogil;
        r.emplace(cursor_.wait_next(slice_end));
      }
      if (r->ok()) return ToPy(**r, names_);
      if (!r->status().IsTimedOut()) Raise(r->status());
      if (std::chrono::steady_clock::now() >= end) return py::none();
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    }
  }

  py::list read_batch(std::size_t max) {
    if (max == 0) Raise(txj::Status::InvalidArgument("read_batch: max must be at least 1"));
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) Busy();
    batch_.resize(std::min<std::size_t>(max, 65536));
    auto n = cursor_.next_batch(batch_);
    if (!n.ok()) Raise(n.status());
    py::list out(*n);
    for (std::size_t i = 0; i < *n; ++i) PyList_SET_ITEM(out.ptr(), i, ToPy(batch_[i], names_).release().ptr());
    return out;
  }

  std::uint64_t position() {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) Busy();
    return cursor_.position();
  }

  void close() {
    // Thread-safe in C++ and wakes a waiting wait_next: no try-lock here.
    txj::Status st = cursor_.close();
    if (!st.ok() && !st.IsClosed()) Raise(st);
  }

 private:
  [[noreturn]] static void Busy() {
    Raise(txj::Status::InvalidState("the cursor is in use by another thread (one thread at a time reads a cursor)"));
  }

  std::shared_ptr<JournalBox> box_;
  txj::Cursor cursor_;
  std::mutex mu_;
  NameCache names_;
  std::vector<txj::Event> batch_;
};

// ---- offset store ----------------------------------------------------------

// Valid only inside the callback of OffsetStore.commit_with.
class PyKvTxn {
 public:
  explicit PyKvTxn(txj::KvTxn* t) : t_(t) {}
  void put(const std::string& table, const py::object& key, const py::object& value) {
    BytesArg k(key, "key"), v(value, "value");
    Check(live().put(table, k.view(), v.view()));
  }
  py::object get(const std::string& table, const py::object& key) {
    BytesArg k(key, "key");
    auto r = Take(live().get(table, k.view()));
    if (!r) return py::none();
    return py::bytes(*r);
  }
  void del(const std::string& table, const py::object& key) {
    BytesArg k(key, "key");
    Check(live().del(table, k.view()));
  }
  void end() { t_ = nullptr; }

 private:
  txj::KvTxn& live() {
    if (t_ == nullptr) {
      Raise(txj::Status::InvalidState("a KvTxn is valid only inside the commit_with callback it was given to"));
    }
    return *t_;
  }
  txj::KvTxn* t_;
};

class PyOffsetStore {
 public:
  PyOffsetStore(std::shared_ptr<JournalBox> box, std::unique_ptr<txj::OffsetStore> store)
      : box_(std::move(box)), store_(std::move(store)) {}

  std::uint64_t load(const std::string& consumer) {
    return Take(Locked([&] { return store_->load(consumer); }));
  }
  void save(const std::string& consumer, std::uint64_t next_offset) {
    Check(Locked([&] { return store_->save(consumer, next_offset); }));
  }
  py::object get(const std::string& table, const py::object& key) {
    std::string k(BytesArg(key, "key").view());
    auto r = Take(Locked([&] { return store_->get(table, k); }));
    if (!r) return py::none();
    return py::bytes(*r);
  }
  // Runs fn(kv) and saves next_offset in one LMDB transaction; an exception
  // from fn aborts both and propagates.
  void commit_with(const std::string& consumer, std::uint64_t next_offset, const py::function& fn) {
    std::optional<py::error_already_set> raised;
    txj::Status st = Locked([&] {
      return store_->commit_with(consumer, next_offset, [&](txj::KvTxn& t) -> txj::Status {
        py::gil_scoped_acquire gil;
        auto kv = std::make_shared<PyKvTxn>(&t);
        txj::Status out;
        in_commit_with = true;
        try {
          fn(kv);
        } catch (py::error_already_set& e) {
          raised.emplace(std::move(e));
          out = txj::Status::Cancelled("the commit_with callback raised");
        }
        in_commit_with = false;
        kv->end();
        return out;
      });
    });
    if (raised) throw std::move(*raised);
    Check(st);
  }

 private:
  template <typename F>
  auto Locked(F&& fn) -> decltype(fn()) {
    if (in_commit_with) RaiseInCallback(box_->dir);
    std::optional<decltype(fn())> out;
    bool closed = false;
    {
      py::gil_scoped_release nogil;
      std::shared_lock lock(box_->mu);
      if (box_->closed) {
        closed = true;
      } else {
        out.emplace(fn());
      }
    }
    if (closed) Raise(txj::Status::Closed("journal " + box_->dir + " is closed (offset store)"));
    return std::move(*out);
  }

  std::shared_ptr<JournalBox> box_;
  std::unique_ptr<txj::OffsetStore> store_;
};

// ---- journal ---------------------------------------------------------------

struct PyLatestByKey {
  std::string tombstone;
  std::shared_ptr<txj::LatestByKeyCompactor> compactor;
};

struct PyRebuilt {
  py::bytes encoded;
  std::string state_hash;
  std::uint64_t next_offset = 0;
  std::uint64_t from_snapshot = 0;
  std::uint64_t events_applied = 0;
  py::object values;  // dict[bytes, bytes] for latest-by-key, else None
};

class PyJournal {
 public:
  explicit PyJournal(std::shared_ptr<JournalBox> box) : box_(std::move(box)) {}

  std::unique_ptr<PyTransaction> begin(const py::object& timeout, bool wait) {
    std::optional<std::chrono::nanoseconds> t = Timeout(timeout, "timeout");
    // Not under the box lock: begin() may wait for another thread's
    // transaction, and that thread may call close() meanwhile (which must
    // then fail with InvalidStateError, not wait for this begin). The C++
    // journal answers kClosed itself once closed.
    txj::Result<txj::Transaction> tx = txj::Status::OK();
    txj::Journal& j = *box_->journal;
    if (wait && !t) {
      // Without a limit: wait in slices so that Ctrl-C ends the wait.
      for (;;) {
        {
          py::gil_scoped_release nogil;
          tx = j.begin_for(std::chrono::milliseconds(200));
        }
        if (tx.ok() || !tx.status().IsTimedOut()) break;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      }
    } else {
      py::gil_scoped_release nogil;
      tx = !wait ? j.try_begin() : j.begin_for(*t);
    }
    bool durable = box_->journal->options().durability == txj::Durability::kCommit;
    return std::make_unique<PyTransaction>(box_, std::make_shared<TreeGuard>(), Take(std::move(tx)), durable);
  }

  std::unique_ptr<PyCursor> cursor(std::uint64_t offset, const py::object& topics, const py::object& types) {
    txj::Filter f;
    if (topics.is_none() && types.is_none()) {
      f = txj::Filter::all();
    } else {
      f.topics = StringList(topics, "topics");
      f.types = StringList(types, "types");
    }
    auto c = Take(WithJournal(*box_, [&](txj::Journal& j) { return j.open_cursor(offset, f); }));
    return std::make_unique<PyCursor>(box_, std::move(c));
  }

  void register_compactor(const std::string& topic, const PyLatestByKey& c, std::uint64_t every_events,
                          std::uint64_t every_bytes) {
    Check(WithJournal(*box_, [&](txj::Journal& j) {
      return j.register_compactor(topic, c.compactor, txj::CompactionPolicy{every_events, every_bytes});
    }));
  }

  txj::SnapshotInfo compact(const std::string& topic) {
    return Take(WithJournal(*box_, [&](txj::Journal& j) { return j.compact(topic); }));
  }

  PyRebuilt rebuild(const std::string& topic, const py::object& compactor) {
    std::shared_ptr<txj::LatestByKeyCompactor> c;
    if (!compactor.is_none()) c = compactor.cast<const PyLatestByKey&>().compactor;
    auto r = Take(WithJournal(*box_, [&](txj::Journal& j) { return c ? j.rebuild(topic, *c) : j.rebuild(topic); }));
    PyRebuilt out;
    out.encoded = py::bytes(r.encoded);
    out.state_hash = r.state_hash;
    out.next_offset = r.next_offset;
    out.from_snapshot = r.from_snapshot;
    out.events_applied = r.events_applied;
    out.values = py::none();
    if (auto* m = dynamic_cast<const txj::LatestByKeyCompactor::Map*>(r.state.get())) {
      py::dict d;
      for (const auto& [k, v] : m->values) d[py::bytes(k)] = py::bytes(v);
      out.values = d;
    }
    return out;
  }

  void apply_retention(std::uint64_t min_offset) {
    Check(WithJournal(*box_, [&](txj::Journal& j) { return j.apply_retention(min_offset); }));
  }
  std::vector<txj::TopicInfo> topics() {
    return Take(WithJournal(*box_, [&](txj::Journal& j) { return j.topics(); }));
  }
  std::vector<txj::SnapshotInfo> snapshots(const std::string& topic) {
    return Take(WithJournal(*box_, [&](txj::Journal& j) { return j.snapshots(topic); }));
  }
  void sync() {
    Check(WithJournal(*box_, [&](txj::Journal& j) { return j.sync(); }));
  }
  std::unique_ptr<PyOffsetStore> offset_store() {
    auto s = Take(WithJournal(*box_, [&](txj::Journal& j) { return txj::OffsetStore::open(j); }));
    return std::make_unique<PyOffsetStore>(box_, std::move(s));
  }

  void close() {
    if (in_commit_with) RaiseInCallback(box_->dir);
    txj::Status st;
    {
      py::gil_scoped_release nogil;
      std::unique_lock lock(box_->mu);
      if (box_->closed) return;
      st = box_->journal->close();
      if (st.ok()) box_->closed = true;
    }
    Check(st);
  }

  bool closed() {
    py::gil_scoped_release nogil;
    std::shared_lock lock(box_->mu);
    return box_->closed;
  }

  txj::Journal& j() { return *box_->journal; }

 private:
  std::shared_ptr<JournalBox> box_;
};

txj::Durability ParseDurability(const std::string& s) {
  if (s == "commit") return txj::Durability::kCommit;
  if (s == "none") return txj::Durability::kNone;
  if (s == "periodic") return txj::Durability::kPeriodic;
  Raise(txj::Status::InvalidArgument("option durability: '" + s + "' is not one of 'commit', 'none', 'periodic'"));
}

std::string DurabilityName(txj::Durability d) {
  switch (d) {
    case txj::Durability::kCommit: return "commit";
    case txj::Durability::kNone: return "none";
    case txj::Durability::kPeriodic: return "periodic";
  }
  return "unknown";
}

std::chrono::milliseconds Millis(const py::object& seconds, const char* what, std::chrono::milliseconds dflt) {
  if (seconds.is_none()) return dflt;
  double s = seconds.cast<double>();
  if (!(s > 0) || std::isinf(s) || s > 1e9) {
    Raise(txj::Status::InvalidArgument(std::string("option ") + what + ": must be a positive number of seconds, not " +
                                       std::string(py::repr(seconds))));
  }
  auto ms = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(s * 1000)));
  // Below a millisecond: round up to the smallest interval the journal takes.
  return ms.count() == 0 ? std::chrono::milliseconds(1) : ms;
}

std::unique_ptr<PyJournal> Open(const py::object& path, const std::string& durability, const py::object& segment_size,
                                bool read_only, bool create, bool error_if_exists, const py::object& sync_interval,
                                bool pad_commits_to_page, unsigned file_mode,
                                const std::optional<std::map<std::string, std::vector<std::string>>>& schema,
                                bool rebuild_catalog, const py::object& poll_interval, std::size_t recycled_segments,
                                bool huge_pages) {
  std::string dir = py::str(py::module_::import("os").attr("fsdecode")(path));  // str, bytes or PathLike
  txj::Options o;
  o.durability = ParseDurability(durability);
  if (!segment_size.is_none()) {
    if (!py::isinstance<py::int_>(segment_size)) throw py::type_error("segment_size must be an int (bytes)");
    py::int_ n = segment_size.cast<py::int_>();
    if (n < py::int_(0)) {
      Raise(txj::Status::InvalidArgument("option segment_size: " + std::string(py::repr(segment_size)) +
                                         " is negative"));
    }
    o.segment_size = n.cast<std::uint64_t>();
  }
  o.read_only = read_only;
  o.create_if_missing = create;
  o.error_if_exists = error_if_exists;
  o.sync_interval = Millis(sync_interval, "sync_interval", o.sync_interval);
  o.poll_interval = Millis(poll_interval, "poll_interval", o.poll_interval);
  o.pad_commits_to_page = pad_commits_to_page;
  o.file_mode = static_cast<mode_t>(file_mode);
  if (schema) o.schema = *schema;
  o.rebuild_catalog = rebuild_catalog;
  o.recycled_segments = recycled_segments;
  o.huge_pages = huge_pages;
  txj::Result<std::unique_ptr<txj::Journal>> r = txj::Status::OK();
  {
    py::gil_scoped_release nogil;  // recovery reads the tail, may wait for nothing else
    r = txj::Journal::open(dir, o);
  }
  auto box = std::make_shared<JournalBox>();
  box->journal = Take(std::move(r));
  box->dir = dir;
  return std::make_unique<PyJournal>(std::move(box));
}

// tp_iternext of Cursor: the same as Cursor.__next__ without pybind11's
// generic call dispatch, which is most of what `for ev in cursor` costs per
// event beyond making the Event.
PyObject* CursorIterNext(PyObject* self) {
  try {
    py::object e = py::cast<PyCursor*>(py::handle(self))->next();
    if (e.is_none()) return nullptr;  // the end: StopIteration without an exception object
    return e.release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

}  // namespace

PYBIND11_MODULE(_txjournal, m) {
  m.doc() = "C++ core of the txjournal package (use the txjournal package, not this module).";

  m.def("_set_error_classes", [](const py::dict& d) {
    ErrorClasses().clear();
    for (auto [k, v] : d) ErrorClasses()[k] = v;
  });
  m.def("_code_names", [] {
    py::dict d;
    for (int c = 1; c <= 255; ++c) {
      std::string_view n = txj::CodeName(static_cast<txj::Code>(c));
      if (n == "unknown") break;
      d[py::int_(c)] = py::str(n.data(), n.size());
    }
    return d;
  });
  m.attr("__version__") = txj::kVersionString;
  m.attr("FORMAT_VERSION") = txj::kFormatVersion;
  m.def("state_hash", [](const py::object& data) { return txj::StateHash(BytesArg(data, "data").view()); },
        py::arg("data"), "XXH3-128 of `data` as 32 hex digits: the hash rebuild() and snapshots report.");

  py::class_<txj::CommitInfo>(m, "CommitInfo", "What a commit returned: ids, offsets, count and LSN.")
      .def_readonly("txn_id", &txj::CommitInfo::txn_id, "Top-level transaction id.")
      .def_readonly("sub_id", &txj::CommitInfo::sub_id, "Sub-transaction id inside txn_id; 0 for a top level.")
      .def_readonly("first_offset", &txj::CommitInfo::first_offset,
                    "Top level: offset of the first committed event (with count 0, the next offset). "
                    "Sub-transaction: 0 (not known yet).")
      .def_readonly("count", &txj::CommitInfo::count,
                    "Events committed (for a sub-transaction: handed to its parent).")
      .def_readonly("lsn", &txj::CommitInfo::lsn, "LSN just past the commit marker.")
      .def("__repr__", [](const txj::CommitInfo& c) {
        return "CommitInfo(txn_id=" + std::to_string(c.txn_id) + ", sub_id=" + std::to_string(c.sub_id) +
               ", first_offset=" + std::to_string(c.first_offset) + ", count=" + std::to_string(c.count) +
               ", lsn=" + std::to_string(c.lsn) + ")";
      });

  event_type = PyStructSequence_NewType(&kEventDesc);
  if (event_type == nullptr) throw py::error_already_set();
  m.attr("Event") = py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(event_type));

  py::class_<txj::SnapshotInfo>(m, "SnapshotInfo", "A stored snapshot of one topic.")
      .def_readonly("topic", &txj::SnapshotInfo::topic)
      .def_readonly("compactor", &txj::SnapshotInfo::compactor)
      .def_readonly("compactor_version", &txj::SnapshotInfo::compactor_version)
      .def_readonly("covered_offset", &txj::SnapshotInfo::covered_offset,
                    "Events of the topic below this offset are folded in.")
      .def_readonly("events_folded", &txj::SnapshotInfo::events_folded)
      .def_readonly("state_hash", &txj::SnapshotInfo::state_hash, "XXH3-128 of the encoded state, 32 hex digits.")
      .def_readonly("size", &txj::SnapshotInfo::size)
      .def_readonly("file", &txj::SnapshotInfo::file)
      .def("__repr__", [](const txj::SnapshotInfo& s) {
        return "SnapshotInfo(topic='" + s.topic + "', covered_offset=" + std::to_string(s.covered_offset) +
               ", events_folded=" + std::to_string(s.events_folded) + ", state_hash='" + s.state_hash + "')";
      });

  py::class_<txj::TopicInfo>(m, "TopicInfo", "A topic with its counts, from the catalog.")
      .def_readonly("name", &txj::TopicInfo::name)
      .def_readonly("events", &txj::TopicInfo::events)
      .def_readonly("bytes", &txj::TopicInfo::bytes)
      .def_readonly("first_offset", &txj::TopicInfo::first_offset)
      .def_readonly("last_offset", &txj::TopicInfo::last_offset)
      .def("__repr__", [](const txj::TopicInfo& t) {
        return "TopicInfo(name='" + t.name + "', events=" + std::to_string(t.events) + ")";
      });

  py::class_<PyRebuilt>(m, "RebuiltState", "A topic's state: newest snapshot plus the events after it.")
      .def_readonly("encoded", &PyRebuilt::encoded, "The compactor's encoding of the state.")
      .def_readonly("state_hash", &PyRebuilt::state_hash, "XXH3-128 of `encoded`, 32 hex digits.")
      .def_readonly("next_offset", &PyRebuilt::next_offset)
      .def_readonly("from_snapshot", &PyRebuilt::from_snapshot)
      .def_readonly("events_applied", &PyRebuilt::events_applied)
      .def_readonly("values", &PyRebuilt::values, "dict[bytes, bytes] key -> payload for latest-by-key, else None.");

  py::class_<txj::RecoveryReport::Repair>(m, "Repair")
      .def_readonly("file", &txj::RecoveryReport::Repair::file)
      .def_readonly("file_offset", &txj::RecoveryReport::Repair::file_offset)
      .def_readonly("lsn", &txj::RecoveryReport::Repair::lsn)
      .def_readonly("bytes_dropped", &txj::RecoveryReport::Repair::bytes_dropped)
      .def_readonly("reason", &txj::RecoveryReport::Repair::reason);
  py::class_<txj::RecoveryReport>(m, "RecoveryReport", "What opening the journal found and repaired.")
      .def_readonly("created", &txj::RecoveryReport::created)
      .def_readonly("scanned_bytes", &txj::RecoveryReport::scanned_bytes)
      .def_readonly("end_lsn", &txj::RecoveryReport::end_lsn)
      .def_readonly("next_offset", &txj::RecoveryReport::next_offset)
      .def_readonly("next_txn_id", &txj::RecoveryReport::next_txn_id)
      .def_readonly("catalog_rebuilt", &txj::RecoveryReport::catalog_rebuilt)
      .def_readonly("repairs", &txj::RecoveryReport::repairs)
      .def_readonly("notes", &txj::RecoveryReport::notes)
      .def("__str__", &txj::RecoveryReport::ToString);

  py::class_<PyLatestByKey>(m, "LatestByKey",
                            "The built-in compactor: the last event of each key wins; an event of the tombstone "
                            "type deletes its key; events without a key are an error.")
      .def(py::init([](const std::string& tombstone) {
             return PyLatestByKey{tombstone, std::make_shared<txj::LatestByKeyCompactor>(tombstone)};
           }),
           py::arg("tombstone") = "tombstone")
      .def_readonly("tombstone", &PyLatestByKey::tombstone)
      .def("__repr__", [](const PyLatestByKey& c) { return "LatestByKey(tombstone='" + c.tombstone + "')"; });

  py::class_<PyKvTxn, std::shared_ptr<PyKvTxn>>(m, "KvTxn",
                                                "A catalog write transaction, valid inside commit_with's callback.")
      .def("put", &PyKvTxn::put, py::arg("table"), py::arg("key"), py::arg("value"))
      .def("get", &PyKvTxn::get, py::arg("table"), py::arg("key"))
      .def("delete", &PyKvTxn::del, py::arg("table"), py::arg("key"));

  py::class_<PyOffsetStore>(m, "OffsetStore", "Named consumers' next offsets, durable in the journal's catalog.")
      .def("load", &PyOffsetStore::load, py::arg("consumer"), "The consumer's next offset; 0 when it has none.")
      .def("save", &PyOffsetStore::save, py::arg("consumer"), py::arg("next_offset"))
      .def("get", &PyOffsetStore::get, py::arg("table"), py::arg("key"))
      .def("commit_with", &PyOffsetStore::commit_with, py::arg("consumer"), py::arg("next_offset"), py::arg("fn"));

  py::class_<PyTransaction>(m, "Transaction")
      .def("append", &PyTransaction::append, py::arg("topic"), py::arg("type"), py::arg("payload"), py::kw_only(),
           py::arg("key") = py::none(), py::arg("timestamp_ns") = 0,
           "Appends one event. payload and key: bytes-like or str (UTF-8). timestamp_ns 0: the transaction's "
           "time. Raises InvalidArgumentError (empty or invalid topic or type, a field over its limit), "
           "InvalidStateError (ended, or a child is open), IoError / NoSpaceError / FailedError.")
      .def("append_batch", &PyTransaction::append_batch, py::arg("events"),
           "Appends many events in one call: an iterable of (topic, type, payload) or (topic, type, payload, key) "
           "tuples. Every event is checked first: when one is invalid (InvalidArgumentError naming its index) "
           "none of them is appended. Much cheaper per event than append() for bulk writes.")
      .def("begin", &PyTransaction::begin,
           "Opens a sub-transaction nested in this one (any depth). Its events join this transaction when it "
           "commits; rolling it back discards them and those of its descendants.")
      .def("commit", &PyTransaction::commit,
           "Ends this transaction and returns its CommitInfo. A top level is as durable as the journal's "
           "durability promises when this returns (the GIL is released while it syncs). Raises "
           "InvalidStateError (ended, or a child is open), IoError, NoSpaceError, FailedError.")
      .def("rollback", &PyTransaction::rollback,
           "Discards this transaction and its committed descendants. Raises InvalidStateError when it has "
           "ended or a child is still open (end the child first; leaving a with block rolls back both).")
      .def("_discard", &PyTransaction::discard,
           "Rolls back this level and every open descendant (what leaving a with block on an error does).")
      .def_property_readonly("is_open", &PyTransaction::is_open)
      .def_property_readonly("is_top_level", &PyTransaction::is_top_level)
      .def_property_readonly("id", &PyTransaction::id)
      .def_property_readonly("sub_id", &PyTransaction::sub_id)
      .def_property_readonly("depth", &PyTransaction::depth)
      .def_property_readonly("state", &PyTransaction::state)
      .def_property_readonly("commit_info", &PyTransaction::commit_info);

  py::class_<PyCursor> cursor_class(m, "Cursor");
  cursor_class
      .def("next", &PyCursor::next,
           "The next matching committed event, or None at the end of what is committed now. Raises "
           "ClosedError, TruncatedError (history dropped), CorruptionError (names file and byte offset).")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &PyCursor::iter_next)
      .def("wait_next", &PyCursor::wait_next, py::arg("timeout") = py::none(),
           "Like next(), but at the end waits (GIL released) until a matching event is committed, in this "
           "process or another. timeout: seconds, None waits without limit. Returns None when the timeout "
           "passes. Ctrl-C interrupts the wait. Raises ClosedError when the cursor is closed meanwhile.")
      .def("read_batch", &PyCursor::read_batch, py::arg("max") = 1024,
           "Up to max matching committed events as a list ([] at the end): the fast way to replay.")
      .def_property_readonly("position", &PyCursor::position, "Offset the next returned event will have at least.")
      .def("close", &PyCursor::close, "Closes the cursor (from any thread; ends a waiting wait_next). Idempotent.");
  // After every def: setting __next__ on the type would reset the slot.
  reinterpret_cast<PyTypeObject*>(cursor_class.ptr())->tp_iternext = CursorIterNext;

  py::class_<PyJournal>(m, "Journal")
      .def("begin", &PyJournal::begin, py::kw_only(), py::arg("timeout") = py::none(), py::arg("wait") = true,
           "Opens the top-level write transaction, waiting (GIL released) while another thread's is open. "
           "wait=False: BusyError at once instead; timeout (seconds): TimedOutError after it. Raises "
           "InvalidStateError when this thread holds the open transaction already or the journal is "
           "read-only, ClosedError, FailedError.")
      .def("cursor", &PyJournal::cursor, py::arg("offset") = 0, py::kw_only(), py::arg("topics") = py::none(),
           py::arg("types") = py::none(),
           "A cursor over committed events from offset, of any of the given topics and any of the given types "
           "(None: any). Raises TruncatedError (offset dropped), InvalidArgumentError (topics=[] and no "
           "types: a filter matching nothing; a name the schema rules out), ClosedError.")
      .def("register_compactor", &PyJournal::register_compactor, py::arg("topic"), py::arg("compactor"),
           py::kw_only(), py::arg("every_events") = 0, py::arg("every_bytes") = 0,
           "Registers the topic's compactor (LatestByKey). every_events / every_bytes: compact by itself in "
           "the background after that many new events or payload bytes of the topic (0: never).")
      .def("compact", &PyJournal::compact, py::arg("topic"),
           "Folds the topic's committed events into a durable snapshot, then drops the history it covers "
           "(other topics keep their events and offsets). GIL released. Returns SnapshotInfo. Raises "
           "NotFoundError (no compactor registered), InvalidStateError (read-only), CorruptionError.")
      .def("rebuild", &PyJournal::rebuild, py::arg("topic"), py::kw_only(), py::arg("compactor") = py::none(),
           "The topic's state: newest snapshot plus the events after it, equal byte for byte (same state_hash) "
           "to a fold over the full history. compactor: use this one instead of the registered one. "
           "Raises NotFoundError, CorruptionError, InvalidArgumentError (an event the compactor refuses).")
      .def("apply_retention", &PyJournal::apply_retention, py::arg("min_offset"),
           "Drops every event below min_offset, whatever its topic. Raises InvalidArgumentError (past the "
           "committed end), InvalidStateError (read-only).")
      .def("topics", &PyJournal::topics, "The journal's topics with their counts (list of TopicInfo).")
      .def("snapshots", &PyJournal::snapshots, py::arg("topic") = "",
           "Stored snapshots of topic (every topic when empty), newest first.")
      .def("sync", &PyJournal::sync, "Makes everything written so far durable, whatever the durability mode.")
      .def("offset_store", &PyJournal::offset_store,
           "The durable store of named consumers' offsets (in the catalog). Raises InvalidStateError on a "
           "read-only journal.")
      .def("close", &PyJournal::close,
           "Syncs, seals and releases the journal. Raises InvalidStateError while a transaction is open. "
           "Idempotent; afterwards calls raise ClosedError.")
      .def_property_readonly("closed", &PyJournal::closed)
      .def_property_readonly("next_offset", [](PyJournal& p) { return p.j().next_offset(); })
      .def_property_readonly("first_offset", [](PyJournal& p) { return p.j().first_offset(); })
      .def_property_readonly("visible_lsn", [](PyJournal& p) { return p.j().visible_lsn(); })
      .def_property_readonly("dir", [](PyJournal& p) { return p.j().dir(); })
      .def_property_readonly("identity", [](PyJournal& p) { return p.j().identity(); })
      .def_property_readonly("durability", [](PyJournal& p) { return DurabilityName(p.j().options().durability); })
      .def_property_readonly("read_only", [](PyJournal& p) { return p.j().options().read_only; })
      .def_property_readonly("recovery_report", [](PyJournal& p) { return p.j().recovery_report(); });

  m.def("open", &Open, py::arg("path"), py::kw_only(), py::arg("durability") = "commit",
        py::arg("segment_size") = py::none(), py::arg("read_only") = false, py::arg("create") = true,
        py::arg("error_if_exists") = false, py::arg("sync_interval") = py::none(),
        py::arg("pad_commits_to_page") = true, py::arg("file_mode") = 0600, py::arg("schema") = py::none(),
        py::arg("rebuild_catalog") = false, py::arg("poll_interval") = py::none(), py::arg("recycled_segments") = 2,
        py::arg("huge_pages") = true);
}
