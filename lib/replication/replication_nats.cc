// Replication through NATS JetStream (built when libnats is found).
//
// Messages are in format 2 (replication_format.h, docs/format.md): two
// headers (Nats-Msg-Id, Nats-Expected-Last-Sequence) and txjournal's fields
// in a binary prefix of the body, so that neither side pays the NATS
// client's per-header allocations (format 1 had eleven headers: about 44
// allocations a message on each side). Format 1 is refused, naming the
// stream and sequence.
//
// The replicator publishes asynchronously, in a bounded window of
// unacknowledged messages. Each message carries the stream sequence it must
// follow (Nats-Expected-Last-Sequence), so the stream can never hold a gap:
// when one message fails, every later one in flight fails too (or is a
// duplicate). Messages carry no acknowledgement timeout of their own (the
// client's per-message timeout tracking cost a quarter of the replicator's
// CPU per message); instead, messages in flight and no acknowledgement for
// a request timeout is a failure. On any failure it waits for what is in
// flight, reads the stream's tail (the source of truth for where replication
// stands) and goes on from there. Its position in the catalog (when the journal is writable)
// is only a floor, saved every kSaveEvery by a thread of its own: the
// publishing thread never waits for the catalog (an LMDB commit with its
// sync each time).
//
// The mirror reads the stream through an ordered consumer (pushed by the
// server while the mirror applies the previous batch) and applies batches of
// up to kMirrorBatch messages: one sync of the mirror journal and one saved
// position per batch. While it follows an idle stream it asks the server
// about its consumer every 2 s or so, and makes a new one when the old one
// is gone or sends what it delivers nowhere (NatsMirror::Probe).
#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "hex.h"
#include "journal_door.h"
#include "replication_format.h"
#include "txjournal/journal.h"
#include "txjournal/offset_store.h"
#include "txjournal/replication.h"
#include "user_tables.h"

namespace txj {

namespace {

constexpr auto kSaveEvery = std::chrono::milliseconds(500);
constexpr int kMirrorBatch = 256;
// A following mirror whose consumer has delivered nothing for this many
// 100 ms polls asks the server about the consumer (NatsMirror::Probe).
constexpr int kProbeIdlePolls = 20;

Status Nats(natsStatus s, const std::string& what, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  if (s == NATS_OK) return Status::OK();
  std::string msg = what + ": " + natsStatus_GetText(s);
  if (jerr != 0) msg += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last && *last) msg += " - " + std::string(last);
  if (s == NATS_TIMEOUT) return Status::TimedOut(msg);
  return Status::IOError(msg);
}

struct Tail {
  std::uint64_t last_seq = 0;  // the stream's last sequence (0 when never written)
  std::uint64_t msgs = 0;      // messages it holds
};

// A connection and JetStream context, re-made after failures.
struct Link {
  ReplicationOptions o;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  // Asynchronous publishing (the replicator): window and acknowledgement callback.
  std::int64_t max_pending = 0;
  jsPubAckHandler ack_handler = nullptr;
  void* ack_closure = nullptr;

  ~Link() { Drop(); }
  void Drop() {
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
    js = nullptr;
    nc = nullptr;
  }
  bool Connected() const { return nc && js && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED; }
  Status Connect() {
    if (Connected()) return Status::OK();
    Drop();
    natsOptions* opts = nullptr;
    TXJ_RETURN_IF_ERROR(Nats(natsOptions_Create(&opts), "nats options"));
    std::vector<const char*> urls;
    for (const auto& s : o.servers) urls.push_back(s.c_str());
    natsStatus s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, o.retry_wait.count());
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, o.request_timeout.count());
    if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
      nc = nullptr;
      return Nats(s, "connect to NATS at " + (o.servers.empty() ? std::string("?") : o.servers[0]));
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = o.request_timeout.count();
    if (ack_handler) {
      jo.PublishAsync.MaxPending = max_pending;
      jo.PublishAsync.AckHandler = ack_handler;
      jo.PublishAsync.AckHandlerClosure = ack_closure;
      jo.PublishAsync.StallWait = o.request_timeout.count();
    }
    s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK) {
      js = nullptr;
      return Nats(s, "JetStream context");
    }
    return Status::OK();
  }
  Status EnsureStream() {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = o.stream.c_str();
    std::string subj = o.subject_prefix + ".>";
    const char* subjects[] = {subj.c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = o.replicas;
    cfg.Duplicates = static_cast<int64_t>(o.duplicate_window.count()) * 1000000000LL;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
    if (si) jsStreamInfo_Destroy(si);
    if (s == NATS_OK || jerr == JSStreamNameExistErr) return Status::OK();
    return Nats(s, "create stream " + o.stream, jerr);
  }
  Result<Tail> GetTail() {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js, o.stream.c_str(), nullptr, &jerr);
    if (s != NATS_OK) return Nats(s, "stream info of " + o.stream, jerr);
    Tail t{si->State.LastSeq, si->State.Msgs};
    jsStreamInfo_Destroy(si);
    return t;
  }
  // The stream's last sequence (0 when empty).
  Result<std::uint64_t> LastSeq() {
    auto t = GetTail();
    if (!t.ok()) return t.status();
    return t->msgs == 0 ? 0 : t->last_seq;
  }
};

const char* Header(natsMsg* m, const char* key) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) != NATS_OK) return nullptr;
  return v;
}

