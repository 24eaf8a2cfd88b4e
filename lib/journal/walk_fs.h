// WalkJournal (txjournal/walk.h) through a given file system: the fuzz
// targets walk journals held in memory (fuzz/mem_fs.h).
#ifndef TXJOURNAL_LIB_WALK_FS_H_
#define TXJOURNAL_LIB_WALK_FS_H_

#include <functional>
#include <memory>
#include <string>

#include "txjournal/file_system.h"
#include "txjournal/walk.h"

namespace txj::internal {

// WalkJournal with every file system call of the walk going to `fs`.
Result<WalkReport> WalkJournalOn(const std::shared_ptr<FileSystem>& fs, const std::string& dir,
                                 const std::function<void(const RawRecord&)>& visit = {},
                                 const std::function<void(const WalkStart&)>& on_start = {});

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_WALK_FS_H_
