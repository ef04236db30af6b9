#include "base/error.h"

#include <array>
#include <cstring>

namespace kiln {
namespace {

constexpr std::array<std::pair<ErrorCode, std::string_view>, 10> kNames = {{
    {ErrorCode::kInvalidArgument, "InvalidArgument"},
    {ErrorCode::kNotFound, "NotFound"},
    {ErrorCode::kAlreadyExists, "AlreadyExists"},
    {ErrorCode::kCorruption, "Corruption"},
    {ErrorCode::kIO, "IO"},
    {ErrorCode::kBusy, "Busy"},
    {ErrorCode::kUnsupported, "Unsupported"},
    {ErrorCode::kConflict, "Conflict"},
    {ErrorCode::kPermissionDenied, "PermissionDenied"},
    {ErrorCode::kInternal, "Internal"},
}};

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  for (const auto& [c, name] : kNames)
    if (c == code) return name;
  return "Internal";
}

ErrorCode ErrorCodeFromName(std::string_view name) {
  for (const auto& [c, n] : kNames)
    if (n == name) return c;
  return ErrorCode::kInternal;
}

Error Error::Sys(int err, std::string_view what) {
  ErrorCode code = ErrorCode::kIO;
  switch (err) {
    case ENOENT:
      code = ErrorCode::kNotFound;
      break;
    case EEXIST:
      code = ErrorCode::kAlreadyExists;
      break;
    case EBUSY:
      code = ErrorCode::kBusy;
      break;
    case EINVAL:
      code = ErrorCode::kInvalidArgument;
      break;
    default:
      break;
  }
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  return Error(code, std::move(msg), err);
}

Error& Error::Context(std::string_view context) & {
  message_.insert(0, std::string(context) + ": ");
  return *this;
}

Error&& Error::Context(std::string_view context) && {
  message_.insert(0, std::string(context) + ": ");
  return std::move(*this);
}

}  // namespace kiln