// Reads the body of message `seq` of `stream` (format 2). A message in
// format 1 (ten Txj-* headers, written by txjournal before 2026-12) is
// refused, not read: kInvalidArgument naming the stream and sequence, as is
// a format this build does not know; a body that is not txjournal's is
// kCorruption.
Status ReadBody(natsMsg* m, const std::string& stream, std::uint64_t seq, internal::repl::Fields* f) {
  std::string why;
  int version = 0;
  const std::string_view body(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
  switch (internal::repl::Decode(body, f, &version, &why)) {
    case internal::repl::Decoded::kOk:
      return Status::OK();
    case internal::repl::Decoded::kOtherVersion:
      return Status::InvalidArgument("message " + std::to_string(seq) + " of stream " + stream +
                                     " is in txjournal's replication format " + std::to_string(version) +
                                     "; this build reads format " + std::to_string(internal::repl::kFormat));
    case internal::repl::Decoded::kBad:
      return Status::Corruption("message " + std::to_string(seq) + " of stream " + stream +
                                ": a broken txjournal prefix (" + why + ")");
    case internal::repl::Decoded::kNotTxj:
      break;
  }
  if (Header(m, "Txj-Journal") != nullptr) {
    return Status::InvalidArgument(
        "message " + std::to_string(seq) + " of stream " + stream +
        " is in txjournal's replication format 1 (Txj-* headers, written before format 2); this build reads "
        "only format 2: replicate into a new stream, or mirror this one with the txjournal that wrote it");
  }
  return Status::Corruption("message " + std::to_string(seq) + " of stream " + stream +
                            " lacks txjournal framing (no \"TXJ\" prefix, no Txj-* headers)");
}

void Sleep(std::stop_token stop, std::chrono::milliseconds d) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, stop, d, [] { return false; });
}

struct OneTimeInit {
  OneTimeInit() { nats_Open(-1); }
};

class NatsReplicator final : public Replicator {
 public:
  NatsReplicator(Journal& j, ReplicationOptions o, std::unique_ptr<OffsetStore> store)
      : j_(j), store_(std::move(store)), name_("replicator:" + o.stream), jid_(j.identity()) {
    link_.o = std::move(o);
    link_.max_pending = static_cast<std::int64_t>(std::max<std::size_t>(1, link_.o.publish_window));
    link_.ack_handler = &NatsReplicator::OnAck;
    link_.ack_closure = this;
  }
  ~NatsReplicator() override {
    if (link_.js) Drain();
    link_.Drop();  // no acknowledgement callback after this
  }

  ReplicatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    ReplicatorStats s = stats_;
    const std::uint64_t committed = j_.next_offset();
    s.lag_events = committed > s.next_offset ? committed - s.next_offset : 0;
    const std::uint64_t vis = j_.visible_lsn();
    s.lag_bytes = vis > last_lsn_ ? vis - last_lsn_ : 0;
    return s;
  }

  Status run(std::stop_token stop) override {
    if (store_) {
      auto pos = store_->load(name_);
      if (!pos.ok()) return pos.status();
      floor_ = *pos;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.next_offset = floor_;
    }
    StartSaver();
    struct SaverGuard {
      NatsReplicator* r;
      ~SaverGuard() { r->StopSaver(); }
    } saver_guard{this};
    bool stream_ok = false, need_resync = true;
    for (;;) {
      if (stop.stop_requested()) return Stop();
      if (need_resync && link_.js) Drain();  // before a new connection loses what is in flight
      Status s = link_.Connect();
      if (s.ok() && !stream_ok) {
        s = link_.EnsureStream();
        stream_ok = s.ok();
      }
      if (s.ok() && need_resync) {
        s = Resync();
        need_resync = !s.ok();
      }
      if (s.ok()) s = Pump(stop);
      if (s.code() == Code::kCancelled) return Stop();
      if (s.code() == Code::kTruncated || s.code() == Code::kCorruption || s.code() == Code::kInvalidArgument) {
        Drain();
        StopSaver();
        (void)Save();
        return s;
      }
      // A publish failed or the stream is unavailable: local commits go on;
      // once what is in flight is settled, start again from the stream's tail.
      need_resync = true;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.retries;
      }
      Sleep(stop, link_.o.retry_wait);
    }
  }

 private:
  // One published transaction: acknowledged once its last message is.
  struct Mark {
    std::uint64_t last_seq, next_offset, lsn;
  };

  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    static_cast<NatsReplicator*>(closure)->Acked(msg, pa, pae);
    natsMsg_Destroy(msg);
  }

  void Acked(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae) {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_) return;  // everything after a failure is settled by the resync
    auto where = [&] {
      const char* id = msg ? Header(msg, "Nats-Msg-Id") : nullptr;
      return std::string("message ") + (id ? id : "?") + " (journal:offset) to stream " + link_.o.stream +
             " after sequence " + std::to_string(acked_seq_.load());
    };
    if (pa == nullptr) {
      failed_ = true;
      failure_ = "publish " + where() + ": " + (pae ? natsStatus_GetText(pae->Err) : "no acknowledgement");
      if (pae && pae->ErrCode) failure_ += " (JetStream error " + std::to_string(static_cast<int>(pae->ErrCode)) + ")";
      if (pae && pae->ErrText) failure_ += " - " + std::string(pae->ErrText);
      return;
    }
    ++stats_.published;
    if (pa->Duplicate || pa->Sequence != acked_seq_ + 1) {
      // Already in the stream (another replicator, a resend): later messages
      // expect another sequence; resynchronise.
      if (pa->Duplicate) ++stats_.duplicates;
      failed_ = true;
      failure_ = "publish " + where() + ": stored at sequence " + std::to_string(pa->Sequence) +
                 (pa->Duplicate ? " (a duplicate)" : "");
      return;
    }
    acked_seq_.store(pa->Sequence, std::memory_order_release);
    progress_ns_.store(NowNs(), std::memory_order_relaxed);
    while (!marks_.empty() && marks_.front().last_seq <= acked_seq_) {
      stats_.next_offset = marks_.front().next_offset;
      last_lsn_ = marks_.front().lsn;
      marks_.pop_front();
    }
  }

  static std::int64_t NowNs() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

  // A failure when messages are in flight and none was acknowledged for a
  // request timeout (since the last acknowledgement, or since the first
  // publish into an empty window). Called by the publishing thread while it
  // waits: for room in the window, or for new commits.
  Status CheckAcks() {
    const std::uint64_t acked = acked_seq_.load(std::memory_order_acquire);
    if (expect_seq_ <= acked) return Status::OK();
    const std::int64_t quiet = NowNs() - progress_ns_.load(std::memory_order_relaxed);
    const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(link_.o.request_timeout).count();
    if (quiet <= limit) return Status::OK();
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_) {
      failed_ = true;
      failure_ = "no acknowledgement from stream " + link_.o.stream + " for " + std::to_string(quiet / 1000000) +
                 " ms: " + std::to_string(expect_seq_ - acked) + " messages in flight after sequence " +
                 std::to_string(acked);
    }
    return Status::IOError(failure_);
  }

  bool Failed(std::string* why) {
    if (!failed_) return false;  // the common case, without the lock
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_ && why) *why = failure_;
    return failed_;
  }

  // Waits for the acknowledgements of what is in flight (at most one request
  // timeout); what is still unacknowledged then is dropped.
  void Drain() {
    if (!link_.js) return;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = link_.o.request_timeout.count();
    if (js_PublishAsyncComplete(link_.js, &po) != NATS_OK) {
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, link_.js) == NATS_OK) natsMsgList_Destroy(&pending);
      std::lock_guard<std::mutex> lock(mu_);
      if (!failed_) {
        failed_ = true;
        failure_ = "acknowledgements from stream " + link_.o.stream + " after sequence " +
                   std::to_string(acked_seq_.load()) + " did not arrive";
      }
    }
  }

  Status Stop() {
    Drain();
    StopSaver();
    (void)Save();
    return Status::Cancelled("replicator stopped");
  }

  // Saves the acknowledged position (a floor for the next run), when it
  // moved. Called by the saver thread, and once more after it stopped.
  Status Save() {
    if (!store_) return Status::OK();
    std::uint64_t pos;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pos = stats_.next_offset;
    }
    if (pos <= saved_) return Status::OK();
    TXJ_RETURN_IF_ERROR(store_->save(name_, pos));
    saved_ = pos;
    return Status::OK();
  }

  // The saver thread: every kSaveEvery, off the publishing thread. A
  // failed save is reported by the publishing thread (which then retries
  // from the stream's tail, as after any failure).
  void StartSaver() {
    if (!store_ || saver_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(save_mu_);
      stop_saver_ = false;
      save_error_ = Status::OK();
    }
    saver_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(save_mu_);
      while (!stop_saver_) {
        save_cv_.wait_for(lock, kSaveEvery, [&] { return stop_saver_; });
        if (stop_saver_) break;
        lock.unlock();
        Status s = Save();
        lock.lock();
        if (!s.ok() && save_error_.ok()) {
          save_error_ = s.WithContext("replicator of stream " + link_.o.stream + ": save its position");
          save_failed_ = true;
        }
      }
    });
  }
  void StopSaver() {
    if (!saver_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(save_mu_);
      stop_saver_ = true;
    }
    save_cv_.notify_all();
    saver_.join();
  }
  // The saver's error, once.
  Status SaveError() {
    if (!save_failed_) return Status::OK();
    std::lock_guard<std::mutex> lock(save_mu_);
    save_failed_ = false;
    Status e = save_error_;
    save_error_ = Status::OK();
    return e;
  }

  // Where to go on: from the stream's tail (nothing in flight).
  Status Resync() {
    auto tail = link_.GetTail();
    if (!tail.ok()) return tail.status();
    std::uint64_t next = std::max(floor_, Acked()), skip = 0;
    if (tail->msgs > 0) {
      natsMsg* m = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus s = js_GetMsg(&m, link_.js, link_.o.stream.c_str(), tail->last_seq, nullptr, &jerr);
      if (s != NATS_OK) {
        return Nats(s, "read the last message (sequence " + std::to_string(tail->last_seq) + ") of stream " +
                           link_.o.stream, jerr);
      }
      internal::repl::Fields f;
      Status bad = ReadBody(m, link_.o.stream, tail->last_seq, &f);
      const bool ours = bad.ok() && f.journal == jid_;
      const std::string theirs(bad.ok() ? f.journal : std::string_view("(none)"));
      const std::uint64_t first = f.first, count = f.count, index = f.index;
      natsMsg_Destroy(m);
      if (!bad.ok()) return bad;
      if (!ours) {
        return Status::InvalidArgument("stream " + link_.o.stream + " holds messages of another journal " +
                                       "(sequence " + std::to_string(tail->last_seq) + " is of journal " + theirs +
                                       ", this journal is " + jid_ + ")");
      }
      if (index + 1 == count) {
        next = std::max(next, first + count);
      } else if (next <= first) {
        // A transaction published in part: the rest follows what is there.
        next = first;
        skip = first + index + 1;
      }
    }
    next_ = next;
    skip_below_ = skip;
    expect_seq_ = tail->last_seq;
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = false;
    failure_.clear();
    acked_seq_.store(tail->last_seq, std::memory_order_release);
    marks_.clear();
    if (skip == 0) stats_.next_offset = next;
    return Status::OK();
  }

  std::uint64_t Acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_.next_offset;
  }

  const std::string& SubjectOf(std::string_view topic) {
    auto it = subjects_.find(topic);
    if (it != subjects_.end()) return it->second;
    if (subjects_.size() > 4096 && txn_.empty()) subjects_.clear();  // no event gathered refers to it
    return subjects_.emplace(std::string(topic), link_.o.subject_prefix + "." + SubjectToken(topic)).first->second;
  }

  // Adds one event of the transaction being gathered: its message body
  // (format 2, replication_format.h) is written into one buffer for the
  // whole transaction, straight from the cursor's view; the transaction's
  // size is filled in by Flush.
  Status Add(const Event& e) {
    if (!txn_.empty() && e.txn_id != txn_id_) TXJ_RETURN_IF_ERROR(Flush());
    if (txn_.empty()) {
      txn_id_ = e.txn_id;
      txn_first_ = e.offset;
      if (body_.capacity() > (std::size_t{16} << 20)) {
        std::string().swap(body_);  // after a very large transaction
      } else {
        body_.clear();
      }
    }
    txn_lsn_ = e.lsn;
    const std::size_t at = body_.size();
    internal::repl::Fields f;
    f.journal = jid_;
    f.txn = e.txn_id;
    f.first = txn_first_;
    f.count = 0;
    f.index = txn_.size();
    f.ts = e.timestamp_ns;
    f.topic = e.topic;
    f.type = e.type;
    f.key = e.key;
    f.payload = e.payload;
    internal::repl::Encode(f, &body_);
    txn_.push_back({&SubjectOf(e.topic), at, body_.size() - at});
    return Status::OK();
  }

  void DropTxn() { txn_.clear(); }

  // Publishes the gathered transaction.
  Status Flush() {
    if (txn_.empty()) return Status::OK();
    Status result;
    char id[internal::repl::kJidLen + 24], expect[24];
    for (std::size_t i = 0; i < txn_.size(); ++i) {
      const Gathered& g = txn_[i];
      const std::uint64_t offset = txn_first_ + i;
      if (offset < skip_below_) continue;
      internal::repl::PutU64(body_.data() + g.at + internal::repl::kCountAt, txn_.size());
      std::snprintf(id, sizeof id, "%s:%llu", jid_.c_str(), static_cast<unsigned long long>(offset));
      std::snprintf(expect, sizeof expect, "%llu", static_cast<unsigned long long>(expect_seq_));
      natsMsg* m = nullptr;
      natsStatus s = natsMsg_Create(&m, g.subject->c_str(), nullptr, body_.data() + g.at, static_cast<int>(g.len));
      if (s == NATS_OK) s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
      if (s == NATS_OK) s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", expect);
      for (;;) {
        if (s != NATS_OK) break;
        std::string why;
        if (Failed(&why)) {
          result = Status::IOError(why);
          break;
        }
        if (stop_.stop_requested()) {
          result = Status::Cancelled("replicator stopped");
          break;
        }
        // Into an empty window: acknowledgements are awaited from now.
        if (expect_seq_ == acked_seq_.load(std::memory_order_acquire)) {
          progress_ns_.store(NowNs(), std::memory_order_relaxed);
        }
        s = js_PublishMsgAsync(link_.js, &m, nullptr);
        if (s != NATS_TIMEOUT) break;
        s = NATS_OK;  // the window stayed full for a request timeout: wait again, unless nothing moves
        result = CheckAcks();
        if (!result.ok()) break;
      }
      if (m) natsMsg_Destroy(m);  // still ours when not published
      if (!result.ok()) break;
      if (s != NATS_OK) {
        result = Nats(s, "publish offset " + std::to_string(offset) + " of transaction " + std::to_string(txn_id_) +
                             " to stream " + link_.o.stream + " after sequence " + expect);
        break;
      }
      ++expect_seq_;
    }
    if (result.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      marks_.push_back({expect_seq_, txn_first_ + txn_.size(), txn_lsn_});
    }
    next_ = txn_first_ + txn_.size();
    skip_below_ = 0;
    DropTxn();
    return result;
  }

  // Publishes whole transactions from next_; returns on an error or stop.
  Status Pump(std::stop_token stop) {
    stop_ = stop;
    struct Guard {
      NatsReplicator* r;
      ~Guard() { r->DropTxn(); }
    } guard{this};
    auto cur = j_.open_cursor(next_);
    if (!cur.ok()) return cur.status();
    for (;;) {
      std::string why;
      if (Failed(&why)) return Status::IOError(why);
      TXJ_RETURN_IF_ERROR(SaveError());
      auto e = cur->next();
      if (!e.ok()) return e.status();
      if (e->has_value()) {
        TXJ_RETURN_IF_ERROR(Add(**e));
        continue;
      }
      // The end of what is committed: its last transaction is whole.
      TXJ_RETURN_IF_ERROR(Flush());
      auto w = cur->wait_next(std::chrono::steady_clock::now() + std::chrono::milliseconds(200), stop);
      if (!w.ok()) {
        if (w.status().code() != Code::kTimedOut) return w.status();
        TXJ_RETURN_IF_ERROR(CheckAcks());  // idle: is what was published still acknowledged?
        continue;
      }
      TXJ_RETURN_IF_ERROR(Add(*w));
    }
  }

  Journal& j_;
  std::unique_ptr<OffsetStore> store_;  // null for a read-only journal
  std::string name_;
  std::string jid_;
  Link link_;
  // The publishing thread's state.
  std::uint64_t floor_ = 0;      // saved position at start
  std::uint64_t next_ = 0;       // first offset of the transaction to publish next
  std::uint64_t skip_below_ = 0; // of that transaction, offsets already in the stream
  std::uint64_t expect_seq_ = 0; // the stream's last sequence once all published is stored
  // The transaction being gathered: each event's subject and message body
  // (in body_).
  struct Gathered {
    const std::string* subject;
    std::size_t at, len;
  };
  std::vector<Gathered> txn_;
  std::string body_;
  std::uint64_t txn_id_ = 0, txn_first_ = 0, txn_lsn_ = 0;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> subjects_;
  std::stop_token stop_;
  std::uint64_t saved_ = 0;  // by the saver thread, or after it stopped
  // The saver thread.
  std::thread saver_;
  std::mutex save_mu_;
  std::condition_variable save_cv_;
  bool stop_saver_ = false;
  Status save_error_;
  std::atomic<bool> save_failed_{false};
  // Shared with the acknowledgement callback.
  mutable std::mutex mu_;
  ReplicatorStats stats_;
  std::uint64_t last_lsn_ = 0;
  std::atomic<std::uint64_t> acked_seq_{0};    // written under mu_
  std::atomic<std::int64_t> progress_ns_{0};  // the last acknowledgement (or first publish into an empty window)
  std::atomic<bool> failed_{false};
  std::string failure_;
  std::deque<Mark> marks_;
};

