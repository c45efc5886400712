// Replays the checked-in GGUF fuzz corpus (fuzz/corpus/gguf/): every file is listed in expected.tsv
// and gives exactly the error listed there (or parses, for "ok"). The corpus must also still be
// what the corruption table generates, so the two cannot drift apart (regenerate with
// bitnet_make_gguf_corpus, see fuzz/CMakeLists.txt).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "corrupt/gguf_corrupt_rows.h"
#include "format/gguf_reader.h"

namespace bitnet::detail {
namespace {

const std::filesystem::path kCorpus =
    std::filesystem::path(BITNET_SOURCE_DIR) / "fuzz" / "corpus" / "gguf";

struct Expected {
  std::string file, errc, offset, mode, field;
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Expected> read_tsv() {
  std::vector<Expected> out;
  std::istringstream in(read_all(kCorpus / "expected.tsv"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::size_t start = 0;
    for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      cols.push_back(line.substr(start, tab - start));
    cols.push_back(line.substr(start));
    EXPECT_EQ(cols.size(), 5u) << line;
    if (cols.size() == 5) out.push_back({cols[0], cols[1], cols[2], cols[3], cols[4]});
  }
  return out;
}

TEST(GgufCorpusReplay, EveryFileGivesItsExpectedError) {
  const auto rows = read_tsv();
  ASSERT_GE(rows.size(), 30u);
  std::set<std::string> listed;
  for (const Expected& x : rows) {
    SCOPED_TRACE(x.file);
    listed.insert(x.file);
    const std::string bytes = read_all(kCorpus / x.file);
    ASSERT_TRUE(x.mode == "full" || x.mode == "header_only");
    auto f = parse_gguf({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()},
                        GgufParseOptions{.header_only = x.mode == "header_only"});
    if (x.errc == "ok") {
      EXPECT_TRUE(f) << f.error().to_string();
      continue;
    }
    ASSERT_FALSE(f);
    EXPECT_EQ(errc_name(f.error().code), x.errc) << f.error().to_string();
    EXPECT_EQ(x.offset == "-" ? std::string("-") : std::to_string(f.error().offset), x.offset)
        << f.error().to_string();
    EXPECT_EQ(f.error().field, x.field) << f.error().to_string();
  }
  // No unlisted file in the corpus directory.
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus)) {
    const std::string name = entry.path().filename().string();
    if (name == "expected.tsv") continue;
    EXPECT_TRUE(listed.count(name)) << name << " is in the corpus but not in expected.tsv";
  }
}

TEST(GgufCorpusReplay, CorpusIsWhatTheTableGenerates) {
  std::map<std::string, Expected> by_file;
  for (const Expected& x : read_tsv()) by_file[x.file] = x;
  for (const corrupt::Row& r : corrupt::gguf_corrupt_rows()) {
    SCOPED_TRACE(r.name);
    const std::string file = r.name + ".gguf";
    ASSERT_TRUE(by_file.count(file)) << "row missing from the corpus; run bitnet_make_gguf_corpus";
    EXPECT_EQ(read_all(kCorpus / file), r.bytes)
        << "stale corpus file; run bitnet_make_gguf_corpus";
    EXPECT_EQ(by_file[file].errc, errc_name(r.code));
    EXPECT_EQ(by_file[file].offset, std::to_string(r.offset));
    EXPECT_EQ(by_file[file].mode, r.header_only ? "header_only" : "full");
    EXPECT_EQ(by_file[file].field, r.field);
  }
  for (const auto& [name, bytes] : corrupt::gguf_valid_seeds()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(by_file.count(name + ".gguf"));
    EXPECT_EQ(read_all(kCorpus / (name + ".gguf")), bytes);
    EXPECT_EQ(by_file[name + ".gguf"].errc, "ok");
  }
}

}  // namespace
}  // namespace bitnet::detail
