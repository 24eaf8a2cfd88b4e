// Replication through NATS JetStream (built when libnats is found).
#include <nats/nats.h>

#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "hex.h"
#include "journal_door.h"
#include "txjournal/journal.h"
#include "txjournal/offset_store.h"
#include "txjournal/replication.h"
#include "user_tables.h"

namespace txj {

namespace {

Status Nats(natsStatus s, const std::string& what, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  if (s == NATS_OK) return Status::OK();
  std::string msg = what + ": " + natsStatus_GetText(s);
  if (jerr != 0) msg += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last && *last) msg += " - " + std::string(last);
  if (s == NATS_TIMEOUT) return Status::TimedOut(msg);
  return Status::IOError(msg);
}

// A connection and JetStream context, re-made after failures.
struct Link {
  ReplicationOptions o;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;

  ~Link() { Drop(); }
  void Drop() {
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
    js = nullptr;
    nc = nullptr;
  }
  Status Connect() {
    if (nc && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED && js) return Status::OK();
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
      return Nats(s, "connect to NATS");
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = o.request_timeout.count();
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
  // The stream's last sequence (0 when empty).
  Result<std::uint64_t> LastSeq() {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js, o.stream.c_str(), nullptr, &jerr);
    if (s != NATS_OK) return Nats(s, "stream info of " + o.stream, jerr);
    std::uint64_t last = si->State.Msgs == 0 ? 0 : si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return last;
  }
};

const char* Header(natsMsg* m, const char* key) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) != NATS_OK) return nullptr;
  return v;
}

