// parse_gguf on the header of a 128k-vocabulary model (llama-3 tokenizer shape: 128256 tokens,
// 280000 merges, token types; 30 llama-shaped layers of tensor infos), built in memory with
// GgufWriter, against a baseline that only walks the same length prefixes: the minimum any GGUF
// parser must do to find the end of the header (read each count and length, bounds-check it, skip).
//   build/bench/bitnet_bench --benchmark_filter=Gguf --benchmark_repetitions=10
//     --benchmark_report_aggregates_only=true
// Target: BM_GgufParse median <= 1 ms and <= 2x BM_GgufWalkBaseline's median.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "format/gguf_reader.h"
#include "synth/gguf_writer.h"

namespace {

using bitnet::detail::GgufWriter;

// Deterministic pseudo-random text (xorshift), so the header is the same in every run.
struct Rng {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

std::string word(Rng& r, std::uint64_t min_len, std::uint64_t max_len) {
  const std::uint64_t len = min_len + r.next() % (max_len - min_len + 1);
  std::string w(len, 'a');
  for (char& c : w) c = static_cast<char>('a' + r.next() % 26);
  return w;
}

const std::string& model_header() {
  static const std::string header = [] {
    constexpr std::uint64_t kVocab = 128256, kMerges = 280000;
    constexpr std::uint64_t kLayers = 30, kEmbd = 2560, kFf = 6912, kEmbdKv = 640;
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_string("general.name", "bench-128k");
    w.add_u32("general.file_type", 1);
    w.add_u32("general.quantization_version", 2);
    w.add_u32("llama.block_count", kLayers);
    w.add_u32("llama.context_length", 4096);
    w.add_u32("llama.embedding_length", kEmbd);
    w.add_u32("llama.feed_forward_length", kFf);
    w.add_u32("llama.attention.head_count", 20);
    w.add_u32("llama.attention.head_count_kv", 5);
    w.add_u32("llama.rope.dimension_count", 128);
    w.add_f32("llama.rope.freq_base", 500000.0f);
    w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_u32("llama.vocab_size", kVocab);
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", "llama-bpe");
    // Token lengths 1..12 (mean 6.5), merges "x y" with parts of 1..8 (mean 10 bytes): about the
    // 1.0 MB and 2.6 MB of text of the real llama-3 arrays.
    Rng r;
    w.add_string_array_fn("tokenizer.ggml.tokens", kVocab,
                          [&](std::uint64_t) { return word(r, 1, 12); });
    w.add_i32_array("tokenizer.ggml.token_type", std::vector<std::int32_t>(kVocab, 1));
    w.add_string_array_fn("tokenizer.ggml.merges", kMerges, [&](std::uint64_t) {
      std::string m = word(r, 1, 8);
      m += ' ';
      m += word(r, 1, 8);
      return m;
    });
    w.add_u32("tokenizer.ggml.bos_token_id", 128000);
    w.add_u32("tokenizer.ggml.eos_token_id", 128009);
    w.add_string("tokenizer.chat_template", std::string(1200, 't'));
    auto f16 = [](std::uint64_t n) { return 2 * n; };
    w.add_tensor("token_embd.weight", 1, {kEmbd, kVocab}, f16(kEmbd * kVocab));
    for (std::uint64_t il = 0; il < kLayers; ++il) {
      const std::string p = "blk." + std::to_string(il) + ".";
      w.add_tensor(p + "attn_norm.weight", 0, {kEmbd}, 4 * kEmbd);
      w.add_tensor(p + "attn_q.weight", 1, {kEmbd, kEmbd}, f16(kEmbd * kEmbd));
      w.add_tensor(p + "attn_k.weight", 1, {kEmbd, kEmbdKv}, f16(kEmbd * kEmbdKv));
      w.add_tensor(p + "attn_v.weight", 1, {kEmbd, kEmbdKv}, f16(kEmbd * kEmbdKv));
      w.add_tensor(p + "attn_output.weight", 1, {kEmbd, kEmbd}, f16(kEmbd * kEmbd));
      w.add_tensor(p + "ffn_norm.weight", 0, {kEmbd}, 4 * kEmbd);
      w.add_tensor(p + "ffn_gate.weight", 1, {kEmbd, kFf}, f16(kEmbd * kFf));
      w.add_tensor(p + "ffn_up.weight", 1, {kEmbd, kFf}, f16(kEmbd * kFf));
      w.add_tensor(p + "ffn_down.weight", 1, {kFf, kEmbd}, f16(kFf * kEmbd));
    }
    w.add_tensor("output_norm.weight", 0, {kEmbd}, 4 * kEmbd);
    w.add_tensor("output.weight", 1, {kEmbd, kVocab}, f16(kEmbd * kVocab));
    return w.header();
  }();
  return header;
}

std::span<const std::byte> header_bytes() {
  const std::string& h = model_header();
  return {reinterpret_cast<const std::byte*>(h.data()), h.size()};
}

// ---- baseline: walk the length prefixes, nothing else ------------------------------------------

// Skips `count` length-prefixed strings from `p`; returns the end, or 0 if one does not fit.
std::uint64_t walk_strings(const std::byte* d, std::uint64_t n, std::uint64_t p,
                           std::uint64_t count) {
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t len;
    if (n - p < 8) return 0;
    std::memcpy(&len, d + p, 8);
    if (len > n - p - 8) return 0;
    p += 8 + len;
  }
  return p;
}

struct Walker {
  const std::byte* d;
  std::uint64_t n, p = 0;
  bool ok = true;

