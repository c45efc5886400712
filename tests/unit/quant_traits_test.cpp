// The type table (src/tables/quant_traits.cpp) checked against expectations written out here:
//  1. each block size derived from the fields of ggml's block struct (ggml-common.h), spelled out
//     field by field below, independently of the table's own arithmetic;
//  2. a checked-in (id, block_elems, block_bytes) list copied from memory-model.md §2;
//  3. BitNet's size rules and the §2.2 candidate sizes of a 2560x2560 tensor, by hand formula;
//  4. row_bytes for every KV cache type, and the name round trips.
#include "tables/quant_traits.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "bitnet/types.h"

namespace bitnet::detail {
namespace {

// ---- ggml-common.h block structs, field by field ------------------------------------------------
// sizeof(ggml_half) = 2, sizeof(float) = 4, uint16_t = 2, int16_t = 2; the structs are packed by
// construction (ggml static_asserts each size), so sizeof = the sum of the fields.
constexpr std::uint32_t half = 2, f32 = 4, u16 = 2, i16 = 2;
constexpr std::uint32_t QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32;
constexpr std::uint32_t QK_K = 256, K_SCALE_SIZE = 12, QK4_NL = 32, QK_MXFP4 = 32;
constexpr std::uint32_t QK_NVFP4 = 64, QK_NVFP4_SUB = 16, QK1_0 = 128, QK2_0 = 64;
constexpr std::uint32_t IQ3S_N_SCALE = QK_K / 64;

// block_q4_0 { ggml_half d; uint8_t qs[QK4_0/2]; }
constexpr std::uint32_t block_q4_0 = half + QK4_0 / 2;
// block_q4_1 { ggml_half d, m; uint8_t qs[QK4_1/2]; }
constexpr std::uint32_t block_q4_1 = 2 * half + QK4_1 / 2;
// block_q5_0 { ggml_half d; uint8_t qh[4]; uint8_t qs[QK5_0/2]; }
constexpr std::uint32_t block_q5_0 = half + 4 + QK5_0 / 2;
// block_q5_1 { ggml_half d, m; uint8_t qh[4]; uint8_t qs[QK5_1/2]; }
constexpr std::uint32_t block_q5_1 = 2 * half + 4 + QK5_1 / 2;
// block_q8_0 { ggml_half d; int8_t qs[QK8_0]; }
constexpr std::uint32_t block_q8_0 = half + QK8_0;
// block_q8_1 { ggml_half d, s; int8_t qs[QK8_1]; }   (gguf-py's GGML_QUANT_SIZES says 40: wrong)
constexpr std::uint32_t block_q8_1 = 2 * half + QK8_1;
// block_q2_K { uint8_t scales[QK_K/16]; uint8_t qs[QK_K/4]; ggml_half d, dmin; }
constexpr std::uint32_t block_q2_K = QK_K / 16 + QK_K / 4 + 2 * half;
// block_q3_K { uint8_t hmask[QK_K/8]; uint8_t qs[QK_K/4]; uint8_t scales[12]; ggml_half d; }
constexpr std::uint32_t block_q3_K = QK_K / 8 + QK_K / 4 + 12 + half;
// block_q4_K { ggml_half d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K/2]; }
constexpr std::uint32_t block_q4_K = 2 * half + K_SCALE_SIZE + QK_K / 2;
// block_q5_K { ggml_half d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K/8]; uint8_t
// qs[QK_K/2]; }
constexpr std::uint32_t block_q5_K = 2 * half + K_SCALE_SIZE + QK_K / 8 + QK_K / 2;
// block_q6_K { uint8_t ql[QK_K/2]; uint8_t qh[QK_K/4]; int8_t scales[QK_K/16]; ggml_half d; }
constexpr std::uint32_t block_q6_K = QK_K / 2 + QK_K / 4 + QK_K / 16 + half;
// block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K/16]; }
constexpr std::uint32_t block_q8_K = f32 + QK_K + i16 * (QK_K / 16);
// block_iq2_xxs { ggml_half d; uint16_t qs[QK_K/8]; }
constexpr std::uint32_t block_iq2_xxs = half + u16 * (QK_K / 8);
// block_iq2_xs { ggml_half d; uint16_t qs[QK_K/8]; uint8_t scales[QK_K/32]; }
constexpr std::uint32_t block_iq2_xs = half + u16 * (QK_K / 8) + QK_K / 32;
// block_iq2_s { ggml_half d; uint8_t qs[QK_K/4]; uint8_t qh[QK_K/32]; uint8_t scales[QK_K/32]; }
constexpr std::uint32_t block_iq2_s = half + QK_K / 4 + QK_K / 32 + QK_K / 32;
// block_iq3_xxs { ggml_half d; uint8_t qs[3*QK_K/8]; }
constexpr std::uint32_t block_iq3_xxs = half + 3 * QK_K / 8;
// block_iq3_s { ggml_half d; uint8_t qs[QK_K/4]; uint8_t qh[QK_K/32]; uint8_t signs[QK_K/8];
//               uint8_t scales[IQ3S_N_SCALE]; }
constexpr std::uint32_t block_iq3_s = half + QK_K / 4 + QK_K / 32 + QK_K / 8 + IQ3S_N_SCALE;
// block_iq1_s { ggml_half d; uint8_t qs[QK_K/8]; uint16_t qh[QK_K/32]; }
constexpr std::uint32_t block_iq1_s = half + QK_K / 8 + u16 * (QK_K / 32);
// block_iq1_m { uint8_t qs[QK_K/8]; uint8_t qh[QK_K/16]; uint8_t scales[QK_K/32]; }
constexpr std::uint32_t block_iq1_m = QK_K / 8 + QK_K / 16 + QK_K / 32;
// block_iq4_nl { ggml_half d; uint8_t qs[QK4_NL/2]; }
constexpr std::uint32_t block_iq4_nl = half + QK4_NL / 2;
// block_iq4_xs { ggml_half d; uint16_t scales_h; uint8_t scales_l[QK_K/64]; uint8_t qs[QK_K/2]; }
constexpr std::uint32_t block_iq4_xs = half + u16 + QK_K / 64 + QK_K / 2;
// block_tq1_0 { uint8_t qs[(QK_K - 4*QK_K/64)/5]; uint8_t qh[QK_K/64]; ggml_half d; }
constexpr std::uint32_t block_tq1_0 = (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + half;
// block_tq2_0 { uint8_t qs[QK_K/4]; ggml_half d; }
constexpr std::uint32_t block_tq2_0 = QK_K / 4 + half;
// block_mxfp4 { uint8_t e; uint8_t qs[QK_MXFP4/2]; }
constexpr std::uint32_t block_mxfp4 = 1 + QK_MXFP4 / 2;
// block_nvfp4 { uint8_t d[QK_NVFP4/QK_NVFP4_SUB]; uint8_t qs[QK_NVFP4/2]; }
constexpr std::uint32_t block_nvfp4 = QK_NVFP4 / QK_NVFP4_SUB + QK_NVFP4 / 2;
// block_q1_0 { ggml_half d; uint8_t qs[QK1_0/8]; }
constexpr std::uint32_t block_q1_0 = half + QK1_0 / 8;
// block_q2_0 { ggml_half d; uint8_t qs[QK2_0/4]; }
constexpr std::uint32_t block_q2_0 = half + QK2_0 / 4;

static_assert(block_q2_K == 84 && block_q8_K == 292 && block_q8_1 == 36 && block_tq1_0 == 54);

// Dialect sets as the table spells them.
constexpr std::uint8_t kAll = kUp | kB24 | kBPort;

struct Expect {
  std::uint32_t id;
  std::uint8_t dialects;
  std::string_view name;
  std::uint32_t elems;        // block elements (0: removed id)
  std::uint32_t from_struct;  // bytes per block from the struct above
  std::uint32_t listed;       // bytes per block as listed in memory-model.md §2
  SizeRule rule;
  std::uint32_t legacy_elems = 0, legacy_bytes = 0;  // a removed id's last size (0: none)
};

// clang-format off
const Expect kExpected[] = {
  {0,  kAll, "F32",     1,    4,             4,   SizeRule::kBlocks},
  {1,  kAll, "F16",     1,    2,             2,   SizeRule::kBlocks},
  {2,  kAll, "Q4_0",    32,   block_q4_0,    18,  SizeRule::kBlocks},
  {3,  kAll, "Q4_1",    32,   block_q4_1,    20,  SizeRule::kBlocks},
  {4,  kAll, "Q4_2",    0,    0,             0,   SizeRule::kRemoved},
  {5,  kAll, "Q4_3",    0,    0,             0,   SizeRule::kRemoved},
  {6,  kAll, "Q5_0",    32,   block_q5_0,    22,  SizeRule::kBlocks},
  {7,  kAll, "Q5_1",    32,   block_q5_1,    24,  SizeRule::kBlocks},
  {8,  kAll, "Q8_0",    32,   block_q8_0,    34,  SizeRule::kBlocks},
  {9,  kAll, "Q8_1",    32,   block_q8_1,    36,  SizeRule::kBlocks},
  {10, kAll, "Q2_K",    256,  block_q2_K,    84,  SizeRule::kBlocks},
  {11, kAll, "Q3_K",    256,  block_q3_K,    110, SizeRule::kBlocks},
  {12, kAll, "Q4_K",    256,  block_q4_K,    144, SizeRule::kBlocks},
  {13, kAll, "Q5_K",    256,  block_q5_K,    176, SizeRule::kBlocks},
  {14, kAll, "Q6_K",    256,  block_q6_K,    210, SizeRule::kBlocks},
  {15, kAll, "Q8_K",    256,  block_q8_K,    292, SizeRule::kBlocks},
  {16, kAll, "IQ2_XXS", 256,  block_iq2_xxs, 66,  SizeRule::kBlocks},
  {17, kAll, "IQ2_XS",  256,  block_iq2_xs,  74,  SizeRule::kBlocks},
  {18, kAll, "IQ3_XXS", 256,  block_iq3_xxs, 98,  SizeRule::kBlocks},
  {19, kAll, "IQ1_S",   256,  block_iq1_s,   50,  SizeRule::kBlocks},
  {20, kAll, "IQ4_NL",  32,   block_iq4_nl,  18,  SizeRule::kBlocks},
  {21, kAll, "IQ3_S",   256,  block_iq3_s,   110, SizeRule::kBlocks},
  {22, kAll, "IQ2_S",   256,  block_iq2_s,   82,  SizeRule::kBlocks},
  {23, kAll, "IQ4_XS",  256,  block_iq4_xs,  136, SizeRule::kBlocks},
  {24, kAll, "I8",      1,    1,             1,   SizeRule::kBlocks},
  {25, kAll, "I16",     1,    2,             2,   SizeRule::kBlocks},
  {26, kAll, "I32",     1,    4,             4,   SizeRule::kBlocks},
  {27, kAll, "I64",     1,    8,             8,   SizeRule::kBlocks},
  {28, kAll, "F64",     1,    8,             8,   SizeRule::kBlocks},
  {29, kAll, "IQ1_M",   256,  block_iq1_m,   56,  SizeRule::kBlocks},
  {30, kAll, "BF16",    1,    2,             2,   SizeRule::kBlocks},
  // Q4_0 interleaved: block_q4_0 traits in the 2024 fork; removed upstream and in the port.
  {31, kB24, "Q4_0_4_4", 32,  block_q4_0,    18,  SizeRule::kBlocks},
  {32, kB24, "Q4_0_4_8", 32,  block_q4_0,    18,  SizeRule::kBlocks},
  {33, kB24, "Q4_0_8_8", 32,  block_q4_0,    18,  SizeRule::kBlocks},
  {31, kUp | kBPort, "Q4_0_4_4", 0, 0, 0, SizeRule::kRemoved, 32, block_q4_0},
  {32, kUp | kBPort, "Q4_0_4_8", 0, 0, 0, SizeRule::kRemoved, 32, block_q4_0},
  {33, kUp | kBPort, "Q4_0_8_8", 0, 0, 0, SizeRule::kRemoved, 32, block_q4_0},
  {34, kAll, "TQ1_0",   256,  block_tq1_0,   54,  SizeRule::kBlocks},
  {35, kAll, "TQ2_0",   256,  block_tq2_0,   66,  SizeRule::kBlocks},
  // Removed upstream: IQ4_NL_4_4.. had block_iq4_nl traits (18 B per 32).
  {36, kUp, "IQ4_NL_4_4", 0, 0, 0, SizeRule::kRemoved, 32, block_iq4_nl},
  {37, kUp, "IQ4_NL_4_8", 0, 0, 0, SizeRule::kRemoved, 32, block_iq4_nl},
  {38, kUp, "IQ4_NL_8_8", 0, 0, 0, SizeRule::kRemoved, 32, block_iq4_nl},
  // BitNet: the fork's gguf-py lists I2_S/TL1/TL2 as (4, 1), plus the tail rules of §2.1.
  {36, kB24,   "I2_S", 4, 1, 1, SizeRule::kTailPerTensor},
  {37, kB24 | kBPort, "I8_S", 1, 1, 1, SizeRule::kBlocks},
  {38, kB24,   "TL1",  4, 1, 1, SizeRule::kTailPerTensor},
  {39, kB24,   "TL2",  4, 1, 1, SizeRule::kTl2},
  {36, kBPort, "I2_S", 4, 1, 1, SizeRule::kTailPerSlice},
  {38, kBPort, "TL1",  4, 1, 1, SizeRule::kTailPerSlice},
  {42, kBPort, "TL2",  4, 1, 1, SizeRule::kTl2},
  {39, kUp | kBPort, "MXFP4", 32,  block_mxfp4, 17, SizeRule::kBlocks},
  {40, kUp | kBPort, "NVFP4", 64,  block_nvfp4, 36, SizeRule::kBlocks},
  {41, kUp | kBPort, "Q1_0",  128, block_q1_0,  18, SizeRule::kBlocks},
  {42, kUp,          "Q2_0",  64,  block_q2_0,  18, SizeRule::kBlocks},
};
// clang-format on

TEST(QuantTraits, EveryRowMatchesItsStructAndTheListedSize) {
  std::map<std::pair<std::uint32_t, std::uint8_t>, const Expect*> want;
  for (const Expect& e : kExpected) {
    EXPECT_EQ(e.from_struct, e.listed) << e.name << ": struct arithmetic vs memory-model.md";
    EXPECT_TRUE(want.emplace(std::make_pair(e.id, e.dialects), &e).second) << e.name;
  }
  std::set<std::pair<std::uint32_t, std::uint8_t>> seen;
  for (const QuantTraits& t : all_quant_traits()) {
    const auto key = std::make_pair(t.id, t.dialects);
    auto it = want.find(key);
    ASSERT_NE(it, want.end()) << "table row id " << t.id << " " << t.name << " has no expectation";
    const Expect& e = *it->second;
    seen.insert(key);
    EXPECT_EQ(t.name, e.name) << t.id;
    EXPECT_EQ(t.block_elems, e.elems) << t.name;
    EXPECT_EQ(t.block_bytes, e.from_struct) << t.name;
    EXPECT_EQ(t.rule, e.rule) << t.name;
    EXPECT_EQ(t.legacy_block_elems, e.legacy_elems) << t.name;
    EXPECT_EQ(t.legacy_block_bytes, e.legacy_bytes) << t.name;
  }
  EXPECT_EQ(seen.size(), want.size()) << "expectations without a table row";
}

TEST(QuantTraits, EachMapHasOneRowPerIdAndTheUpstreamIdsMatchGgml) {
  for (TypeMap m : {TypeMap::kUpstream, TypeMap::kBitnet2024, TypeMap::kBitnetPort}) {
    std::map<std::uint32_t, int> n;
    std::uint8_t bit = m == TypeMap::kUpstream ? kUp : m == TypeMap::kBitnet2024 ? kB24 : kBPort;
    for (const QuantTraits& t : all_quant_traits())
      if ((t.dialects & bit) != 0) ++n[t.id];
    for (auto [id, count] : n) EXPECT_EQ(count, 1) << type_map_name(m) << " id " << id;
    for (auto [id, count] : n) EXPECT_EQ(find_traits(id, m)->id, id);
  }
  // Upstream: GGML_TYPE_COUNT = 43, every id 0..42 has a row; each live row's enum value is its id.
  for (std::uint32_t id = 0; id < 43; ++id) {
    const QuantTraits* t = find_traits(id, TypeMap::kUpstream);
    ASSERT_NE(t, nullptr) << id;
    if (t->rule != SizeRule::kRemoved) {
      EXPECT_EQ(static_cast<std::uint32_t>(t->type), id) << t->name;
    }
  }
  EXPECT_EQ(find_traits(43, TypeMap::kUpstream), nullptr);
  EXPECT_EQ(find_traits(40, TypeMap::kBitnet2024), nullptr);  // the fork's COUNT is 40
  EXPECT_EQ(find_traits(1, TypeMap::kAuto), nullptr);
  // The ambiguous ids (memory-model.md §2.2).
  EXPECT_EQ(find_traits(36, TypeMap::kUpstream)->type, QuantizationType::kIQ4_NL_4_4);
  EXPECT_EQ(find_traits(36, TypeMap::kBitnet2024)->type, QuantizationType::kI2_S);
  EXPECT_EQ(find_traits(39, TypeMap::kBitnet2024)->type, QuantizationType::kTL2);
  EXPECT_EQ(find_traits(39, TypeMap::kBitnetPort)->type, QuantizationType::kMXFP4);
  EXPECT_EQ(find_traits(42, TypeMap::kBitnetPort)->type, QuantizationType::kTL2);
  EXPECT_EQ(find_traits(42, TypeMap::kUpstream)->type, QuantizationType::kQ2_0);
}

Result<std::uint64_t> bytes_of(std::uint32_t id, TypeMap m, Dims4 ne) {
  const QuantTraits* t = find_traits(id, m);
  if (t == nullptr) return Error{Errc::kInternal, "no row", kNoOffset, {}, {}};
  return tensor_bytes(*t, ne);
}

TEST(QuantTraits, BlockTypesScaleWithElements) {
  // Q4_K [4096, 4096]: 4096*4096/256 blocks of 144 B.
  EXPECT_EQ(*bytes_of(12, TypeMap::kUpstream, {4096, 4096, 1, 1}), 4096ull * 4096 / 256 * 144);
  // Q8_0 [64, 3, 2, 1]: 384/32 blocks of 34 B.
  EXPECT_EQ(*bytes_of(8, TypeMap::kUpstream, {64, 3, 2, 1}), 384ull / 32 * 34);
  // F16 [2560, 128256] (BitNet 2B token_embd): 656,670,720 B (memory-model.md §3).
  EXPECT_EQ(*bytes_of(1, TypeMap::kUpstream, {2560, 128256, 1, 1}), 656670720ull);
  // Row length not a multiple of the block.
  auto bad = bytes_of(12, TypeMap::kUpstream, {100, 2, 1, 1});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kMalformed);
  // Overflow of the element count.
  auto big = bytes_of(0, TypeMap::kUpstream, {1ull << 32, 1ull << 32, 1, 1});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::kOverflow);
  auto big_bytes =
      bytes_of(0, TypeMap::kUpstream, {1ull << 31, 1ull << 31, 2, 1});  // 2^63 elements * 4 B
  ASSERT_FALSE(big_bytes);
  EXPECT_EQ(big_bytes.error().code, Errc::kOverflow);
  // A removed id has no size.
  auto removed = bytes_of(36, TypeMap::kUpstream, {32, 1, 1, 1});
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, Errc::kUnknownTensorType);
}

