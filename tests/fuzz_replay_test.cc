// Replays the seed corpora of the record and recovery fuzz targets
// (fuzz/corpus/record, fuzz/corpus/recovery) through the same target code,
// built with the suite's compiler, so that every run of the suite checks
// them (the corpus holds the inputs of fixed fuzz findings). The dump and
// load targets need the tools library: fuzz/run.sh --replay runs them.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

#define LLVMFuzzerTestOneInput RecordFuzzOneInput
#include "../fuzz/record_fuzzer.cc"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput RecoveryFuzzOneInput
#include "../fuzz/recovery_fuzzer.cc"
#undef LLVMFuzzerTestOneInput

namespace {

namespace fs = std::filesystem;

// fuzz/corpus/<target> of the source tree: the build directory is inside
// it (or TXJ_FUZZ_CORPUS names the corpus root).
std::string CorpusDir(const std::string& target) {
  if (const char* c = std::getenv("TXJ_FUZZ_CORPUS")) return std::string(c) + "/" + target;
  fs::path p = fs::current_path();
  for (int up = 0; up < 5; ++up) {
    if (fs::is_directory(p / "fuzz" / "corpus" / target)) return (p / "fuzz" / "corpus" / target).string();
    p = p.parent_path();
  }
  return std::string();
}

int Replay(const std::string& target, int (*one)(const std::uint8_t*, std::size_t)) {
  const std::string dir = CorpusDir(target);
  INFO("corpus of ", target, " (set TXJ_FUZZ_CORPUS to the fuzz/corpus directory)");
  REQUIRE(!dir.empty());
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO("input ", e.path().string());
    CHECK(one(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) == 0);
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("the record decoder's fuzz corpus replays without a finding") {
  CHECK(Replay("record", RecordFuzzOneInput) > 10);
}

TEST_CASE("the recovery fuzz corpus replays without a finding") {
  CHECK(Replay("recovery", RecoveryFuzzOneInput) >= 4);
}
