// base: the frame format of kiln's two-way streams (exec output, shell): one byte of type, four
// bytes of big-endian payload length, then the payload. Both the daemon and the CLI speak it.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

inline std::string FrameHeader(char type, uint32_t length) {
  return {type, static_cast<char>(length >> 24), static_cast<char>(length >> 16),
          static_cast<char>(length >> 8), static_cast<char>(length)};
}

// Collects bytes as they arrive and hands out complete frames.
class FrameReader {
 public:
  void Append(const char* data, size_t n) { buf_.append(data, n); }
  // The next complete frame, if one has arrived.
  bool Next(char& type, std::string& payload) {
    if (buf_.size() < 5) return false;
    uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(buf_[1])) << 24) |
                   (static_cast<uint32_t>(static_cast<uint8_t>(buf_[2])) << 16) |
                   (static_cast<uint32_t>(static_cast<uint8_t>(buf_[3])) << 8) |
                   static_cast<uint32_t>(static_cast<uint8_t>(buf_[4]));
    if (buf_.size() < 5 + static_cast<size_t>(len)) return false;
    type = buf_[0];
    payload.assign(buf_, 5, len);
    buf_.erase(0, 5 + len);
    return true;
  }

 private:
  std::string buf_;
};

}  // namespace kiln
