// An LMDB key-value store as a participant of multi-store sessions.
#include <sys/stat.h>

#include "staged_ops.h"
#include "staged_session.h"
#include "txjournal/committable.h"
#include "user_tables.h"

namespace txj {

namespace {
constexpr std::string_view kData = "data";
constexpr std::string_view kKvStaged = "staged";
constexpr std::string_view kKvDone = "done";
}  // namespace

struct KvParticipant::Impl {
  MDB_env* env = nullptr;
  std::unique_ptr<internal::UserTables> tables;
  // Staged: pairs of key, value (nullopt value = delete).
  internal::StagedSession session{"kv participant", kKvStaged};

  ~Impl() {
    tables.reset();
    if (env) mdb_env_close(env);
  }
};

KvParticipant::KvParticipant() : p_(std::make_unique<Impl>()) {}
KvParticipant::~KvParticipant() = default;

Result<std::unique_ptr<KvParticipant>> KvParticipant::open(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "create " + path);
  auto kv = std::unique_ptr<KvParticipant>(new KvParticipant());
  TXJ_RETURN_IF_ERROR(internal::LmdbStatus(mdb_env_create(&kv->p_->env), "env_create for " + path));
  mdb_env_set_maxdbs(kv->p_->env, 16);
  mdb_env_set_mapsize(kv->p_->env, std::size_t{1} << 32);
  TXJ_RETURN_IF_ERROR(internal::LmdbStatus(mdb_env_open(kv->p_->env, path.c_str(), MDB_NOTLS, 0600), "env_open " + path));
  kv->p_->tables = std::make_unique<internal::UserTables>(kv->p_->env, path);
  return kv;
}

Status KvParticipant::put(std::string_view key, std::string_view value) {
  TXJ_RETURN_IF_ERROR(p_->session.InSession());
  p_->session.staged().emplace_back(std::string(key));
  p_->session.staged().emplace_back(std::string(value));
  return Status::OK();
}

Status KvParticipant::del(std::string_view key) {
  TXJ_RETURN_IF_ERROR(p_->session.InSession());
  p_->session.staged().emplace_back(std::string(key));
  p_->session.staged().emplace_back(std::nullopt);
  return Status::OK();
}

Result<std::optional<std::string>> KvParticipant::get(std::string_view key) { return p_->tables->Get(kData, key); }

Status KvParticipant::begin(std::string_view key) { return p_->session.Begin(key); }

Status KvParticipant::begin_recovery(std::string_view key) {
  p_->session.Enter(key);
  auto v = p_->session.Prepared(*p_->tables, key);
  if (!v.ok()) return v.status();
  if (v->has_value()) {
    auto f = internal::DecodeFields(**v, "staged kv operations of session " + std::string(key));
    if (!f.ok()) return f.status();
    p_->session.staged() = std::move(f).value();
  }
  return Status::OK();
}

Status KvParticipant::prepare(std::string_view key) {
  TXJ_RETURN_IF_ERROR(p_->session.Need(key));
  return p_->session.Prepare(*p_->tables, key, internal::EncodeFields(p_->session.staged()));
}

Result<std::string> KvParticipant::commit(std::string_view key) {
  TXJ_RETURN_IF_ERROR(p_->session.Need(key));
  const auto& ops = p_->session.staged();
  std::string id = internal::Id128(internal::EncodeFields(ops));
  // Applying, recording the id and dropping the staged copy are one LMDB
  // transaction: a repeated commit finds the id and changes nothing.
  Status s = p_->tables->Write([&](KvTxn& t) -> Status {
    auto done = t.get(kKvDone, key);
    if (!done.ok()) return done.status();
    if (done->has_value()) {
      id = **done;
      return Status::OK();
    }
    for (std::size_t i = 0; i + 2 <= ops.size(); i += 2) {
      const std::string& k = ops[i].value_or("");
      TXJ_RETURN_IF_ERROR(ops[i + 1] ? t.put(kData, k, *ops[i + 1]) : t.del(kData, k));
    }
    TXJ_RETURN_IF_ERROR(t.put(kKvDone, key, id));
    return t.del(kKvStaged, key);
  });
  if (!s.ok()) return s;
  p_->session.Leave();
  return id;
}

Status KvParticipant::cancel() { return p_->session.Cancel(*p_->tables); }

}  // namespace txj
