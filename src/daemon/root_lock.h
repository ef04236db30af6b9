// daemon: the exclusive lock a kilnd holds on its root, so two daemons never share one.
#pragma once

#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace kiln {

// Takes flock(LOCK_EX|LOCK_NB) on <root>/kilnd.lock and writes our pid into it. Busy, naming the
// holder's pid, when another kilnd has it. Released when the process exits, however it exits.
Result<UniqueFd> LockRoot(const std::string& root);

}  // namespace kiln