TEST(QuantTraits, BitnetSizeRules) {
  // I2_S / TL1, 2024 fork: n/4 + 32, one tail per tensor.
  EXPECT_EQ(*bytes_of(36, TypeMap::kBitnet2024, {2560, 6912, 1, 1}), 2560ull * 6912 / 4 + 32);
  EXPECT_EQ(*bytes_of(38, TypeMap::kBitnet2024, {2560, 640, 1, 1}), 2560ull * 640 / 4 + 32);
  EXPECT_EQ(*bytes_of(36, TypeMap::kBitnet2024, {256, 128, 8, 1}), 256ull * 128 * 8 / 4 + 32);
  // Port: one tail per 2-D slice: (ne0*ne1/4 + 32) * ne2 * ne3.
  EXPECT_EQ(*bytes_of(36, TypeMap::kBitnetPort, {256, 128, 8, 1}), (256ull * 128 / 4 + 32) * 8);
  EXPECT_EQ(*bytes_of(38, TypeMap::kBitnetPort, {256, 128, 2, 3}), (256ull * 128 / 4 + 32) * 6);
  // For 2-D tensors the two rules agree.
  EXPECT_EQ(*bytes_of(36, TypeMap::kBitnetPort, {2560, 2560, 1, 1}),
            *bytes_of(36, TypeMap::kBitnet2024, {2560, 2560, 1, 1}));
  // TL2 (memory-model.md §2.1), worked example 2560x2560:
  //   b = (2560-256)*2560/3*5/8 + 256*2560/2*4/8 = 1,228,800 + 163,840 = 1,392,640
  //   nbytes = pad(b, 32) + 32 = 1,392,672.
  const std::uint64_t b = (2560ull - 256) * 2560 / 3 * 5 / 8 + 256ull * 2560 / 2 * 4 / 8;
  EXPECT_EQ(b, 1392640u);
  EXPECT_EQ(*bytes_of(39, TypeMap::kBitnet2024, {2560, 2560, 1, 1}), 1392672u);
  EXPECT_EQ(*bytes_of(42, TypeMap::kBitnetPort, {2560, 2560, 1, 1}), 1392672u);
  // TL2 6912x2560 (ffn_down of the 2B): (6656*2560/3*5/8 = 3,549,866) + 163,840 = 3,713,706 ->
  // pad 3,713,728 + 32.
  EXPECT_EQ(*bytes_of(39, TypeMap::kBitnet2024, {6912, 2560, 1, 1}),
            (((6656ull * 2560 / 3 * 5 / 8) + 163840 + 31) / 32 * 32) + 32);
  auto narrow = bytes_of(39, TypeMap::kBitnet2024, {128, 64, 1, 1});
  ASSERT_FALSE(narrow);
  EXPECT_EQ(narrow.error().code, Errc::kMalformed);
  // The 2B's per-layer I2_S bytes (memory-model.md §3): 17,367,264.
  const std::uint64_t layer = 2 * *bytes_of(36, TypeMap::kBitnet2024, {2560, 2560, 1, 1}) +
                              2 * *bytes_of(36, TypeMap::kBitnet2024, {2560, 640, 1, 1}) +
                              2 * *bytes_of(36, TypeMap::kBitnet2024, {2560, 6912, 1, 1}) +
                              *bytes_of(36, TypeMap::kBitnet2024, {6912, 2560, 1, 1});
  EXPECT_EQ(layer, 17367264u);
}

