// Synthetic tokenizers (see tokenizer_synth.h).
#include "synth/tokenizer_synth.h"

#include <vector>

namespace bitnet::detail {
namespace {

constexpr std::uint32_t kBpeSpecial = 2;    // the last two ids: <|begin|>, <|end|>
constexpr std::uint32_t kSpmFixed = 3 + 256;  // <unk> <s> </s> + byte tokens

void append_utf8(std::string& s, std::uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// GPT-2 byte-level alphabet: printable Latin-1 bytes stand for themselves; the other 68 bytes map
// to U+0100.. in order. So byte 0x20 (space) is 'Ġ' (U+0120) and no token contains a space.
std::uint32_t byte_codepoint(std::uint32_t b) {
  static const std::vector<std::uint32_t> table = [] {
    auto printable = [](std::uint32_t x) {
      return (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
    };
    std::vector<std::uint32_t> t(256);
    std::uint32_t n = 0;
    for (std::uint32_t x = 0; x < 256; ++x) t[x] = printable(x) ? x : 0x100 + n++;
    return t;
  }();
  return table[b & 0xFF];
}

// Bijective base 26: 0 -> "a", 25 -> "z", 26 -> "aa" ... (distinct strings for distinct numbers).
std::string word(std::uint32_t g) {
  std::string s;
  std::uint64_t v = std::uint64_t{g} + 1;
  while (v > 0) {
    --v;
    s.insert(s.begin(), static_cast<char>('a' + v % 26));
    v /= 26;
  }
  return s;
}

}  // namespace

std::string bpe_token(std::uint32_t i) {
  std::string s;
  if (i < 256) {
    append_utf8(s, byte_codepoint(i));
    return s;
  }
  append_utf8(s, 0x120);  // 'Ġ': a word-initial piece, at least two characters, never a byte token
  s += word(i - 256);
  return s;
}

std::string spm_token(std::uint32_t i) {
  static const char* kFixed[] = {"<unk>", "<s>", "</s>"};
  if (i < 3) return kFixed[i];
  if (i < kSpmFixed) {
    static const char* d = "0123456789ABCDEF";
    const std::uint32_t b = i - 3;
    return std::string("<0x") + d[b >> 4] + d[b & 15] + ">";
  }
  std::string s = "\xE2\x96\x81";  // U+2581 '▁'
  s += word(i - kSpmFixed);
  return s;
}

Status add_tokenizer(GgufWriter& w, const TokenizerSpec& t) {
  const std::uint32_t v = t.n_vocab;
  if (t.model == "gpt2") {
    if (v < 256 + kBpeSpecial)
      return Error{Errc::kInvalidArgument, "a byte-level BPE vocabulary needs at least 258 tokens", kNoOffset,
                   "n_vocab", {}};
    const std::uint64_t normal = v - kBpeSpecial;
    if (t.n_merges > normal * normal)
      return Error{Errc::kInvalidArgument, "more merges than distinct token pairs", kNoOffset, "n_merges", {}};
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", t.pre);
    w.add_string_array_fn("tokenizer.ggml.tokens", v, [&](std::uint64_t i) {
      if (i == v - 2) return std::string("<|begin_of_text|>");
      if (i == v - 1) return std::string("<|end_of_text|>");
      return bpe_token(static_cast<std::uint32_t>(i));
    });
    std::vector<std::int32_t> types(v, 1);
    types[v - 2] = types[v - 1] = 3;  // control
    w.add_i32_array("tokenizer.ggml.token_type", types);
    // Merge k joins tokens (k % normal, k / normal): distinct pairs, both parts in the vocabulary.
    if (t.n_merges > 0)
      w.add_string_array_fn("tokenizer.ggml.merges", t.n_merges, [&](std::uint64_t k) {
        return bpe_token(static_cast<std::uint32_t>(k % normal)) + " " +
               bpe_token(static_cast<std::uint32_t>(k / normal));
      });
    w.add_u32("tokenizer.ggml.bos_token_id", v - 2);
    w.add_u32("tokenizer.ggml.eos_token_id", v - 1);
    return Ok{};
  }
  if (t.model == "llama") {
    if (v < kSpmFixed + 1)
      return Error{Errc::kInvalidArgument, "a SentencePiece vocabulary needs at least 260 tokens", kNoOffset,
                   "n_vocab", {}};
    if (t.n_merges != 0)
      return Error{Errc::kInvalidArgument, "a SentencePiece tokenizer has no merges", kNoOffset, "n_merges", {}};
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array_fn("tokenizer.ggml.tokens", v, [](std::uint64_t i) { return spm_token(static_cast<std::uint32_t>(i)); });
    std::vector<float> scores(v, 0.0f);
    std::vector<std::int32_t> types(v, 1);
    types[0] = 2;                              // unknown
    types[1] = types[2] = 3;                   // control
    for (std::uint32_t i = 3; i < kSpmFixed; ++i) types[i] = 6;  // byte
    for (std::uint32_t i = kSpmFixed; i < v; ++i) scores[i] = -static_cast<float>(i - kSpmFixed);
    w.add_f32_array("tokenizer.ggml.scores", scores);
    w.add_i32_array("tokenizer.ggml.token_type", types);
    w.add_u32("tokenizer.ggml.bos_token_id", 1);
    w.add_u32("tokenizer.ggml.eos_token_id", 2);
    w.add_u32("tokenizer.ggml.unknown_token_id", 0);
    return Ok{};
  }
  return Error{Errc::kInvalidArgument, "unknown tokenizer model '" + t.model + "' (gpt2 or llama)", kNoOffset,
               "tokenizer", {}};
}

}  // namespace bitnet::detail