std::uint64_t HeaderU64(natsMsg* m, const char* key, bool* ok) {
  const char* v = Header(m, key);
  if (!v) {
    *ok = false;
    return 0;
  }
  return std::strtoull(v, nullptr, 10);
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
      : j_(j), store_(std::move(store)), name_("replicator:" + o.stream) {
    link_.o = std::move(o);
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
    auto pos = store_->load(name_);
    if (!pos.ok()) return pos.status();
    next_ = *pos;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.next_offset = next_;
    }
    bool synced = false;
    for (;;) {
      if (stop.stop_requested()) return Status::Cancelled("replicator stopped");
      Status s = link_.Connect();
      if (s.ok() && !synced) s = link_.EnsureStream();
      if (s.ok() && !synced) {
        s = Resync();
        synced = s.ok();
      }
      if (s.ok()) s = Pump(stop);
      if (s.code() == Code::kCancelled) return s;
      if (s.code() == Code::kTruncated || s.code() == Code::kCorruption || s.code() == Code::kInvalidArgument) {
        return s;
      }
      // The stream is unavailable: local commits go on; try again later.
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.retries;
      }
      Sleep(stop, link_.o.retry_wait);
    }
  }

 private:
  // After a crash the stream may hold more than the saved position says.
  Status Resync() {
    auto last = link_.LastSeq();
    if (!last.ok()) return last.status();
    if (*last == 0) return Status::OK();
    natsMsg* m = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetMsg(&m, link_.js, link_.o.stream.c_str(), *last, nullptr, &jerr);
    if (s != NATS_OK) return Nats(s, "read last message of " + link_.o.stream, jerr);
    bool ok = true;
    const char* jid = Header(m, "Txj-Journal");
    std::uint64_t first = HeaderU64(m, "Txj-First", &ok), count = HeaderU64(m, "Txj-Count", &ok),
                  index = HeaderU64(m, "Txj-Index", &ok);
    const bool ours = jid && j_.identity() == jid;
    natsMsg_Destroy(m);
    if (!ours || !ok) {
      return Status::InvalidArgument("stream " + link_.o.stream + " holds messages of another journal or format");
    }
    // A transaction published in part is published again from its start
    // (the parts already there are dropped as duplicates).
    const std::uint64_t in_stream = index + 1 == count ? first + count : first;
    if (in_stream > next_) next_ = in_stream;
    return Status::OK();
  }

  Status Publish(const Event& e, std::uint64_t first, std::uint64_t count, std::uint64_t index) {
    const std::string subject = link_.o.subject_prefix + "." + SubjectToken(e.topic);
    natsMsg* m = nullptr;
    TXJ_RETURN_IF_ERROR(Nats(natsMsg_Create(&m, subject.c_str(), nullptr, e.payload.data(),
                                            static_cast<int>(e.payload.size())),
                             "message"));
    const std::string id = j_.identity() + ":" + std::to_string(e.offset);
    auto set = [&](const char* k, const std::string& v) { natsMsgHeader_Set(m, k, v.c_str()); };
    set("Txj-Journal", j_.identity());
    set("Txj-Txn", std::to_string(e.txn_id));
    set("Txj-First", std::to_string(first));
    set("Txj-Count", std::to_string(count));
    set("Txj-Index", std::to_string(index));
    set("Txj-Topic", std::string(e.topic));
    set("Txj-Type", std::string(e.type));
    set("Txj-Ts", std::to_string(e.timestamp_ns));
    if (e.key) set("Txj-Key", internal::HexEncode(*e.key));
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_PublishMsg(&ack, link_.js, m, &po, &jerr);
    natsMsg_Destroy(m);
    if (s != NATS_OK) return Nats(s, "publish offset " + std::to_string(e.offset) + " to " + link_.o.stream, jerr);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.published;
    if (ack->Duplicate) ++stats_.duplicates;
    jsPubAck_Destroy(ack);
    return Status::OK();
  }

  // Publishes whole transactions from next_; returns on an error or stop.
  Status Pump(std::stop_token stop) {
    auto cur = j_.open_cursor(next_);
    if (!cur.ok()) return cur.status();
    std::vector<OwnedEventLite> txn;
    for (;;) {
      auto e = cur->wait_next(std::chrono::steady_clock::now() + std::chrono::milliseconds(200), stop);
      if (!e.ok()) {
        if (e.status().code() == Code::kTimedOut) continue;
        return e.status();
      }
      // Gather the rest of its transaction: committed together, so all there.
      txn.clear();
      txn.push_back(OwnedEventLite::From(*e));
      const std::uint64_t t = e->txn_id;
      std::optional<OwnedEventLite> next_txn;
      for (;;) {
        auto more = cur->next();
        if (!more.ok()) return more.status();
        if (!more->has_value()) break;
        if ((**more).txn_id != t) {
          next_txn = OwnedEventLite::From(**more);
          break;
        }
        txn.push_back(OwnedEventLite::From(**more));
      }
      const std::uint64_t first = txn.front().e.offset, count = txn.size();
      for (std::uint64_t i = 0; i < count; ++i) TXJ_RETURN_IF_ERROR(Publish(txn[i].e, first, count, i));
      next_ = first + count;
      TXJ_RETURN_IF_ERROR(store_->save(name_, next_));
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.next_offset = next_;
        last_lsn_ = txn.back().e.lsn;
      }
      if (next_txn) {  // the cursor went past it: reopen there
        auto again = j_.open_cursor(next_);
        if (!again.ok()) return again.status();
        *cur = std::move(again).value();
      }
    }
  }

  // An event with owned bytes and an Event view onto them.
  struct OwnedEventLite {
    std::string topic, type, key, payload;
    bool has_key = false;
    Event e;
    static OwnedEventLite From(const Event& src) {
      OwnedEventLite o;
      o.topic = src.topic;
      o.type = src.type;
      o.payload = src.payload;
      o.has_key = src.key.has_value();
      if (src.key) o.key = *src.key;
      o.e = src;
      return o;
    }
    OwnedEventLite() = default;
    OwnedEventLite(const OwnedEventLite& x) { *this = x; }
    OwnedEventLite& operator=(const OwnedEventLite& x) {
      topic = x.topic;
      type = x.type;
      key = x.key;
      payload = x.payload;
      has_key = x.has_key;
      e = x.e;
      e.topic = topic;
      e.type = type;
      e.payload = payload;
      e.key = has_key ? std::optional<std::string_view>(key) : std::nullopt;
      return *this;
    }
  };

  Journal& j_;
  std::unique_ptr<OffsetStore> store_;
  std::string name_;
  Link link_;
  std::uint64_t next_ = 0;
  mutable std::mutex mu_;
  ReplicatorStats stats_;
  std::uint64_t last_lsn_ = 0;
};

class NatsMirror final : public Mirror {
 public:
  NatsMirror(Journal& j, ReplicationOptions o, std::unique_ptr<OffsetStore> store, internal::UserTables* tables)
      : j_(j), store_(std::move(store)), tables_(tables), name_("mirror:" + o.stream) {
    link_.o = std::move(o);
  }
  ~NatsMirror() override { delete tables_; }

  Status run(std::stop_token stop) override {
    for (;;) {
      if (stop.stop_requested()) return Status::Cancelled("mirror stopped");
      auto n = apply_available();
      if (!n.ok() && (n.status().code() == Code::kInvalidArgument || n.status().code() == Code::kCorruption)) {
        return n.status();
      }
      if (!n.ok() || *n == 0) Sleep(stop, std::chrono::milliseconds(n.ok() ? 20 : link_.o.retry_wait.count()));
    }
  }

