// Type-map resolution (memory-model.md §2.2): byte spans decide between upstream ids and the BitNet
// dialects. Expected sizes are written out by hand from the stored-size rules of §2 and §2.1.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analysis/model_analysis.h"
#include "analysis/type_resolution.h"
#include "format/gguf_reader.h"
#include "synth/gguf_writer.h"

namespace bitnet::detail {
namespace {

// A whole file (header + zero data) or only its header, in memory.
struct Buffer {
  std::vector<std::byte> bytes;
  GgufFile file;
};
Buffer parse(const GgufWriter& w, bool header_only = false, std::uint64_t extra = 0) {
  std::string s = w.header();
  if (!header_only) s.resize(w.file_bytes() + extra, '\0');
  Buffer b;
  b.bytes.resize(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) b.bytes[i] = static_cast<std::byte>(s[i]);
  GgufParseOptions po;
  po.header_only = header_only;
  auto f = parse_gguf(b.bytes, po);
  EXPECT_TRUE(f) << f.error().to_string();
  if (f) b.file = std::move(f).value();
  b.file.bytes = b.bytes;
  return b;
}

// Hand-written sizes (memory-model.md §2.1).
constexpr std::uint64_t i2s_bytes(std::uint64_t ne0, std::uint64_t ne1) { return ne0 * ne1 / 4 + 32; }
constexpr std::uint64_t tl2_bytes(std::uint64_t ne0, std::uint64_t ne1) {
  const std::uint64_t b = (ne0 - 256) * ne1 / 3 * 5 / 8 + 256 * ne1 / 2 * 4 / 8;
  return (b + 31) / 32 * 32 + 32;
}
static_assert(tl2_bytes(2560, 2560) == 1392672, "memory-model.md §2.1 worked example");
constexpr std::uint64_t kI2sId = 36, kTl2Id2024 = 39, kTl2IdPort = 42;

GgufWriter bitnet_file(std::string arch, std::uint32_t tl2_id, bool tl2_last = false) {
  GgufWriter w;
  w.add_string("general.architecture", arch);
  w.add_tensor("norm.weight", 0, {256}, 256 * 4);
  if (!tl2_last) w.add_tensor("blk.0.attn_q.weight", tl2_id, {512, 256}, tl2_bytes(512, 256));
  w.add_tensor("blk.0.ffn_up.weight", kI2sId, {256, 512}, i2s_bytes(256, 512));
  if (tl2_last) w.add_tensor("blk.0.attn_q.weight", tl2_id, {512, 256}, tl2_bytes(512, 256));
  return w;
}

TEST(TypeResolution, Bitnet2024FileWithI2sAndTl2) {
  Buffer b = parse(bitnet_file("bitnet-b1.58", kTl2Id2024));
  auto r = resolve_types(b.file, TypeMap::kAuto);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->map, TypeMap::kBitnet2024) << r->reason;
  EXPECT_NE(r->reason.find("only bitnet-2024"), std::string::npos) << r->reason;
  EXPECT_EQ(r->tensors[1].type, QuantizationType::kTL2);
  EXPECT_EQ(r->tensors[1].nbytes, tl2_bytes(512, 256));
  EXPECT_EQ(r->tensors[2].type, QuantizationType::kI2_S);
  EXPECT_EQ(r->tensors[2].nbytes, i2s_bytes(256, 512));
  EXPECT_TRUE(r->warnings.empty());
}

TEST(TypeResolution, PortTl2File) {
  Buffer b = parse(bitnet_file("bitnet-25", kTl2IdPort));
  auto r = resolve_types(b.file, TypeMap::kAuto);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->map, TypeMap::kBitnetPort) << r->reason;
  EXPECT_EQ(r->tensors[1].type, QuantizationType::kTL2);
  EXPECT_EQ(r->tensors[2].type, QuantizationType::kI2_S);
}

TEST(TypeResolution, UpstreamFileAllMapsAgree) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_tensor("token_embd.weight", 12, {256, 64}, 256 * 64 / 256 * 144);  // Q4_K
  w.add_tensor("output_norm.weight", 0, {256}, 1024);
  // MXFP4 (id 39): 17 B per 32 elements; as 2024's TL2 its size would differ, so only upstream and
  // the port (where 39 is MXFP4 as well) fit.
  w.add_tensor("blk.0.ffn_up.weight", 39, {512, 256}, 512 * 256 / 32 * 17);
  Buffer b = parse(w);
  auto r = resolve_types(b.file, TypeMap::kAuto);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->map, TypeMap::kUpstream) << r->reason;
  EXPECT_NE(r->reason.find("does not matter"), std::string::npos) << r->reason;
  EXPECT_EQ(r->reason.rfind("upstream and bitnet-port fit", 0), 0u) << r->reason;
  EXPECT_EQ(r->tensors[2].type, QuantizationType::kMXFP4);
}

