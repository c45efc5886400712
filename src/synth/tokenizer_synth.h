// Synthetic tokenizers: exactly n_vocab unique token strings, and n_merges unique, well-formed BPE
// merges ("left right", both parts tokens of the vocabulary), generated on the fly.
#pragma once

#include <cstdint>
#include <string>

#include "bitnet/error.h"
#include "synth/gguf_writer.h"

namespace bitnet::detail {

struct TokenizerSpec {
  std::string model = "gpt2";  // "gpt2" (byte-level BPE) or "llama" (SentencePiece, with scores)
  std::string pre = "default";
  std::uint32_t n_vocab = 0;
  std::uint32_t n_merges = 0;
};

// The i-th token of a byte-level BPE vocabulary (i < n_vocab): 256 byte tokens, then generated words.
std::string bpe_token(std::uint32_t i);
// The i-th token of a SentencePiece vocabulary: <unk>, <s>, </s>, <0x00>..<0xFF>, then pieces.
std::string spm_token(std::uint32_t i);

// Adds tokenizer.ggml.* keys. Errors: a vocabulary too small for its byte tokens, more merges than
// distinct pairs.
Status add_tokenizer(GgufWriter& w, const TokenizerSpec& t);

}  // namespace bitnet::detail
