// Fuzzes the decoding of API request bodies: every route's body, exec's spec and shell's cmd.
// Input: one body, as any client on kilnd's socket could send it. A decoder must answer with a
// request or an InvalidArgument, never throw or crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/request_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto must_be_clean = [](const auto& r) {
    if (!r && r.error().code() != kiln::ErrorCode::kInvalidArgument) __builtin_trap();
  };
  must_be_clean(kiln::DecodeLaunch(body));
  must_be_clean(kiln::DecodeCreateImage(body));
  must_be_clean(kiln::DecodeTags(body));
  must_be_clean(kiln::DecodeVerify(body));
  must_be_clean(kiln::DecodeSnapshot(body));
  must_be_clean(kiln::DecodeRestore(body));
  must_be_clean(kiln::DecodeExecSpec(body));
  must_be_clean(kiln::DecodeCommand(body));
  must_be_clean(kiln::DecodePull(body));
  must_be_clean(kiln::DecodePush(body));
  must_be_clean(kiln::DecodeLogin(body));
  return 0;
}
