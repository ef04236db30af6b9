// base: the error value every fallible kiln call returns, and Result<T>.
//
// An Error carries a code (what kind of failure, used to pick exit codes and HTTP statuses), the
// errno when the failure came from the OS, and a message that gains context on the way up:
// "import debian: layer 2: open blobs/sha256/ab..: No such file or directory".
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kiln {

enum class ErrorCode {
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kCorruption,
  kIO,
  kBusy,
  kUnsupported,
  kConflict,
  kPermissionDenied,  // a registry refused the credentials, or access to a repository
  kInternal,
};

std::string_view ErrorCodeName(ErrorCode code);
// The inverse of ErrorCodeName; unknown names map to kInternal.
ErrorCode ErrorCodeFromName(std::string_view name);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message, int sys_errno = 0)
      : code_(code), errno_(sys_errno), message_(std::move(message)) {}

  static Error InvalidArgument(std::string m) {
    return {ErrorCode::kInvalidArgument, std::move(m)};
  }
  static Error NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
  static Error AlreadyExists(std::string m) { return {ErrorCode::kAlreadyExists, std::move(m)}; }
  static Error Corruption(std::string m) { return {ErrorCode::kCorruption, std::move(m)}; }
  static Error Busy(std::string m) { return {ErrorCode::kBusy, std::move(m)}; }
  static Error Unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
  static Error Conflict(std::string m) { return {ErrorCode::kConflict, std::move(m)}; }
  static Error PermissionDenied(std::string m) {
    return {ErrorCode::kPermissionDenied, std::move(m)};
  }
  static Error Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }
  // An OS failure: "what: strerror(err)". ENOENT maps to kNotFound, EEXIST to kAlreadyExists,
  // EBUSY to kBusy, ENOSPC/EDQUOT keep kIO (the message says "No space left on device").
  static Error Sys(int err, std::string_view what);

  ErrorCode code() const { return code_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return message_; }

  // Prepends "context: " to the message; returns *this for chaining on the way up.
  Error& Context(std::string_view context) &;
  Error&& Context(std::string_view context) &&;

 private:
  ErrorCode code_;
  int errno_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design, like std::expected
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  Error& error() & { return std::get<1>(v_); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const {}
  Error& error() & { return err_; }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status Ok() {
  return {};
}

}  // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

// TRY(expr): return the error of a Result/Status expression to the caller.
#define TRY(expr)                                                      \
  do {                                                                 \
    auto&& kiln_try_result_ = (expr);                                  \
    if (!kiln_try_result_) return std::move(kiln_try_result_).error(); \
  } while (0)

// TRY_CTX(expr, context): like TRY, prepending context to the error message.
#define TRY_CTX(expr, context)                                                          \
  do {                                                                                  \
    auto&& kiln_try_result_ = (expr);                                                   \
    if (!kiln_try_result_) return std::move(kiln_try_result_).error().Context(context); \
  } while (0)

// ASSIGN_OR_RETURN(decl, expr): declare decl from the value of a Result, or return its error.
#define ASSIGN_OR_RETURN(decl, expr) \
  ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(kiln_r_, __LINE__), decl, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                           \
  if (!tmp) return std::move(tmp).error();     \
  decl = std::move(tmp).value()