TEST(QuantTraits, CandidateSizesOfA2560Square) {
  // memory-model.md §2.2: the sizes each reading of ids 36..42 gives a 2560x2560 tensor.
  const Dims4 sq{2560, 2560, 1, 1};
  const std::uint64_t n = 2560ull * 2560;
  EXPECT_EQ(*bytes_of(36, TypeMap::kBitnet2024, sq), n / 4 + 32);
  EXPECT_EQ(*bytes_of(36, TypeMap::kBitnet2024, sq), 1638432u);
  EXPECT_EQ(*bytes_of(39, TypeMap::kBitnet2024, sq), 1392672u);   // TL2
  EXPECT_EQ(*bytes_of(39, TypeMap::kUpstream, sq), n / 32 * 17);  // MXFP4
  EXPECT_EQ(*bytes_of(39, TypeMap::kUpstream, sq), 3481600u);
  EXPECT_EQ(*bytes_of(42, TypeMap::kUpstream, sq), n / 64 * 18);  // Q2_0
  EXPECT_EQ(*bytes_of(42, TypeMap::kUpstream, sq), 1843200u);
  // IQ4_NL_4_4 is removed: no size, but its legacy block (18 B per 32) gives what old readers
  // such as gguf-parser-go report.
  const QuantTraits* iq = find_traits(36, TypeMap::kUpstream);
  ASSERT_NE(iq, nullptr);
  EXPECT_FALSE(tensor_bytes(*iq, sq));
  EXPECT_EQ(*legacy_tensor_bytes(*iq, sq), n / 32 * 18);
  EXPECT_EQ(*legacy_tensor_bytes(*iq, sq), 3686400u);
  // A live row has no legacy size.
  auto live = legacy_tensor_bytes(*find_traits(12, TypeMap::kUpstream), sq);
  ASSERT_FALSE(live);
  EXPECT_EQ(live.error().code, Errc::kUnknownTensorType);
}