class NatsMirror final : public Mirror {
 public:
  NatsMirror(Journal& j, ReplicationOptions o, std::unique_ptr<OffsetStore> store, internal::UserTables* tables)
      : j_(j), store_(std::move(store)), tables_(tables), name_("mirror:" + o.stream) {
    link_.o = std::move(o);
    syncer_ = std::thread([this] { SyncLoop(); });
  }
  ~NatsMirror() override {
    {
      std::lock_guard<std::mutex> lock(smu_);
      stop_syncer_ = true;
    }
    scv_.notify_all();
    syncer_.join();  // after the last position posted is saved
    DropSub();
    DropBuf();
    delete tables_;
  }

  // Follows the stream: the consumer stays open and each message is applied
  // as soon as it arrives (batches end early when nothing more is pending).
  Status run(std::stop_token stop) override {
    for (;;) {
      if (stop.stop_requested()) return Status::Cancelled("mirror stopped");
      auto n = Follow(stop);
      if (!n.ok() && (n.status().code() == Code::kInvalidArgument || n.status().code() == Code::kCorruption)) {
        return n.status();
      }
      if (stop.stop_requested()) return Status::Cancelled("mirror stopped");
      if (!n.ok() || *n == 0) Sleep(stop, link_.o.retry_wait);
    }
  }

