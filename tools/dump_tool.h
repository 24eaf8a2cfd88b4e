// journal-dump as a function, so tests run it in-process.
#ifndef TXJOURNAL_TOOLS_DUMP_TOOL_H_
#define TXJOURNAL_TOOLS_DUMP_TOOL_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "txjournal/file_system.h"
#include "txjournal/walk.h"

namespace txj::tools {

// Exit codes of journal-dump. Stable: scripts rely on them.
inline constexpr int kDumpOk = 0;          // sound (also: only a crash tail, reported on stderr)
inline constexpr int kDumpDamaged = 1;     // damaged data: what and where on stderr
inline constexpr int kDumpUsage = 2;       // bad command line
inline constexpr int kDumpUnreadable = 3;  // no journal there, permissions, unsupported version
inline constexpr int kDumpWriteError = 4;  // the output could not be written (full, closed): it is incomplete

// fuzz/dump_fuzzer.cc builds journals in memory: where the tool opens and
// walks them. Empty: the default file system, WalkJournal.
struct DumpEnv {
  std::shared_ptr<FileSystem> file_system;  // for the read-only opens
  std::function<Result<WalkReport>(const std::string& dir, const std::function<void(const RawRecord&)>& visit,
                                   const std::function<void(const WalkStart&)>& on_start)>
      walk;
};

// `args` excludes the program name.
int RunDump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const DumpEnv& env = {});

}  // namespace txj::tools

#endif  // TXJOURNAL_TOOLS_DUMP_TOOL_H_
