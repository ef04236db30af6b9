#include "registry/auth.h"

#include <cctype>

namespace kiln::registry {
namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

Result<std::vector<Challenge>> ParseChallenges(std::string_view h) {
  std::vector<Challenge> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i;
  };
  auto bad = [&](std::string_view why) {
    return Error::InvalidArgument("registry sent a malformed WWW-Authenticate header (" +
                                  std::string(why) + "): " + std::string(h.substr(0, 200)));
  };
  while (true) {
    skip_ws();
    while (i < h.size() && h[i] == ',') ++i, skip_ws();
    if (i >= h.size()) break;
    size_t start = i;
    while (i < h.size() && IsTokenChar(h[i])) ++i;
    if (i == start) return bad("expected an auth scheme");
    Challenge c;
    c.scheme = Lower(h.substr(start, i - start));
    // Parameters: name=value or name="quoted", separated by commas. A token followed by
    // something other than '=' starts the next challenge.
    while (true) {
      skip_ws();
      size_t save = i;
      if (i < h.size() && h[i] == ',') ++i, skip_ws();
      size_t ks = i;
      while (i < h.size() && IsTokenChar(h[i])) ++i;
      if (i == ks) break;
      std::string key = Lower(h.substr(ks, i - ks));
      skip_ws();
      if (i >= h.size() || h[i] != '=') {
        i = save;  // the next challenge's scheme
        break;
      }
      ++i;
      skip_ws();
      std::string value;
      if (i < h.size() && h[i] == '"') {
        ++i;
        bool closed = false;
        while (i < h.size()) {
          char ch = h[i++];
          if (ch == '\\' && i < h.size()) {
            value += h[i++];
          } else if (ch == '"') {
            closed = true;
            break;
          } else {
            value += ch;
          }
        }
        if (!closed) return bad("unterminated quoted string");
      } else {
        size_t vs = i;
        while (i < h.size() && h[i] != ',' && h[i] != ' ') ++i;
        value = std::string(h.substr(vs, i - vs));
      }
      c.params[key] = value;
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) return bad("no challenge");
  return out;
}

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos || pad > 0) return Error::InvalidArgument("not valid base64");
    acc = (acc << 6) | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2) return Error::InvalidArgument("not valid base64");
  return out;
}

}  // namespace kiln::registry
