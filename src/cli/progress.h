// cli: a progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

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

// One line per item (each blob of a pull or push), redrawn in place on a terminal.
class MultiProgress {
 public:
  explicit MultiProgress(bool enabled);
  ~MultiProgress() { Finish(); }
  void Update(const std::string& id, const std::string& status, uint64_t done, uint64_t total);
  // Leaves the final lines on screen.
  void Finish();

 private:
  struct Line {
    std::string id, status;
    uint64_t done = 0, total = 0;
  };
  void Draw();
  bool enabled_;
  std::vector<Line> lines_;
  size_t drawn_ = 0;  // lines on screen
  std::chrono::steady_clock::time_point last_;
};

std::string HumanBytes(uint64_t n);

}  // namespace kiln::cli