  Result<std::uint64_t> apply_available() override {
    auto from = Start();
    if (!from.ok()) return from.status();
    auto tail = link_.GetTail();
    if (!tail.ok()) return tail.status();
    if (tail->last_seq < *from) return std::uint64_t{0};
    return Apply(tail->last_seq, {});
  }

  Result<std::uint64_t> Follow(std::stop_token stop) {
    auto from = Start();
    if (!from.ok()) return from.status();
    return Apply(UINT64_MAX, stop);
  }

  // Connects; returns the saved position.
  Result<std::uint64_t> Start() {
    if (!link_.Connected()) DropSub();
    TXJ_RETURN_IF_ERROR(link_.Connect());
    TXJ_RETURN_IF_ERROR(WaitSynced());
    auto seq = store_->load(name_);
    if (!seq.ok()) return seq.status();
    const std::uint64_t from = *seq == 0 ? 1 : *seq;
    if (sub_ && from != Synced()) DropSub();  // someone else moved the position
    return from;
  }

  // Applies the stream up to sequence `limit` (following it without end
  // when UINT64_MAX, until `stop`).
  Result<std::uint64_t> Apply(std::uint64_t limit, std::stop_token stop) {
    const bool follow = limit == UINT64_MAX;
    if (!sub_) {
      TXJ_RETURN_IF_ERROR(WaitSynced());
      auto seq = store_->load(name_);
      if (!seq.ok()) return seq.status();
      TXJ_RETURN_IF_ERROR(Subscribe(*seq == 0 ? 1 : *seq));
    }
    std::uint64_t applied = 0;
    const int batch = static_cast<int>(std::max<std::size_t>(1, link_.o.mirror_batch));
    while (sub_next_ <= limit && !stop.stop_requested()) {
      // One batch: what the consumer has delivered (it goes on delivering
      // while this one is applied), waiting only for the first message.
      std::uint64_t batch_applied = 0;
      int got = 0;
      Status err;
      bool idle = false;
      while (got < batch && sub_next_ <= limit) {
        natsMsg* m = nullptr;
        const std::int64_t wait = got > 0 ? 0 : follow ? 100 : link_.o.request_timeout.count();
        natsStatus st = natsSubscription_NextMsg(&m, sub_, wait);
        if (st == NATS_TIMEOUT && (got > 0 || follow)) {
          idle = got == 0;
          if (idle && ++idle_polls_ >= kProbeIdlePolls) {
            idle_polls_ = 0;
            err = Probe();
            if (!err.ok()) DropSub();
          }
          break;
        }
        idle_polls_ = 0;
        if (st != NATS_OK) {
          err = Nats(st, "read stream " + link_.o.stream + " at sequence " + std::to_string(sub_next_));
          DropSub();
          break;
        }
        ++got;
        auto r = Take(m);
        if (!r.ok()) {
          err = r.status();
          DropSub();
          break;
        }
        batch_applied += *r;
      }
      applied += batch_applied;
      // The batch's end: its transactions durable, then its position.
      if (got > 0 || batch_applied > 0) {
        Status s = EndBatch();
        if (!s.ok()) return s;
      }
      if (!err.ok()) {
        if (applied > 0 && err.code() != Code::kCorruption && err.code() != Code::kInvalidArgument) {
          TXJ_RETURN_IF_ERROR(WaitSynced());
          return applied;
        }
        return err;
      }
      if (idle && !link_.Connected()) break;
    }
    if (!follow) TXJ_RETURN_IF_ERROR(WaitSynced());  // what it returns is durable
    return applied;
  }

