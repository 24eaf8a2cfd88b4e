// journal-bench: sample statistics.
#ifndef TXJOURNAL_BENCH_STATS_H_
#define TXJOURNAL_BENCH_STATS_H_

#include <algorithm>
#include <vector>

namespace bench {

// The q-quantile (0..1) of `v` (copied and sorted); 0 for none.
inline double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}
inline double Median(const std::vector<double>& v) { return Quantile(v, 0.5); }
inline double Min(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
inline double Max(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

}  // namespace bench

#endif  // TXJOURNAL_BENCH_STATS_H_
