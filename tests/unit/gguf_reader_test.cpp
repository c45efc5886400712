// Positive cases of the GGUF reader: version 2, every value type, nested arrays, lazy string
// arrays, header-only prefixes, alignment 64, and the typed accessors. Expected values and offsets
// are written out from the GGUF encoding (memory-model.md §1), not read back from the reader.
#include "format/gguf_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "format/mapped_file.h"
#include "synth/gguf_writer.h"

namespace bitnet::detail {
namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::string file_of(const GgufWriter& w) {
  std::string s = w.header();
  s.resize(w.file_bytes(), '\0');
  return s;
}
std::string le32(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string le64(std::uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
std::string enc_str(const std::string& s) { return le64(s.size()) + s; }
// "t<i>" (built with += : g++ 12 warns falsely (-Wrestrict) on "t" + std::to_string(i)).
std::string token(std::uint64_t i) {
  std::string s = "t";
  s += std::to_string(i);
  return s;
}

TEST(GgufReader, Version2HasTheSameLayout) {
  GgufWriter w(2);
  w.add_string("general.architecture", "llama");
  w.add_tensor("a", 0, {4}, 16);
  const std::string b = file_of(w);  // the views of the parse point into it
  auto f = parse_gguf(as_bytes(b));
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ(f->version, 2u);
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  // 24 + kv (8 + 20 + 4 + 8 + 5 = 45) + info (8 + 1 + 4 + 8 + 4 + 8 = 33) = 102 -> pad 128.
  EXPECT_EQ(f->data_offset, 128u);
}

TEST(GgufReader, EveryValueType) {
  GgufWriter w;
  w.add_u8("u8", 200);
  w.add_i8("i8", -100);
  w.add_u16("u16", 60000);
  w.add_i16("i16", -30000);
  w.add_u32("u32", 4000000000u);
  w.add_i32("i32", -2000000000);
  w.add_f32("f32", 0.25f);
  w.add_bool("bool", false);
  w.add_string("string", "");
  w.add_u64("u64", std::numeric_limits<std::uint64_t>::max());
  w.add_i64("i64", std::numeric_limits<std::int64_t>::min());
  w.add_f64("f64", -1.5e300);
  w.add_u32_array("arr_u32", {});
  w.add_f32_array("arr_f32", {1.0f, 2.0f});
  w.add_bool_array("arr_bool", {true, false, true});
  w.add_string_array("arr_str", {"", "x"});
  const std::string b = file_of(w);  // the views of the parse point into it
  auto f = parse_gguf(as_bytes(b));
  ASSERT_TRUE(f) << f.error().to_string();
  ASSERT_EQ(f->kvs.size(), 16u);
  EXPECT_EQ(f->find("u8")->value.type, GgufType::kU8);
  EXPECT_EQ(*f->get_u64("u8"), 200u);
  EXPECT_EQ(f->find("i8")->value.i, -100);
  EXPECT_EQ(*f->get_u64("u16"), 60000u);
  EXPECT_EQ(f->find("i16")->value.i, -30000);
  EXPECT_EQ(*f->get_u64("u32"), 4000000000u);
  EXPECT_EQ(f->find("i32")->value.i, -2000000000);
  EXPECT_DOUBLE_EQ(*f->get_f64("f32"), 0.25);
  EXPECT_EQ(*f->get_u64("bool"), 0u);
  EXPECT_EQ(*f->get_string("string"), "");
  EXPECT_EQ(*f->get_u64("u64"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(f->find("i64")->value.i, std::numeric_limits<std::int64_t>::min());
  EXPECT_DOUBLE_EQ(*f->get_f64("f64"), -1.5e300);
  EXPECT_DOUBLE_EQ(*f->get_f64("i32"), -2000000000.0);
  EXPECT_EQ(f->find("arr_u32")->value.count, 0u);
  EXPECT_TRUE(f->get_int_array("arr_u32")->empty());
  EXPECT_EQ(f->find("arr_f32")->value.elem_type, GgufType::kF32);
  EXPECT_EQ(f->find("arr_f32")->value.data_bytes, 8u);
  EXPECT_EQ(*f->get_int_array("arr_bool"), (std::vector<std::uint64_t>{1, 0, 1}));
  EXPECT_EQ(f->find("arr_str")->value.data_bytes, 8u + 8u + 1u);
  // Offsets: "u8" kv at 24: key 8 + 2, type 4 -> value at 38; the next key at 39.
  EXPECT_EQ(f->find("u8")->key_offset, 24u);
  EXPECT_EQ(f->find("u8")->type_offset(), 34u);
  EXPECT_EQ(f->find("u8")->value.offset, 38u);
  EXPECT_EQ(f->find("i8")->key_offset, 39u);
}

TEST(GgufReader, TypedAccessorErrors) {
  GgufWriter w;
  w.add_string("s", "text");
  w.add_i32("neg", -1);
  w.add_f32_array("floats", {1.0f});
  w.add_i32_array("ints", {3, -4});
  const std::string b = file_of(w);
  auto f = parse_gguf(as_bytes(b));
  ASSERT_TRUE(f) << f.error().to_string();
  auto missing = f->get_u64("absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kMissingKey);
  EXPECT_EQ(missing.error().field, "absent");
  auto wrong = f->get_u64("s");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::kTypeMismatch);
  EXPECT_EQ(wrong.error().offset, 24u + 8 + 1);  // the type field of "s"
  auto neg = f->get_u64("neg");
  ASSERT_FALSE(neg);
  EXPECT_EQ(neg.error().code, Errc::kMalformed);
  auto str = f->get_string("neg");
  ASSERT_FALSE(str);
  EXPECT_EQ(str.error().code, Errc::kTypeMismatch);
  auto floats = f->get_int_array("floats");
  ASSERT_FALSE(floats);
  EXPECT_EQ(floats.error().code, Errc::kTypeMismatch);
  auto ints = f->get_int_array("ints");
  ASSERT_FALSE(ints);
  EXPECT_EQ(ints.error().code, Errc::kMalformed);
  // "s" 8+1+4+8+4 = 25, "neg" 8+3+4+4 = 19, "floats" 8+6+4+12+4 = 34, then "ints": key 8+4, type 4,
  // elem type 4, count 8 -> element 1 at 24 + 25 + 19 + 34 + 28 + 4.
  EXPECT_EQ(ints.error().offset, 24u + 25 + 19 + 34 + 28 + 4);
  EXPECT_EQ(ints.error().field, "ints[1]");
  int calls = 0;
  auto st = f->for_each_string(*f->find("s"), [&](std::string_view) { ++calls; });
  EXPECT_FALSE(st);
  EXPECT_EQ(calls, 0);
}

TEST(GgufReader, NestedArraysUpToTheDepthLimit) {
  // [[[...[u32 7]...]]] with kGgufMaxArrayDepth levels; plus [[1, 2], [], ["a"]].
  std::string deep = le32(9);
  for (std::uint32_t level = 1; level < kGgufMaxArrayDepth; ++level) deep += le32(9) + le64(1);
  deep += le32(4) + le64(1) + le32(7);
  std::string mixed = le32(9) + le32(9) + le64(3);
  mixed += le32(4) + le64(2) + le32(1) + le32(2);
  mixed += le32(0) + le64(0);
  mixed += le32(8) + le64(1) + enc_str("a");
  GgufWriter w;
  w.raw_kv_bytes(enc_str("deep") + deep);
  w.raw_kv_bytes(enc_str("mixed") + mixed);
  w.add_u8("after", 5);
  const std::string b = file_of(w);  // the views of the parse point into it
  auto f = parse_gguf(as_bytes(b));
  ASSERT_TRUE(f) << f.error().to_string();
  const GgufValue& d = f->find("deep")->value;
  EXPECT_EQ(d.elem_type, GgufType::kArray);
  EXPECT_EQ(d.count, 1u);
  EXPECT_EQ(d.data_bytes, 12u * (kGgufMaxArrayDepth - 1) + 4);
  const GgufValue& m = f->find("mixed")->value;
  EXPECT_EQ(m.count, 3u);
  EXPECT_EQ(m.data_bytes, (12u + 8) + 12u + (12u + 9));
  EXPECT_EQ(*f->get_u64("after"), 5u);
  EXPECT_FALSE(f->get_int_array("mixed"));
}

TEST(GgufReader, StringArraysAreWalkedNotCopied) {
  // 150,000 token strings "t<i>": the array keeps its count and byte span, and views into the
  // buffer come back in order.
  constexpr std::uint64_t kN = 150000;
  GgufWriter w;
  w.add_string_array_fn("tokenizer.ggml.tokens", kN, token);
  const std::string b = file_of(w);
  auto f = parse_gguf(as_bytes(b));
  ASSERT_TRUE(f) << f.error().to_string();
  const GgufKv& kv = *f->find("tokenizer.ggml.tokens");
  EXPECT_EQ(kv.value.count, kN);
  // Digits of 0..149999: 10*1 + 90*2 + 900*3 + 9000*4 + 90000*5 + 50000*6.
  const std::uint64_t digits = 10 * 1 + 90 * 2 + 900 * 3 + 9000 * 4 + 90000 * 5 + 50000 * 6;
  EXPECT_EQ(kv.value.data_bytes, kN * 8 + kN * 1 + digits);
  std::uint64_t k = 0;
  bool in_order = true;
  auto st = f->for_each_string(kv, [&](std::string_view s) {
    in_order = in_order && s == token(k);
    ++k;
    // The view points into the caller's buffer.
    in_order = in_order && s.data() >= b.data() && s.data() + s.size() <= b.data() + b.size();
  });
  EXPECT_TRUE(st);
  EXPECT_EQ(k, kN);
  EXPECT_TRUE(in_order);
}

TEST(GgufReader, Alignment64) {
  GgufWriter w;
  w.set_alignment(64);
  w.add_u32("general.alignment", 64);
  w.add_tensor("a", 0, {3}, 12);   // -> 64
  w.add_tensor("b", 1, {40}, 80);  // -> 128
  w.add_tensor("c", 0, {2, 2, 2, 2}, 64);
  const std::string b = file_of(w);  // the views of the parse point into it
  auto f = parse_gguf(as_bytes(b));
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ(f->alignment, 64u);
  // 24 + kv (8 + 17 + 4 + 4 = 33) + 3 infos (8+1+4+8+4+8 = 33, 33, 8+1+4+32+4+8 = 57) = 180 -> 192.
  EXPECT_EQ(f->data_offset, 192u);
  EXPECT_EQ(f->tensors[1].offset, 64u);
  EXPECT_EQ(f->tensors[2].offset, 192u);
  EXPECT_EQ(f->tensors[2].n_dims, 4u);
  EXPECT_EQ(f->tensors[2].ne, (std::array<std::uint64_t, 4>{2, 2, 2, 2}));
  EXPECT_EQ(f->tensors[1].ne, (std::array<std::uint64_t, 4>{40, 1, 1, 1}));
  EXPECT_EQ(f->find_tensor("b")->type_id, 1u);
  EXPECT_EQ(f->find_tensor("zz"), nullptr);

  // An offset aligned to 32 but not to 64 is rejected under alignment 64.
  GgufWriter w2;
  w2.set_alignment(64);
  w2.add_u32("general.alignment", 64);
  w2.add_tensor_at("a", 0, {8}, 32);
  const std::string b2 = file_of(w2);
  auto g = parse_gguf(as_bytes(b2));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::kMalformed);
  EXPECT_EQ(g.error().offset, 24u + 33 + 8 + 1 + 4 + 8 + 4);
}

TEST(GgufReader, NoTensorsNoData) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  const std::string h = w.header();
  auto f = parse_gguf(as_bytes(h.substr(0, 24 + 45)));  // even without the padding
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ(f->n_tensors, 0u);
  EXPECT_EQ(f->data_offset, 96u);
}

TEST(GgufReader, HeaderOnlyFileFromDisk) {
  // A 2560-wide model header written header-only (as a remote range read gives) parses with
  // header_only and keeps the declared offsets; in full mode the missing data is reported.
  GgufWriter w;
  w.add_string("general.architecture", "bitnet-b1.58");
  std::uint64_t last = 0;
  for (int i = 0; i < 4; ++i)
    last = w.add_tensor("blk." + std::to_string(i) + ".attn_q.weight", 36, {2560, 2560},
                        2560 * 2560 / 4 + 32);
  char path[] = "/tmp/bitnet_reader_test_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_TRUE(w.write(path, /*header_only=*/true));
  auto m = MappedFile::open(path);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->size(), w.data_offset());
  auto f = parse_gguf(m->bytes(), GgufParseOptions{.header_only = true});
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_TRUE(f->header_only);
  EXPECT_EQ(f->tensors.size(), 4u);
  // Each I2_S 2560x2560 tensor: 1,638,400 + 32 = 1,638,432 bytes, a multiple of 32.
  EXPECT_EQ(last, 3u * 1638432u);
  EXPECT_EQ(f->tensors[3].offset, 3u * 1638432u);
  auto full = parse_gguf(m->bytes());
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::kTruncated);
  EXPECT_NE(full.error().hint.find("--header-only"), std::string::npos);
  std::remove(path);
}

}  // namespace
}  // namespace bitnet::detail