  std::uint64_t u64() {
    if (n - p < 8) return ok = false, 0;
    std::uint64_t v;
    std::memcpy(&v, d + p, 8);
    p += 8;
    return v;
  }
  std::uint32_t u32() {
    if (n - p < 4) return ok = false, 0;
    std::uint32_t v;
    std::memcpy(&v, d + p, 4);
    p += 4;
    return v;
  }
  void skip(std::uint64_t k) {
    if (k > n - p)
      ok = false;
    else
      p += k;
  }
  void str() { skip(u64()); }
  void value(std::uint32_t type) {
    static constexpr std::uint8_t kSize[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type >= 13) {
      ok = false;
    } else if (type == 8) {
      str();
    } else if (type == 9) {
      const std::uint32_t et = u32();
      const std::uint64_t count = u64();
      if (et == 8) {  // the hot loop, on locals only
        const std::uint64_t q = walk_strings(d, n, p, count);
        if (q == 0) return void(ok = false);
        p = q;
      } else if (et == 9 || et >= 13) {
        for (std::uint64_t i = 0; i < count && ok; ++i) value(9);
      } else if (count > (n - p) / kSize[et]) {
        ok = false;
      } else {
        p += count * kSize[et];
      }
    } else {
      skip(kSize[type]);
    }
  }
  // Returns the end of the tensor infos, or 0 if the header is broken.
  std::uint64_t walk() {
    p = 8;  // magic, version
    const std::uint64_t n_tensors = u64(), n_kv = u64();
    for (std::uint64_t i = 0; i < n_kv && ok; ++i) {
      str();
      value(u32());
    }
    for (std::uint64_t i = 0; i < n_tensors && ok; ++i) {
      str();
      skip(8 * std::uint64_t{u32()} + 4 + 8);
    }
    return ok ? p : 0;
  }
};

void BM_GgufWalkBaseline(benchmark::State& state) {
  const auto b = header_bytes();
  for (auto _ : state) {
    Walker w{b.data(), b.size()};
    benchmark::DoNotOptimize(w.walk());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * b.size()));
}

void BM_GgufParse(benchmark::State& state) {
  const auto b = header_bytes();
  {
    Walker w{b.data(), b.size()};
    auto f = bitnet::detail::parse_gguf(b, {.header_only = true});
    if (!f || w.walk() == 0 || f->tensors.size() != 273 || f->kvs.size() != 22) {
      state.SkipWithError("the benchmark header does not parse as expected");
      return;
    }
  }
  for (auto _ : state) {
    auto f = bitnet::detail::parse_gguf(b, {.header_only = true});
    benchmark::DoNotOptimize(f);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * b.size()));
  state.counters["header_MB"] = static_cast<double>(b.size()) / 1e6;
}

BENCHMARK(BM_GgufWalkBaseline)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GgufParse)->Unit(benchmark::kMicrosecond);

}  // namespace