TEST(TypeResolution, UnknownIdIsSizedByItsSpanWithAWarning) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 1);
  w.add_u32("llama.embedding_length", 64);
  w.add_u32("llama.attention.head_count", 1);
  w.add_tensor("a.weight", 0, {64}, 256);
  w.add_tensor("mystery.weight", 99, {100, 3}, 200);  // 200 B -> span 224
  w.add_tensor("z.weight", 0, {8}, 32);
  Buffer b = parse(w);
  auto r = resolve_types(b.file, TypeMap::kAuto);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->tensors[1].type, QuantizationType::kUnknown);
  EXPECT_EQ(r->tensors[1].nbytes, 224u);
  EXPECT_EQ(r->tensors[1].size_basis, Basis::kDerived);
  EXPECT_EQ(r->tensors[0].size_basis, Basis::kExact);
  ASSERT_EQ(r->warnings.size(), 1u);
  const std::string& msg = r->warnings[0];
  EXPECT_NE(msg.find("mystery.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("type id 99"), std::string::npos) << msg;
  const std::uint64_t off = b.file.data_offset + 256;
  char hex[32];
  std::snprintf(hex, sizeof hex, "@0x%llx", static_cast<unsigned long long>(off));
  EXPECT_NE(msg.find(hex), std::string::npos) << msg;
  for (const char* m : {"upstream", "bitnet-2024", "bitnet-port"}) EXPECT_NE(msg.find(m), std::string::npos) << msg;
  // And through the analysis: the tensor counts as UNKNOWN, the warning is kept.
  auto a = analyse_gguf(b.file, {});
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->tensor_types.at("UNKNOWN").bytes, 224u);
  EXPECT_FALSE(a->warnings.empty());
}

TEST(TypeResolution, UnknownIdCandidateSizesAreListed) {
  // Id 36 with a span that fits neither IQ4_NL_4_4 (removed), nor I2_S: every candidate is named.
  GgufWriter w;
  w.add_string("general.architecture", "bitnet-b1.58");
  w.add_tensor_at("blk.0.attn_q.weight", 36, {256, 256}, 0);     // I2_S would be 16416 B
  w.add_tensor_at("blk.0.attn_k.weight", 0, {8}, 32768);        // span 32768 fits nothing
  std::string s = w.header();
  s.resize(s.size() + 32768 + 32, '\0');
  std::vector<std::byte> bytes(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) bytes[i] = static_cast<std::byte>(s[i]);
  auto f = parse_gguf(bytes);
  ASSERT_TRUE(f) << f.error().to_string();
  auto r = resolve_types(*f, TypeMap::kAuto);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->tensors[0].type, QuantizationType::kUnknown);
  EXPECT_EQ(r->tensors[0].nbytes, 32768u);
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings[0].find(std::to_string(i2s_bytes(256, 256))), std::string::npos) << r->warnings[0];
  EXPECT_NE(r->warnings[0].find("IQ4_NL_4_4"), std::string::npos) << r->warnings[0];
}

TEST(TypeResolution, ForcedMapConflictsNameTheMap) {
  Buffer b = parse(bitnet_file("bitnet-b1.58", kTl2Id2024));
  for (TypeMap forced : {TypeMap::kUpstream, TypeMap::kBitnetPort}) {
    auto r = resolve_types(b.file, forced);
    ASSERT_FALSE(r) << type_map_name(forced);
    EXPECT_EQ(r.error().code, Errc::kUnknownTensorType);
    EXPECT_NE(r.error().message.find(std::string(type_map_name(forced))), std::string::npos) << r.error().message;
    EXPECT_FALSE(r.error().field.empty());
    EXPECT_NE(r.error().hint.find("bitnet-2024"), std::string::npos) << r.error().hint;
  }
  auto ok = resolve_types(b.file, TypeMap::kBitnet2024);
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->map, TypeMap::kBitnet2024);
  EXPECT_NE(ok->reason.find("forced"), std::string::npos);
  // Through the analysis, too.
  AnalysisOptions ao;
  ao.type_map = TypeMap::kUpstream;
  auto a = analyse_gguf(b.file, ao);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::kUnknownTensorType);
}

