#include "load_tool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

// journal-load links the shared library and uses its public API only: the
// dump format and its loader are txjournal/dump.h.
#include "cli_parse.h"
#include "tool_util.h"
#include "txjournal/dump.h"
#include "txjournal/import.h"
#include "txjournal/journal.h"

namespace txj::tools {

namespace {

constexpr const char* kLoadHelp =
    "Write a txjournal journal from JSON lines: {\"op\":\"begin\"} opens a transaction (nested in the innermost "
    "open one), {\"op\":\"event\",\"topic\":..,\"type\":..,\"key\":..,\"data\":.. or \"data_b64\":..,\"ts\":..} "
    "appends, {\"op\":\"commit\"} / {\"op\":\"rollback\"} end the innermost. Prints one line per top-level "
    "commit (and per top-level gap: offsets and transaction ids kept taken).\n"
    "The output of journal-dump --raw --format jsonl (no filter) is a copy: it starts with {\"op\":\"journal\"} "
    "and ends with {\"op\":\"end\"}, and carries the gaps compaction and retention left ({\"op\":\"gap\"}), "
    "snapshots, compaction marks and retention. A copy loads only into a new, empty journal, and gives it the "
    "same offsets, transaction ids, committed events and topic states as the source, or is refused; into a "
    "directory that does not exist yet it is built beside it and renamed into place once complete.\n"
    "Exit status: 0 done; 1 malformed input (the line is named; the open transaction is rolled back), an input "
    "read error, or a copy that cannot be reproduced or is incomplete; 2 usage error (also: input that cannot be "
    "opened, a directory, closed standard input); 3 the journal refused; 4 the commit lines could not be "
    "written.";

struct LoadArgs {
  std::string dir, file = "-", durability = "commit", segment_size_text;
  Arg segment_size_opt;
  std::optional<std::uint64_t> segment_size;  // --segment-size, or a copy's
};

void AddOptions(CommandLine& app, LoadArgs& a) {
  app.option("dir", a.dir, "journal directory (created if missing)").required();
  app.option("file", a.file, "input, - for stdin").show_default();
  app.option("--durability", a.durability, "none, commit or periodic")
      .one_of({"none", "commit", "periodic"})
      .show_default();
  a.segment_size_opt = app.option("--segment-size", a.segment_size_text,
                                  "segment size in bytes for a journal it creates: a multiple of 4096 from 65536 "
                                  "to 2^40 (default 64 MiB, or the source's for a copy)");
}

// --segment-size: nullopt when absent or valid, else why not.
std::optional<std::string> CheckSegmentSize(LoadArgs& a) {
  if (!a.segment_size_opt.given()) return std::nullopt;
  std::uint64_t v = 0;
  auto e = ParseU64("--segment-size", a.segment_size_text, kMinSegmentSize, kMaxSegmentSize, &v);
  if (!e && v % 4096 != 0) e = "--segment-size: " + a.segment_size_text + " is not a multiple of 4096";
  if (!e) a.segment_size = v;
  return e;
}

// The input: standard input, or the file named. nullopt when `*input` is
// set, else the exit code (the reason on `err`).
std::optional<int> OpenInput(const std::string& file, const LoadEnv& env, std::istream& in, std::ifstream& fin,
                             std::istream** input, std::ostream& err) {
  if (file == "-") {
    if (env.stdin_closed) {
      err << "journal-load: standard input is closed: name an input file, or give the input on standard input\n";
      return kLoadUsage;
    }
    *input = &in;
    return std::nullopt;
  }
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) {
    err << "journal-load: cannot read " << file << ": " << std::strerror(errno) << "\n";
    return kLoadUsage;
  }
  if (S_ISDIR(st.st_mode)) {
    err << "journal-load: cannot read " << file << ": it is a directory (the input is a file of JSON lines)\n";
    return kLoadUsage;
  }
  errno = 0;
  fin.open(file);
  if (!fin) {
    err << "journal-load: cannot read " << file << ": " << (errno ? std::strerror(errno) : "open failed") << "\n";
    return kLoadUsage;
  }
  *input = &fin;
  return std::nullopt;
}

std::string WithoutTrailingSlashes(std::string d) {
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d;
}

// A copy into a directory that does not exist yet is built beside it and
// renamed into place once complete: a copy refused halfway leaves nothing.
// Returns the directory to build in (empty: `dir` itself).
std::string StagingDir(const std::string& dir) {
  const std::string d = WithoutTrailingSlashes(dir);
  struct stat st;
  const std::string base = d.substr(d.rfind('/') == std::string::npos ? 0 : d.rfind('/') + 1);
  if (::lstat(d.c_str(), &st) != 0 && errno == ENOENT && !base.empty() && base != "." && base != "..") {
    std::string staging = d + ".loading-" + std::to_string(::getpid());
    std::error_code ec;
    std::filesystem::remove_all(staging, ec);  // left by a killed load of this pid number
    return staging;
  }
  return {};
}

// Removes the staging directory unless the copy was renamed into place.
struct Staging {
  bool active;
  std::string path;
  Result<std::unique_ptr<Journal>>* journal;
  bool kept = false;
  ~Staging() {
    if (!active || kept) return;
    journal->value().reset();  // closed (an open transaction rolled back) before its files go
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Moves the complete copy into place and syncs the directory holding it.
int KeepStagedCopy(Staging& staged, const std::string& dir, std::ostream& err) {
  const std::string d = WithoutTrailingSlashes(dir);
  if (::rename(staged.path.c_str(), d.c_str()) != 0) {
    err << "journal-load: cannot move the complete copy " << staged.path << " to " << d << ": "
        << std::strerror(errno) << "; nothing was loaded\n";
    return kLoadJournal;
  }
  staged.kept = true;
  const std::string parent =
      d.rfind('/') == std::string::npos ? "." : (d.rfind('/') == 0 ? "/" : d.substr(0, d.rfind('/')));
  const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    err << "journal-load: sync directory " << parent << ": " << std::strerror(errno) << "\n";
    if (fd >= 0) ::close(fd);
    return kLoadJournal;
  }
  ::close(fd);
  return kLoadOk;
}

// The lines applied to the open journal, and what is said about them.
class LoadRun {
 public:
  LoadRun(const LoadArgs& a, Journal& j, bool copy, bool staging, std::istream& input, std::ostream& out,
          std::ostream& err)
      : a_(a), j_(j), copy_(copy), staging_(staging), input_(input), out_(out), err_(err), loader_(j, copy) {}

