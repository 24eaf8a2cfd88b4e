// A FileSystem that forwards every call, for the tests and journal-bench
// to derive from: no test framework here.
#ifndef TXJOURNAL_TESTS_FORWARDING_FS_H_
#define TXJOURNAL_TESTS_FORWARDING_FS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "txjournal/file_system.h"

namespace txj::test {

// A FileSystem that passes every call to the default one: derive from it
// and override the calls a test watches or changes.
class ForwardingFileSystem : public FileSystem {
 public:
  int Open(const std::string& p, int f, mode_t m, int* fd) override { return base_->Open(p, f, m, fd); }
  int Close(int fd) override { return base_->Close(fd); }
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override { return base_->PWrite(fd, d, n, o); }
  int PRead(int fd, void* d, std::size_t n, std::uint64_t o, std::size_t* g) override {
    return base_->PRead(fd, d, n, o, g);
  }
  int Allocate(int fd, std::uint64_t o, std::uint64_t n) override { return base_->Allocate(fd, o, n); }
  int Truncate(int fd, std::uint64_t s) override { return base_->Truncate(fd, s); }
  int DataSync(int fd) override { return base_->DataSync(fd); }
  int FileSize(int fd, std::uint64_t* s) override { return base_->FileSize(fd, s); }
  int Map(int fd, std::uint64_t o, std::size_t n, bool w, void** a) override { return base_->Map(fd, o, n, w, a); }
  int Unmap(void* a, std::size_t n) override { return base_->Unmap(a, n); }
  int Rename(const std::string& f, const std::string& t) override { return base_->Rename(f, t); }
  int Unlink(const std::string& p) override { return base_->Unlink(p); }
  int MakeDir(const std::string& p, mode_t m) override { return base_->MakeDir(p, m); }
  int SyncDir(const std::string& p) override { return base_->SyncDir(p); }
  int ListDir(const std::string& d, std::vector<std::string>* n) override { return base_->ListDir(d, n); }
  int SetOwnerAndMode(int fd, uid_t u, gid_t g, mode_t m) override { return base_->SetOwnerAndMode(fd, u, g, m); }
  int RemoveDir(const std::string& p) override { return base_->RemoveDir(p); }
  int IsSymlink(const std::string& p, bool* l) override { return base_->IsSymlink(p, l); }
  int CheckOnlyOpen(int fd) override { return base_->CheckOnlyOpen(fd); }
  int WrittenPrefix(int fd, std::uint64_t s, std::uint64_t* e) override { return base_->WrittenPrefix(fd, s, e); }
  int DropCachedPages(int fd, std::uint64_t o, std::uint64_t n) override { return base_->DropCachedPages(fd, o, n); }

 protected:
  std::shared_ptr<FileSystem> base_ = DefaultFileSystem();
};

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_FORWARDING_FS_H_
