// The writer and the reader agree on every value type, and offsets follow the pad rule.
#include <gtest/gtest.h>

#include <span>

#include "format/gguf_reader.h"
#include "synth/gguf_writer.h"

namespace bitnet::detail {
namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(GgufRoundTrip, EveryValueTypeAndTensorOffsets) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_i32("i32", -5);
  w.add_u64("u64", 1ull << 40);
  w.add_f32("f32", 0.5f);
  w.add_bool("b", true);
  w.add_u32_array("llama.feed_forward_length", {10, 20});
  w.add_string_array("tokenizer.ggml.tokens", {"a", "bb", "ccc"});
  // F32 [3] = 12 bytes -> padded to 32; Q8_0 [64, 2] = 2*2*34 = 136 bytes.
  w.add_tensor("a", 0, {3}, 12);
  w.add_tensor("b", 8, {64, 2}, 136);
  const std::string h = w.header();
  std::string file = h;
  file.resize(w.file_bytes(), '\0');

  auto f = parse_gguf(as_bytes(file));
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ(f->version, 3u);
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(*f->get_u64("llama.block_count"), 2u);
  EXPECT_EQ(f->find("i32")->value.i, -5);
  EXPECT_EQ(*f->get_u64("u64"), 1ull << 40);
  EXPECT_DOUBLE_EQ(*f->get_f64("f32"), 0.5);
  EXPECT_EQ(*f->get_u64("b"), 1u);
  EXPECT_EQ(*f->get_int_array("llama.feed_forward_length"), (std::vector<std::uint64_t>{10, 20}));
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->value.count, 3u);
  // 8-byte length prefix per string + 1 + 2 + 3 bytes.
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->value.data_bytes, 3u * 8 + 6);
  ASSERT_EQ(f->tensors.size(), 2u);
  EXPECT_EQ(f->tensors[0].offset, 0u);
  EXPECT_EQ(f->tensors[1].offset, 32u);
  EXPECT_EQ(f->tensors[1].ne[0], 64u);
  EXPECT_EQ(f->tensors[1].ne[1], 2u);
  EXPECT_EQ(f->data_offset, h.size());
  EXPECT_EQ(f->data_offset % 32, 0u);
  EXPECT_EQ(w.file_bytes(), h.size() + 32 + 160);
}

}  // namespace
}  // namespace bitnet::detail