TEST(QuantTraits, RowBytesForEveryKvCacheType) {
  // 640 elements (BitNet 2B's n_embd_gqa) and 4096 elements per row.
  struct KvRow {
    Precision p;
    std::string_view name;
    QuantizationType type;
    std::uint64_t row640, row4096;
  };
  const KvRow rows[] = {
      {Precision::kF32, "f32", QuantizationType::kF32, 640 * 4, 4096 * 4},
      {Precision::kF16, "f16", QuantizationType::kF16, 640 * 2, 4096 * 2},
      {Precision::kBF16, "bf16", QuantizationType::kBF16, 640 * 2, 4096 * 2},
      {Precision::kQ8_0, "q8_0", QuantizationType::kQ8_0, 640 / 32 * block_q8_0,
       4096 / 32 * block_q8_0},
      {Precision::kQ4_0, "q4_0", QuantizationType::kQ4_0, 640 / 32 * block_q4_0,
       4096 / 32 * block_q4_0},
      {Precision::kQ4_1, "q4_1", QuantizationType::kQ4_1, 640 / 32 * block_q4_1,
       4096 / 32 * block_q4_1},
      {Precision::kIQ4_NL, "iq4_nl", QuantizationType::kIQ4_NL, 640 / 32 * block_iq4_nl,
       4096 / 32 * block_iq4_nl},
      {Precision::kQ5_0, "q5_0", QuantizationType::kQ5_0, 640 / 32 * block_q5_0,
       4096 / 32 * block_q5_0},
      {Precision::kQ5_1, "q5_1", QuantizationType::kQ5_1, 640 / 32 * block_q5_1,
       4096 / 32 * block_q5_1},
  };
  for (const KvRow& r : rows) {
    EXPECT_EQ(precision_type(r.p), r.type) << r.name;
    EXPECT_EQ(precision_name(r.p), r.name);
    EXPECT_EQ(parse_precision(r.name), r.p) << r.name;
    EXPECT_EQ(*row_bytes(r.type, 640), r.row640) << r.name;
    EXPECT_EQ(*row_bytes(r.type, 4096), r.row4096) << r.name;
    EXPECT_EQ(precision_is_quantized(r.p), r.row4096 < 4096 * 2) << r.name;
  }
  // The quantized ones need a multiple of 32.
  auto odd = row_bytes(QuantizationType::kQ8_0, 100);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(row_bytes(QuantizationType::kF16, 100));
  // BitNet types have no fixed row size.
  EXPECT_FALSE(row_bytes(QuantizationType::kI2_S, 640));
  EXPECT_FALSE(row_bytes(QuantizationType::kUnknown, 640));
  EXPECT_FALSE(parse_precision("q4_k"));
}

