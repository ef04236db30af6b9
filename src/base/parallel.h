// base: running independent pieces of work on a few threads.
#pragma once

#include <cstddef>
#include <functional>

#include "base/error.h"

namespace kiln {

// Runs fn(0..n-1) on up to `parallel` threads (the caller's among them); the first error stops
// the rest from starting and is returned once every started call has finished.
Status ForEachParallel(size_t n, int parallel, const std::function<Status(size_t)>& fn);

}  // namespace kiln
