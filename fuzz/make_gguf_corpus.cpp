// Writes the GGUF fuzz seed corpus: one file per row of the corruption table
// (tests/corrupt/gguf_corrupt_rows.h) plus valid seeds, and expected.tsv with the error each must
// give. Usage: bitnet_make_gguf_corpus OUT_DIR (normally fuzz/corpus/gguf). Deterministic.
#include <cstdio>
#include <fstream>
#include <string>

#include "bitnet/error.h"
#include "corrupt/gguf_corrupt_rows.h"

namespace {

bool write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::string tsv = "# file\terrc\toffset\tmode\tfield\n";
  for (const auto& seed : bitnet::corrupt::gguf_valid_seeds()) {
    if (!write_file(dir + "/" + seed.first + ".gguf", seed.second)) return 1;
    tsv += seed.first + ".gguf\tok\t-\tfull\t-\n";
  }
  for (const bitnet::corrupt::Row& r : bitnet::corrupt::gguf_corrupt_rows()) {
    if (!write_file(dir + "/" + r.name + ".gguf", r.bytes)) return 1;
    tsv += r.name + ".gguf\t" + std::string(bitnet::errc_name(r.code)) + "\t" +
           (r.offset == bitnet::kNoOffset ? std::string("-") : std::to_string(r.offset)) + "\t" +
           (r.header_only ? "header_only" : "full") + "\t" + r.field + "\n";
  }
  if (!write_file(dir + "/expected.tsv", tsv)) return 1;
  return 0;
}
