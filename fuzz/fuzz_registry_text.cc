// Fuzzes what registry users and servers send as text: image references, WWW-Authenticate
// challenges, base64 credentials, and the frames of exec/shell streams.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/frames.h"
#include "registry/auth.h"
#include "registry/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto ref = kiln::registry::ParseReference(text)) {
    // What parses prints back to something that parses to the same thing.
    auto again = kiln::registry::ParseReference(ref->String());
    if (!again || again->String() != ref->String()) __builtin_trap();
  }
  (void)kiln::registry::ParseChallenges(text);
  if (auto raw = kiln::registry::Base64Decode(text)) {
    auto back = kiln::registry::Base64Decode(kiln::registry::Base64Encode(*raw));
    if (!back || *back != *raw) __builtin_trap();
  }
  kiln::FrameReader frames;
  frames.Append(text.data(), text.size());
  char type;
  std::string payload;
  while (frames.Next(type, payload)) {
  }
  return 0;
}
