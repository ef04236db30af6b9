// cli: a progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kiln::cli {

struct Progress {
  explicit Progress(std::string label, bool enabled);
  ~Progress();
  void Update(uint64_t done, uint64_t total);
  void Finish();

  std::string label;
  bool enabled;
  bool drawn = false;
  std::chrono::steady_clock::time_point start, last;
};

std::string HumanBytes(uint64_t n);

}  // namespace kiln::cli