  // From the first line with content (read already, numbered `lineno`) to
  // the end of the input.
  int Run(std::optional<std::string> first, std::uint64_t lineno, const std::string& input_name) {
    std::string line;
    for (bool have = first.has_value(); have; have = Next(&line, &lineno)) {
      if (first) line = *std::exchange(first, std::nullopt);
      auto applied = loader_.apply(line, lineno);
      if (!applied.ok()) return Fail(applied.status(), lineno);
      if (applied->kind == JsonlApplied::Kind::kNothing) continue;
      if (auto failed = Report(*applied, lineno)) return *failed;
    }
    if (input_.bad() || (!input_.eof() && input_.fail())) {
      const int e = errno;
      return Fail(loader_.fail(lineno + 1, "read error on " + input_name +
                                               (e ? std::string(": ") + std::strerror(e) : std::string())),
                  lineno + 1);
    }
    if (Status s = loader_.finish(lineno + 1); !s.ok()) return Fail(s, lineno + 1);
    return kLoadOk;
  }

 private:
  bool Next(std::string* line, std::uint64_t* lineno) {
    if (!std::getline(input_, *line)) return false;
    ++*lineno;
    return true;
  }

  int Fail(const Status& s, std::uint64_t lineno) {
    err_ << "journal-load: " << s.message() << "\n";
    if (staging_) {
      err_ << "journal-load: nothing was loaded: " << a_.dir << " was not created\n";
    } else if (copy_) {
      err_ << "journal-load: " << a_.dir << " holds an incomplete copy (what came before line " << lineno
           << "): remove it before loading again\n";
    }
    return s.code() == Code::kInvalidArgument ? kLoadBadInput : kLoadJournal;
  }

  // A top-level commit or gap, reported as soon as it is written. nullopt
  // unless the report could not be written.
  std::optional<int> Report(const JsonlApplied& applied, std::uint64_t lineno) {
    out_ << JsonlAppliedLine(applied) << std::endl;  // flushed as soon as the commit returned
    if (OutputOk(out_, err_, "journal-load")) return std::nullopt;
    err_ << "journal-load: stopped after line " << lineno;
    if (applied.kind == JsonlApplied::Kind::kGap) {
      err_ << (staging_ ? ": nothing was loaded, " + a_.dir + " was not created\n"
                        : std::string(": the gap is written, and so is everything before it\n"));
    } else {
      err_ << ": transaction " << applied.txn_id
           << (staging_ ? " was committed to the copy, which was not kept: " + a_.dir + " was not created\n"
                        : std::string(" is committed, and so is everything before it\n"));
    }
    (void)j_.close();
    return kLoadWriteError;
  }

