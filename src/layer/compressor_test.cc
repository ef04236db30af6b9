#include "layer/compressor.h"

#include <random>

#include <gtest/gtest.h>

#include "base/sha256.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

using testing::StringSource;

Result<std::string> CompressAll(const std::string& input, Compression c, int threads) {
  StringSource src(input);
  std::string out;
  TRY(Compress(&src, CompressOptions{c, -1, threads}, [&](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
    return Ok();
  }));
  return out;
}

Result<std::string> Decompress(const std::string& data) {
  StringSource src(data);
  DecompressingSource d(&src);
  std::string out;
  char buf[65536];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, d.Read(buf, sizeof buf));
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

// Several MiB with compressible and random stretches, so blocks and their dictionaries matter.
std::string MixedInput(size_t size) {
  std::mt19937 rng(42);
  std::string s;
  while (s.size() < size) {
    if (rng() % 2) {
      for (int i = 0; i < 40; ++i)
        s += "the same line again, and again, and again " + std::to_string(s.size() % 97) + "\n";
    } else {
      for (int i = 0; i < 3000; ++i) s += static_cast<char>(rng());
    }
  }
  s.resize(size);
  return s;
}

TEST(CompressorTest, RoundTripsEveryFormatAndSize) {
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{(1 << 20) - 1}, size_t{1 << 20}, size_t{(5 << 20) + 123}}) {
    std::string in = MixedInput(size);
    for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
      auto out = CompressAll(in, c, 2);
      ASSERT_TRUE(out) << out.error().message();
      auto back = c == Compression::kNone ? Result<std::string>(*out) : Decompress(*out);
      ASSERT_TRUE(back) << CompressionName(c) << " size " << size << ": " << back.error().message();
      EXPECT_EQ(DigestOf(*back), DigestOf(in)) << CompressionName(c) << " size " << size;
      if (c != Compression::kNone && size > (1 << 20)) {
        EXPECT_LT(out->size(), in.size());
      }
    }
  }
}

// A layer pushed from a 2-core and a 16-core host must get the same digest.
TEST(CompressorTest, OutputDoesNotDependOnThreadCount) {
  std::string in = MixedInput((6 << 20) + 7);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    auto one = CompressAll(in, c, 1), four = CompressAll(in, c, 4), nine = CompressAll(in, c, 9);
    ASSERT_TRUE(one && four && nine);
    EXPECT_EQ(DigestOf(*one), DigestOf(*four)) << CompressionName(c);
    EXPECT_EQ(DigestOf(*one), DigestOf(*nine)) << CompressionName(c);
  }
}

std::string RandomBytes(size_t n) {
  std::mt19937 rng(7);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Random data (compressed files, media) is stored, not deflated; text next to it still shrinks.
TEST(CompressorTest, GzipStoresIncompressibleBlocksAndDeflatesTheRest) {
  auto rnd = CompressAll(RandomBytes(2 << 20), Compression::kGzip, 2);
  ASSERT_TRUE(rnd);
  // The first deflate block header follows the 10-byte gzip header: BTYPE 00 means stored.
  EXPECT_EQ((static_cast<unsigned char>((*rnd)[10]) >> 1) & 3, 0);
  EXPECT_LT(rnd->size(), (2u << 20) + (2u << 20) / 100);
  std::string text;
  while (text.size() < (2u << 20))
    text += "a line of a config file, key = value " + std::to_string(text.size() % 1000) + "\n";
  auto txt = CompressAll(text, Compression::kGzip, 2);
  ASSERT_TRUE(txt);
  EXPECT_NE((static_cast<unsigned char>((*txt)[10]) >> 1) & 3, 0);  // Huffman-coded
  std::string both = RandomBytes(3 << 20) + text;
  auto mixed = CompressAll(both, Compression::kGzip, 3);
  ASSERT_TRUE(mixed);
  EXPECT_LT(mixed->size(), (3u << 20) + text.size() / 4);
  auto back = Decompress(*mixed);
  ASSERT_TRUE(back);
  EXPECT_EQ(DigestOf(*back), DigestOf(both));
}

TEST(CompressorTest, GzipOutputIsOneStandardMember) {
  auto out = CompressAll(MixedInput(3 << 20), Compression::kGzip, 3);
  ASSERT_TRUE(out);
  ASSERT_GE(out->size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>((*out)[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>((*out)[1]), 0x8b);
  // zlib's own inflate (gzip mode) must read it through to a good CRC and length.
  z_stream z{};
  ASSERT_EQ(inflateInit2(&z, 16 + 15), Z_OK);
  std::string back(4 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(out->data());
  z.avail_in = static_cast<uInt>(out->size());
  z.next_out = reinterpret_cast<Bytef*>(back.data());
  z.avail_out = static_cast<uInt>(back.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  EXPECT_EQ(z.avail_in, 0u);  // nothing after the one member
  inflateEnd(&z);
}

}  // namespace
}  // namespace kiln