TEST(QuantTraits, NamesRoundTrip) {
  for (const QuantTraits& t : all_quant_traits()) {
    if (t.type == QuantizationType::kUnknown) {
      EXPECT_FALSE(parse_quantization_type(t.name)) << t.name;  // Q4_2, Q4_3: no enum value
      continue;
    }
    EXPECT_EQ(parse_quantization_type(t.name), t.type) << t.name;
    EXPECT_EQ(parse_quantization_type(t.ggml_name), t.type) << t.ggml_name;
    EXPECT_EQ(quantization_type_name(t.type), t.name);
    const QuantTraits* canon = find_traits(t.type);
    ASSERT_NE(canon, nullptr) << t.name;
    EXPECT_EQ(canon->type, t.type);
    // The canonical row is a live one when the type has any.
    if (t.rule != SizeRule::kRemoved) {
      EXPECT_NE(canon->rule, SizeRule::kRemoved) << t.name;
    }
  }
  EXPECT_EQ(parse_quantization_type("q4_k"), QuantizationType::kQ4_K);
  EXPECT_EQ(parse_quantization_type("Q4_K"), QuantizationType::kQ4_K);
  EXPECT_EQ(parse_quantization_type("i2_s"), QuantizationType::kI2_S);
  EXPECT_EQ(parse_quantization_type("IQ4_NL_4_4"), QuantizationType::kIQ4_NL_4_4);
  EXPECT_FALSE(parse_quantization_type("q4"));
  EXPECT_FALSE(parse_quantization_type(""));
  EXPECT_EQ(quantization_type_name(QuantizationType::kUnknown), "UNKNOWN");
  EXPECT_EQ(find_traits(QuantizationType::kUnknown), nullptr);
}

}  // namespace
}  // namespace bitnet::detail