  Result<std::uint64_t> apply_available() override {
    TXJ_RETURN_IF_ERROR(link_.Connect());
    auto seq = store_->load(name_);
    if (!seq.ok()) return seq.status();
    std::uint64_t next_seq = *seq == 0 ? 1 : *seq;
    auto last = link_.LastSeq();
    if (!last.ok()) return last.status();
    std::uint64_t applied = 0;
    struct Part {
      std::string topic, type, key, payload;
      bool has_key;
      std::uint64_t ts;
    };
    std::vector<Part> buf;
    std::uint64_t buf_first = 0, buf_count = 0, buf_start_seq = next_seq;
    for (std::uint64_t s = next_seq; s <= *last; ++s) {
      natsMsg* m = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus st = js_GetMsg(&m, link_.js, link_.o.stream.c_str(), s, nullptr, &jerr);
      if (st != NATS_OK) {
        // Not readable now (a leader change, a node restarting): stop this
        // pass; the next one starts again from the last applied message.
        Status err = Nats(st, "read message " + std::to_string(s) + " of " + link_.o.stream, jerr);
        if (applied > 0) return applied;
        return err;
      }
      bool ok = true;
      const char* jid = Header(m, "Txj-Journal");
      const std::uint64_t first = HeaderU64(m, "Txj-First", &ok), count = HeaderU64(m, "Txj-Count", &ok),
                          index = HeaderU64(m, "Txj-Index", &ok), ts = HeaderU64(m, "Txj-Ts", &ok);
      const char* topic = Header(m, "Txj-Topic");
      const char* type = Header(m, "Txj-Type");
      const char* key = Header(m, "Txj-Key");
      Part p{topic ? topic : "", type ? type : "", "", std::string(natsMsg_GetData(m), natsMsg_GetDataLength(m)),
             key != nullptr, ts};
      if (key && !internal::HexDecode(key, &p.key)) ok = false;
      std::string source = jid ? jid : "";
      natsMsg_Destroy(m);
      if (!ok || !topic || !type || source.empty()) {
        return Status::Corruption("message " + std::to_string(s) + " of " + link_.o.stream + " lacks txjournal framing");
      }
      TXJ_RETURN_IF_ERROR(CheckSource(source));
      if (index == 0) {
        buf.clear();
        buf_first = first;
        buf_count = count;
        buf_start_seq = s;
      } else if (buf.empty() || first != buf_first || index != buf.size()) {
        continue;  // the tail of a transaction whose start was republished later
      }
      buf.push_back(std::move(p));
      if (buf.size() < buf_count) continue;
      // A whole transaction: apply it all or nothing.
      const std::uint64_t have = j_.next_offset();
      if (buf_first > have) {
        return Status::Corruption("mirror gap: the stream continues at offset " + std::to_string(buf_first) +
                                  " but the mirror holds only up to " + std::to_string(have));
      }
      if (buf_first == have) {
        auto tx = j_.begin();
        if (!tx.ok()) return tx.status();
        for (const auto& e : buf) {
          AppendOptions o;
          if (e.has_key) o.key = e.key;
          o.timestamp_ns = e.ts;
          TXJ_RETURN_IF_ERROR(tx->append(e.topic, e.type, e.payload, o));
        }
        auto info = tx->commit();
        if (!info.ok()) return info.status();
        ++applied;
      }
      buf.clear();
      TXJ_RETURN_IF_ERROR(store_->save(name_, s + 1));
      (void)buf_start_seq;
    }
    return applied;
  }

 private:
  Status CheckSource(const std::string& source) {
    if (source_.empty()) {
      auto stored = tables_->Get("mirror", "source");
      if (!stored.ok()) return stored.status();
      if (stored->has_value()) {
        source_ = **stored;
      } else {
        TXJ_RETURN_IF_ERROR(tables_->Write([&](KvTxn& t) { return t.put("mirror", "source", source); }));
        source_ = source;
      }
    }
    if (source != source_) {
      return Status::InvalidArgument("mirror of journal " + source_ + " refuses messages of journal " + source);
    }
    return Status::OK();
  }

  Journal& j_;
  std::unique_ptr<OffsetStore> store_;
  internal::UserTables* tables_;
  std::string name_;
  std::string source_;
  Link link_;
};

}  // namespace

Result<std::unique_ptr<Replicator>> Replicator::open(Journal& journal, ReplicationOptions options) {
  static OneTimeInit init;
  auto store = OffsetStore::open(journal);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Replicator>(
      std::make_unique<NatsReplicator>(journal, std::move(options), std::move(store).value()));
}

Result<std::unique_ptr<Mirror>> Mirror::open(Journal& journal, ReplicationOptions options) {
  static OneTimeInit init;
  auto store = OffsetStore::open(journal);
  if (!store.ok()) return store.status();
  auto* tables = internal::OpenUserTables(journal).release();
  return std::unique_ptr<Mirror>(
      std::make_unique<NatsMirror>(journal, std::move(options), std::move(store).value(), tables));
}

}  // namespace txj
