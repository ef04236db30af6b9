#include "base/parallel.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace kiln {

Status ForEachParallel(size_t n, int parallel, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::optional<Error> first;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (first) return;
      }
      size_t i = next++;
      if (i >= n) return;
      Status st = fn(i);
      if (!st) {
        std::lock_guard lock(mu);
        if (!first) first = st.error();
        return;
      }
    }
  };
  size_t threads = std::min<size_t>(n, static_cast<size_t>(std::max(1, parallel)));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (first) return *first;
  return Ok();
}

}  // namespace kiln