TEST(TypeResolution, ImpossibleSpansFail) {
  {  // Two tensors at the same offset.
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_tensor_at("a.weight", 0, {8}, 0);
    w.add_tensor_at("b.weight", 0, {8}, 0);
    std::string s = w.header();
    s.resize(s.size() + 64, '\0');
    std::vector<std::byte> bytes(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) bytes[i] = static_cast<std::byte>(s[i]);
    auto f = parse_gguf(bytes);
    ASSERT_TRUE(f) << f.error().to_string();
    auto r = resolve_types(*f, TypeMap::kAuto);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUnknownTensorType);
  }
  {  // An F32 tensor of 256 B with only 32 B before the next one: overlap.
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_tensor_at("a.weight", 0, {64}, 0);
    w.add_tensor_at("b.weight", 0, {8}, 32);
    std::string s = w.header();
    s.resize(s.size() + 64, '\0');
    std::vector<std::byte> bytes(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) bytes[i] = static_cast<std::byte>(s[i]);
    auto f = parse_gguf(bytes);
    ASSERT_TRUE(f) << f.error().to_string();
    auto r = resolve_types(*f, TypeMap::kAuto);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUnknownTensorType);
    EXPECT_EQ(r.error().field, "a.weight");
  }
  {  // The last tensor larger than what is left of the file.
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_tensor("a.weight", 0, {64}, 256);
    Buffer b = parse(w);
    b.bytes.resize(b.bytes.size() - 128);
    b.file.bytes = b.bytes;
    b.file.buffer_bytes = b.bytes.size();
    auto r = resolve_types(b.file, TypeMap::kAuto);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUnknownTensorType);
  }
}

TEST(TypeResolution, HeaderOnlyI2sBothBitnetMapsAgree) {
  GgufWriter w;
  w.add_string("general.architecture", "bitnet-b1.58");
  w.add_tensor("blk.0.attn_q.weight", kI2sId, {256, 256}, i2s_bytes(256, 256));
  w.add_tensor("blk.0.attn_norm.weight", 0, {256}, 1024);
  Buffer b = parse(w, /*header_only=*/true);
  auto r = resolve_types(b.file, TypeMap::kAuto);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->map, TypeMap::kBitnet2024) << r->reason;
  EXPECT_NE(r->reason.find("does not matter"), std::string::npos) << r->reason;
  EXPECT_EQ(r->tensors[0].type, QuantizationType::kI2_S);
  EXPECT_EQ(r->tensors[0].span, 0u + (i2s_bytes(256, 256) + 31) / 32 * 32);
  EXPECT_EQ(r->data_end, (i2s_bytes(256, 256) + 31) / 32 * 32 + 1024);
}

TEST(TypeResolution, DisagreeingMapsAreDecidedByArchitectureThenFileType) {
  // Header-only, id 39 last: no span, so MXFP4 (upstream, port) and TL2 (2024) all fit, with
  // different sizes.
  struct Case {
    std::string arch;
    std::optional<std::uint32_t> file_type;
    TypeMap want;
    std::string why;
  };
  for (const Case& c : {Case{"bitnet-b1.58", std::nullopt, TypeMap::kBitnet2024, "general.architecture"},
                        Case{"bitnet", std::nullopt, TypeMap::kUpstream, "general.architecture"},
                        Case{"mystery", 40u, TypeMap::kBitnet2024, "general.file_type"},
                        Case{"mystery", std::nullopt, TypeMap::kUpstream, "no hint"}}) {
    SCOPED_TRACE(c.arch);
    GgufWriter w;
    w.add_string("general.architecture", c.arch);
    if (c.file_type) w.add_u32("general.file_type", *c.file_type);
    w.add_tensor("norm.weight", 0, {256}, 256 * 4);
    w.add_tensor("blk.0.attn_q.weight", 0, {256}, 256 * 4);
    w.add_tensor("blk.0.ffn_up.weight", 39, {512, 256}, tl2_bytes(512, 256));
    Buffer b = parse(w, /*header_only=*/true);
    auto r = resolve_types(b.file, TypeMap::kAuto);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->map, c.want) << r->reason;
    EXPECT_NE(r->reason.find(c.why), std::string::npos) << r->reason;
    EXPECT_NE(r->reason.find("disagree"), std::string::npos) << r->reason;
    EXPECT_EQ(r->tensors[2].type, c.want == TypeMap::kBitnet2024 ? QuantizationType::kTL2 : QuantizationType::kMXFP4);
  }
}

}  // namespace
}  // namespace bitnet::detail