 private:
  struct Part {
    natsMsg* m;
    std::string_view topic, type, payload, key;  // into m's body
    bool has_key;
    std::uint64_t ts;
  };

  // Whether the consumer still delivers, asked of the server after
  // kProbeIdlePolls idle polls (about 2 s) of a following mirror. An error
  // (the subscription is then dropped and a new consumer made from the
  // position applied) when the consumer is gone, or when at the previous
  // probe the server had already delivered the message wanted next and it
  // has still not arrived: the consumer sends what it delivers nowhere.
  //
  // Seen with nats-server 2.9.10 when the mirror made its consumer while
  // the replicator was creating the stream (the mirror retries until the
  // stream exists, so the two requests meet): the server registers a new
  // stream before setting up its store and its sending queue, and a
  // consumer added in that window keeps no sending queue. It counts every
  // message as delivered and sends none, not even its heartbeats (fixed in
  // nats-server 2.9.15, commit b19fe508c, "Register with our account
  // last"). Missed heartbeats do not tell: libnats 3.4 reports those of a
  // push subscription only to an asynchronous error callback, never through
  // NextMsg. The same probe catches a consumer the server lost (restart,
  // inactivity) and messages the client dropped at the stream's tail.
  Status Probe() {
    if (!sub_ || consumer_.empty() || !link_.Connected()) return Status::OK();
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&ci, link_.js, link_.o.stream.c_str(), consumer_.c_str(), nullptr, &jerr);
    if (s != NATS_OK) {
      if (jerr == JSConsumerNotFoundErr) {
        return Status::IOError("consumer " + consumer_ + " of stream " + link_.o.stream +
                               " is gone; consuming again from sequence " + std::to_string(sub_next_));
      }
      return Status::OK();  // cannot tell now (a timeout, a reconnection): asked again later
    }
    const std::uint64_t delivered = ci->Delivered.Stream;
    jsConsumerInfo_Destroy(ci);
    if (probe_next_ == sub_next_ && probe_delivered_ >= sub_next_) {
      return Status::IOError("consumer " + consumer_ + " of stream " + link_.o.stream + " delivered up to sequence " +
                             std::to_string(probe_delivered_) + " but sequence " + std::to_string(sub_next_) +
                             " never arrived; consuming again from there");
    }
    probe_next_ = sub_next_;
    probe_delivered_ = delivered;
    return Status::OK();
  }

  void DropSub() {
    if (sub_) {
      natsSubscription_Unsubscribe(sub_);
      natsSubscription_Destroy(sub_);
    }
    sub_ = nullptr;
    DeleteConsumer();
  }
  // The mirror's consumer from stream sequence `from` (without its subjects).
  static void ConsumerConfig(std::uint64_t from, jsConsumerConfig* cfg) {
    jsConsumerConfig_Init(cfg);
    cfg->DeliverPolicy = js_DeliverByStartSequence;
    cfg->OptStartSeq = from;
    cfg->AckPolicy = js_AckNone;
    cfg->FlowControl = true;
    cfg->Heartbeat = std::chrono::nanoseconds(std::chrono::seconds(1)).count();
    cfg->MemoryStorage = true;
    cfg->Replicas = 1;
    // A consumer left behind (its node lost, the client gone) goes away.
    cfg->InactiveThreshold = std::chrono::nanoseconds(std::chrono::seconds(30)).count();
  }
  // The consumer Subscribe made: deleted when its subscription goes (a
  // bound subscription does not delete it). Only over a connected link: on
  // a lost or reconnecting one the request would wait out its whole
  // timeout first; there, and when the deletion fails, the consumer's
  // inactivity threshold removes it.
  void DeleteConsumer() {
    if (consumer_.empty()) return;
    if (link_.Connected()) {
      (void)js_DeleteConsumer(link_.js, link_.o.stream.c_str(), consumer_.c_str(), nullptr, nullptr);
    }
    consumer_.clear();
  }
  void DropBuf() {
    for (auto& p : buf_) natsMsg_Destroy(p.m);
    buf_.clear();
  }

  // The stream sequence in a delivered message's reply subject, without
  // allocating: $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<...>
  // (9 tokens), or with a domain and account hash in front (12 tokens);
  // 0 for another shape.
  static std::uint64_t StreamSeq(const char* reply) {
    if (!reply) return 0;
    const char* tok[14];
    int n = 0;
    tok[n++] = reply;
    for (const char* p = reply; *p && n < 14; ++p) {
      if (*p == '.') tok[n++] = p + 1;
    }
    int at = n == 9 ? 5 : n >= 11 ? 7 : -1;
    if (at < 0 || std::strncmp(reply, "$JS.ACK.", 8) != 0) return 0;
    std::uint64_t v = 0;
    for (const char* p = tok[at]; *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::uint64_t>(*p - '0');
    return v;
  }

  // An ephemeral push consumer from stream sequence `from`, in order, with
  // no acknowledgements: what the client's "ordered consumer" sets up, but
  // without the client resetting it by itself (libnats 3.4's reset races
  // with js_SubscribeSync and crashed the mirror about one run in ten of
  // the cluster test, nats.c issue 695). Gaps are caught by Take (the
  // stream sequence must be the next one), a lost consumer or one that
  // delivers nowhere by Probe (NextMsg does not fail on missed heartbeats):
  // either way the consumer is dropped and a new one made from the position
  // applied.
  //
  // The consumer is created here and the subscription binds to it by name.
  // Left to js_SubscribeSync, the creation crashed (strdup of a NULL name)
  // about one run in ten of the cluster test when a node was lost: libnats
  // 3.4.1 takes a creation reply without a consumer name as a success. A
  // reply without a name or configuration is an error here, and the next
  // call tries again.
  Status Subscribe(std::uint64_t from) {
    DropBuf();
    const std::string where = "consume stream " + link_.o.stream + " from sequence " + std::to_string(from);
    const std::string subject = link_.o.subject_prefix + ".>";
    natsInbox* inbox = nullptr;
    if (natsStatus s = natsInbox_Create(&inbox); s != NATS_OK) return Nats(s, where);
    jsConsumerConfig cfg;
    ConsumerConfig(from, &cfg);
    cfg.DeliverSubject = inbox;
    cfg.FilterSubject = subject.c_str();
    jsConsumerInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddConsumer(&info, link_.js, link_.o.stream.c_str(), &cfg, nullptr, &jerr);
    natsInbox_Destroy(inbox);
    if (s != NATS_OK) return Nats(s, where, jerr);
    if (info == nullptr || info->Name == nullptr || info->Config == nullptr ||
        info->Config->DeliverSubject == nullptr) {
      jsConsumerInfo_Destroy(info);
      return Status::IOError(where + ": the server's reply to creating the consumer names no consumer or "
                                 "delivery subject (a JetStream node may be changing); trying again later");
    }
    consumer_ = info->Name;
    jsConsumerInfo_Destroy(info);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = link_.o.stream.c_str();
    so.Consumer = consumer_.c_str();
    ConsumerConfig(from, &so.Config);  // binding checks the consumer has these
    s = js_SubscribeSync(&sub_, link_.js, subject.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK) {
      sub_ = nullptr;
      Status e = Nats(s, where + " through consumer " + consumer_, jerr);
      DeleteConsumer();
      return e;
    }
    natsSubscription_SetPendingLimits(sub_, 1 << 20, 1 << 30);
    check_headers_ = true;
    sub_next_ = from;
    batch_end_seq_ = from;
    idle_polls_ = 0;
    probe_next_ = probe_delivered_ = 0;
    {
      std::lock_guard<std::mutex> lock(smu_);
      want_seq_ = done_seq_ = from;
    }
    return Status::OK();
  }

  // Takes one message; applies the transaction it completes. Returns how
  // many transactions were applied (0 or 1).
  Result<std::uint64_t> Take(natsMsg* m) {
    std::uint64_t s = StreamSeq(natsMsg_GetReply(m));
    if (s == 0) {
      jsMsgMetaData* meta = nullptr;
      natsStatus st = natsMsg_GetMetaData(&meta, m);
      if (st != NATS_OK) {
        natsMsg_Destroy(m);
        return Nats(st, "metadata of the message at sequence " + std::to_string(sub_next_) + " of stream " +
                            link_.o.stream);
      }
      s = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    if (s != sub_next_) {
      natsMsg_Destroy(m);
      return Status::IOError("stream " + link_.o.stream + " delivered sequence " + std::to_string(s) +
                             " where " + std::to_string(sub_next_) + " was expected; consuming again from there");
    }
    ++sub_next_;
    internal::repl::Fields f;
    Status bad = ReadBody(m, link_.o.stream, s, &f);
    if (bad.ok() && check_headers_) {
      // Once per consumer: a format-1 message whose payload happens to start
      // like a format-2 body is still refused.
      check_headers_ = false;
      if (Header(m, "Txj-Journal") != nullptr) {
        bad = Status::InvalidArgument("message " + std::to_string(s) + " of stream " + link_.o.stream +
                                      " is in txjournal's replication format 1 (Txj-* headers); this build reads "
                                      "only format 2");
      }
    }
    if (!bad.ok()) {
      natsMsg_Destroy(m);
      return bad;
    }
    Part p{m, f.topic, f.type, f.payload, f.key.value_or(std::string_view()), f.key.has_value(), f.ts};
    const std::string_view jid = f.journal;
    const std::uint64_t first = f.first, count = f.count, index = f.index;
    Status src = CheckSource(jid);
    if (!src.ok()) {
      natsMsg_Destroy(m);
      return src;
    }
    if (index == 0) {
      DropBuf();
      buf_first_ = first;
      buf_count_ = count;
    } else if (buf_.empty() || first != buf_first_ || index != buf_.size()) {
      natsMsg_Destroy(m);  // the tail of a transaction whose start was republished later
      if (buf_.empty()) batch_end_seq_ = sub_next_;
      return std::uint64_t{0};
    }
    buf_.push_back(std::move(p));
    if (buf_.size() < buf_count_) return std::uint64_t{0};
    return ApplyBuffered(s);
  }

  // The transaction buffered whole (its last message at stream sequence
  // `seq`), applied all or nothing; returns 1, or 0 when the mirror holds
  // it already.
  Result<std::uint64_t> ApplyBuffered(std::uint64_t seq) {
    std::uint64_t applied = 0;
    const std::uint64_t have = j_.next_offset();
    if (buf_first_ > have) {
      DropBuf();
      return Status::Corruption("mirror gap: stream " + link_.o.stream + " continues at offset " +
                                std::to_string(buf_first_) + " (sequence " + std::to_string(seq) +
                                ") but the mirror holds only up to offset " + std::to_string(have));
    }
    if (buf_first_ == have) {
      auto tx = j_.begin();
      if (!tx.ok()) {
        DropBuf();
        return tx.status();
      }
      for (const auto& e : buf_) {
        AppendOptions o;
        if (e.has_key) o.key = e.key;
        o.timestamp_ns = e.ts;
        Status a = tx->append(e.topic, e.type, e.payload, o);
        if (!a.ok()) {
          DropBuf();
          return a;
        }
      }
      auto info = tx->commit();
      if (!info.ok()) {
        DropBuf();
        return info.status();
      }
      applied = 1;
    }
    DropBuf();
    batch_end_seq_ = sub_next_;
    return applied;
  }

  // Makes the batch's transactions durable (one sync for all, unless each
  // commit already was), then saves the position after its last whole
  // transaction.
  //
  // Done by the syncer thread, so that applying goes on meanwhile: while
  // one sync runs, the batches that end are covered by the next one.
  Status EndBatch() {
    std::lock_guard<std::mutex> lock(smu_);
    if (!sync_error_.ok()) {
      Status e = sync_error_;
      sync_error_ = Status::OK();
      return e;
    }
    if (batch_end_seq_ > want_seq_) {
      want_seq_ = batch_end_seq_;
      scv_.notify_all();
    }
    return Status::OK();
  }

  // Waits until every position posted is saved; returns a sync or save error.
  Status WaitSynced() {
    std::unique_lock<std::mutex> lock(smu_);
    scv_.wait(lock, [&] { return done_seq_ >= want_seq_ || !sync_error_.ok(); });
    Status e = sync_error_;
    sync_error_ = Status::OK();
    return e;
  }

  std::uint64_t Synced() {
    std::lock_guard<std::mutex> lock(smu_);
    return done_seq_;
  }

  void SyncLoop() {
    std::unique_lock<std::mutex> lock(smu_);
    for (;;) {
      scv_.wait(lock, [&] { return stop_syncer_ || (want_seq_ > done_seq_ && sync_error_.ok()); });
      if (want_seq_ <= done_seq_ || !sync_error_.ok()) return;  // stopping, nothing (more) to save
      const std::uint64_t seq = want_seq_;
      lock.unlock();
      Status s;
      if (j_.options().durability != Durability::kCommit) s = j_.sync();
      if (s.ok()) s = store_->save(name_, seq);
      lock.lock();
      if (s.ok()) {
        done_seq_ = seq;
      } else {
        sync_error_ = s.WithContext("mirror of stream " + link_.o.stream + ": make the transactions up to sequence " +
                                    std::to_string(seq) + " durable and save that position");
        want_seq_ = done_seq_;  // posted again by the next batch
      }
      scv_.notify_all();
    }
  }

  Status CheckSource(std::string_view source) {
    if (source_.empty()) {
      auto stored = tables_->Get("mirror", "source");
      if (!stored.ok()) return stored.status();
      if (stored->has_value()) {
        source_ = **stored;
      } else {
        std::string s(source);
        TXJ_RETURN_IF_ERROR(tables_->Write([&](KvTxn& t) { return t.put("mirror", "source", s); }));
        source_ = s;
      }
    }
    if (source_ != source) [[unlikely]] {
      return Status::InvalidArgument("mirror of journal " + source_ + " refuses the messages of journal " +
                                     std::string(source) + " in stream " + link_.o.stream + " at sequence " +
                                     std::to_string(sub_next_ - 1));
    }
    return Status::OK();
  }

  Journal& j_;
  std::unique_ptr<OffsetStore> store_;
  internal::UserTables* tables_;
  std::string name_;
  std::string source_;
  Link link_;
  natsSubscription* sub_ = nullptr;
  std::string consumer_;             // the consumer sub_ is bound to (Subscribe made it)
  std::uint64_t sub_next_ = 1;       // stream sequence the consumer delivers next
  bool check_headers_ = true;        // the consumer's first message is checked for format 1
  std::uint64_t batch_end_seq_ = 1;  // sequence after the last whole transaction taken
  // Probe's state: idle polls since a message or the last probe; at the
  // last probe, the sequence wanted next and the last one the server had
  // delivered.
  int idle_polls_ = 0;
  std::uint64_t probe_next_ = 0, probe_delivered_ = 0;
  // The syncer thread: syncs the journal, then saves want_seq_.
  std::thread syncer_;
  std::mutex smu_;
  std::condition_variable scv_;
  std::uint64_t want_seq_ = 0, done_seq_ = 0;
  Status sync_error_;
  bool stop_syncer_ = false;
  std::vector<Part> buf_;            // the transaction being gathered
  std::uint64_t buf_first_ = 0, buf_count_ = 0;
};

}  // namespace

Result<std::unique_ptr<Replicator>> Replicator::open(Journal& journal, ReplicationOptions options) {
  static OneTimeInit init;
  std::unique_ptr<OffsetStore> store;
  if (!journal.options().read_only) {
    auto s = OffsetStore::open(journal);
    if (!s.ok()) return s.status();
    store = std::move(s).value();
  }
  return std::unique_ptr<Replicator>(std::make_unique<NatsReplicator>(journal, std::move(options), std::move(store)));
}

Result<std::unique_ptr<Mirror>> Mirror::open(Journal& journal, ReplicationOptions options) {
  static OneTimeInit init;
  if (journal.options().read_only) {
    return Status::InvalidState("a mirror needs its journal " + journal.dir() + " open for writing");
  }
  auto store = OffsetStore::open(journal);
  if (!store.ok()) return store.status();
  auto* tables = internal::OpenUserTables(journal).release();
  return std::unique_ptr<Mirror>(
      std::make_unique<NatsMirror>(journal, std::move(options), std::move(store).value(), tables));
}

}  // namespace txj
