// base: EC2-style resource ids ("ami-" + 17 hex) and the name rules users see.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace kiln {

// prefix + 17 random lowercase hex digits, from the kernel's CSPRNG.
std::string NewId(std::string_view prefix);
// True when s has the form prefix + 17 lowercase hex.
bool IsId(std::string_view s, std::string_view prefix);
// Names: 1-128 chars of [A-Za-z0-9._-], starting with a letter or digit, and not shaped like an
// id of any kind (so "ami-..." always means an id).
Status ValidateName(std::string_view name, std::string_view what);

// Seconds since the epoch as RFC 3339 UTC ("2026-12-03T16:52:16Z").
std::string FormatTime(long long unix_seconds);
long long NowSeconds();

}  // namespace kiln