  const LoadArgs& a_;
  Journal& j_;
  const bool copy_, staging_;
  std::istream& input_;
  std::ostream& out_;
  std::ostream& err_;
  JsonlLoader loader_;
};

// A copy loads only into a journal that never held anything.
std::optional<int> CheckEmptyForCopy(Journal& j, const std::string& dir, std::ostream& err) {
  auto pos = ImportPositionOf(j);
  if (!pos.ok()) {
    err << "journal-load: " << pos.status().ToString() << "\n";
    return kLoadJournal;
  }
  if (pos->empty) return std::nullopt;
  err << "journal-load: the input is a copy of a journal (journal-dump --raw --format jsonl), which loads only "
         "into a new, empty journal, and "
      << dir << " already holds transactions, gaps or snapshots (next offset " << pos->next_offset
      << ", next transaction id " << pos->next_txn_id << "); nothing was loaded\n";
  (void)j.close();
  return kLoadJournal;
}

// After the command line and the input: the journal opened (a copy staged
// beside a directory that does not exist yet), the lines applied, the
// journal closed and a staged copy moved into place.
int Load(LoadArgs& a, std::istream& input, const std::string& input_name, std::ostream& out, std::ostream& err,
         const LoadEnv& env) {
  std::string line;
  std::uint64_t lineno = 0;
  // The first line with content, read before the journal is opened: a
  // copy's header gives the segment size of the journal it creates.
  std::optional<std::string> first;
  while (std::getline(input, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    first = line;
    break;
  }
  const JsonlHeader header = first ? ParseJsonlHeader(*first) : JsonlHeader{};
  if (header.copy && !a.segment_size) a.segment_size = header.segment_size;
  Options o;
  o.segment_size = a.segment_size.value_or(64ull << 20);
  o.durability = a.durability == "none"       ? Durability::kNone
                 : a.durability == "periodic" ? Durability::kPeriodic
                                              : Durability::kCommit;
  const std::string staging_dir = header.copy ? StagingDir(a.dir) : std::string();
  const bool staging = !staging_dir.empty();
  const std::string open_dir = staging ? staging_dir : a.dir;
  auto opened = env.open ? env.open(open_dir, o) : Journal::open(open_dir, o);
  if (!opened.ok()) {
    err << "journal-load: " << opened.status().ToString() << "\n";
    if (staging) {
      std::error_code ec;
      std::filesystem::remove_all(open_dir, ec);
    }
    return kLoadJournal;
  }
  Journal& j = **opened;
  Staging staged{staging, open_dir, &opened};
  if (header.copy) {
    if (auto refused = CheckEmptyForCopy(j, a.dir, err)) return *refused;
  }
  {
    LoadRun run(a, j, header.copy, staging, input, out, err);
    if (const int rc = run.Run(first, lineno, input_name); rc != kLoadOk) return rc;
  }
  if (Status c = j.close(); !c.ok()) {
    err << "journal-load: " << c.ToString() << "\n";
    return kLoadJournal;
  }
  if (!staging) return kLoadOk;
  return KeepStagedCopy(staged, a.dir, err);
}

}  // namespace

int RunLoad(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err,
            const LoadEnv& env) {
  CommandLine app{kLoadHelp, "journal-load"};
  LoadArgs a;
  AddOptions(app, a);
  if (auto exit = ParseToolArgs(app, args, out, err, "journal-load",
                                {.ok = kLoadOk, .usage = kLoadUsage, .write_error = kLoadWriteError})) {
    return *exit;
  }
  if (auto e = CheckSegmentSize(a)) {
    err << "journal-load: " << *e << "\nRun with --help for usage.\n";
    return kLoadUsage;
  }
  std::ifstream fin;
  std::istream* input = nullptr;
  if (auto failed = OpenInput(a.file, env, in, fin, &input, err)) return *failed;
  return Load(a, *input, a.file == "-" ? "standard input" : a.file, out, err, env);
}

}  // namespace txj::tools
