// The GGUF corruption table (rows in gguf_corrupt_rows.h): each malformed file gives the exact
// Errc, byte offset and field, with a message and a hint; no parse allocates more than the file's
// size plus a small constant; every prefix of a valid file is reported as truncated.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <set>
#include <span>
#include <string>

#include "corrupt/gguf_corrupt_rows.h"
#include "format/gguf_reader.h"

// ---- a counting global operator new/delete (counts only while g_counting is set) ---------------
namespace {
bool g_counting = false;
std::int64_t g_live = 0;
std::int64_t g_peak = 0;

void note_alloc(void* p) noexcept {
  if (g_counting && p != nullptr) {
    g_live += static_cast<std::int64_t>(malloc_usable_size(p));
    g_peak = std::max(g_peak, g_live);
  }
}
void note_free(void* p) noexcept {
  if (g_counting && p != nullptr) g_live -= static_cast<std::int64_t>(malloc_usable_size(p));
}
void* counted_alloc(std::size_t n) noexcept {
  void* p = std::malloc(n == 0 ? 1 : n);
  note_alloc(p);
  return p;
}
// Out of line, so that g++ does not inline it into operator delete and then warn that free() gets
// a pointer from operator new (-Wmismatched-new-delete, a false positive for a replacement pair).
[[gnu::noinline]] void counted_free(void* p) noexcept {
  note_free(p);
  std::free(p);
}
}  // namespace

void* operator new(std::size_t n) {
  void* p = counted_alloc(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t n) {
  void* p = counted_alloc(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}

namespace bitnet::detail {
namespace {

using corrupt::Row;

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// What any parse of these small files may allocate beyond the file's size. It holds the index of
// the entries that precede the corruption (no row has more than 10 kvs and 5 tensors) and one
// Error: per entry the vector slot, a hash node (a string_view, an index, a next pointer and the
// cached hash: 40 B, 48 B after malloc's rounding) and a bucket (8 B, twice that for prime
// rounding); message, field and hint below 400 B each, with at most two temporaries of that size
// alive while the message is built.
constexpr std::uint64_t kSlack =
    10 * (sizeof(GgufKv) + 48 + 16) + 5 * (sizeof(GgufTensorInfo) + 48 + 16) + 5 * 400;

struct Parsed {
  Result<GgufFile> r;
  std::int64_t peak_bytes;
};

Parsed parse_counted(const std::string& bytes, bool header_only) {
  g_live = 0;
  g_peak = 0;
  g_counting = true;
  auto r = parse_gguf(as_bytes(bytes), GgufParseOptions{.header_only = header_only});
  g_counting = false;
  return {std::move(r), g_peak};
}

TEST(GgufCorruptBase, ParsesAndMatchesTheHandLayout) {
  const std::string b = corrupt::base_file();
  const corrupt::Layout& L = corrupt::base_layout();
  ASSERT_EQ(b.size(), L.data_offset + corrupt::kBaseDataBytes);
  // The rows below need padding between the infos and the data (trunc_in_padding).
  ASSERT_GT(L.data_offset, L.infos_end + 1);
  auto f = parse_gguf(as_bytes(b));
  ASSERT_TRUE(f) << f.error().to_string();
  ASSERT_EQ(f->kvs.size(), L.kv.size());
  for (std::size_t i = 0; i < L.kv.size(); ++i) {
    EXPECT_EQ(f->kvs[i].key, L.kv[i].key);
    EXPECT_EQ(f->kvs[i].key_offset, L.kv[i].key_off);
    EXPECT_EQ(f->kvs[i].type_offset(), L.kv[i].type_off);
    EXPECT_EQ(f->kvs[i].value.offset, L.kv[i].value_off);
  }
  ASSERT_EQ(f->tensors.size(), L.t.size());
  for (std::size_t i = 0; i < L.t.size(); ++i) {
    EXPECT_EQ(f->tensors[i].name, L.t[i].name);
    EXPECT_EQ(f->tensors[i].info_offset, L.t[i].name_off);
    EXPECT_EQ(f->tensors[i].offset_field, L.t[i].offset_off);
  }
  EXPECT_EQ(f->data_offset, L.data_offset);
  EXPECT_EQ(f->tensors[1].offset, 128u);
  EXPECT_EQ(f->tensors[2].offset, 256u);
}

TEST(GgufCorruptTable, HasAtLeast30RowsWithUniqueNames) {
  const auto rows = corrupt::gguf_corrupt_rows();
  EXPECT_GE(rows.size(), 30u);
  std::set<std::string> names;
  for (const Row& r : rows) EXPECT_TRUE(names.insert(r.name).second) << r.name;
}

TEST(GgufCorruptTable, NoRowAllocatesMoreThanTheFileAndTheSlack) {
  // Sanity of the allocation counter: a reader that reserved by the declared count would allocate
  // this much for the n_kv bomb row, many times its size plus the slack.
  const auto rows = corrupt::gguf_corrupt_rows();
  const auto bomb = std::find_if(rows.begin(), rows.end(),
                                 [](const Row& r) { return r.name == "n_kv_allocation_bomb"; });
  ASSERT_NE(bomb, rows.end());
  std::int64_t declared = 0;
  std::memcpy(&declared, bomb->bytes.data() + 16, 8);
  EXPECT_GT(static_cast<std::uint64_t>(declared) * sizeof(GgufKv),
            4 * (bomb->bytes.size() + kSlack));
  for (const Row& r : rows) {
    const Parsed p = parse_counted(r.bytes, r.header_only);
    EXPECT_LE(static_cast<std::uint64_t>(p.peak_bytes), r.bytes.size() + kSlack) << r.name;
  }
}

TEST(GgufCorruptTable, CounterSeesAllocations) {
  // The counter is live: parsing the valid base allocates its index.
  const Parsed p = parse_counted(corrupt::base_file(), false);
  ASSERT_TRUE(p.r);
  EXPECT_GE(static_cast<std::uint64_t>(p.peak_bytes),
            8 * sizeof(GgufKv) + 3 * sizeof(GgufTensorInfo));
}

class GgufCorruptRow : public ::testing::TestWithParam<Row> {};

TEST_P(GgufCorruptRow, GivesTheExactError) {
  const Row& row = GetParam();
  auto f = parse_gguf(as_bytes(row.bytes), GgufParseOptions{.header_only = row.header_only});
  ASSERT_FALSE(f) << row.name << " parsed";
  const Error& e = f.error();
  EXPECT_EQ(errc_name(e.code), errc_name(row.code)) << e.to_string();
  EXPECT_EQ(e.offset, row.offset) << e.to_string();
  EXPECT_EQ(e.field, row.field) << e.to_string();
  EXPECT_FALSE(e.message.empty());
  EXPECT_FALSE(e.hint.empty()) << e.to_string();
}

TEST_P(GgufCorruptRow, OtherModeNeverCrashes) {
  // The same bytes in the other mode: any result, but errors still carry an offset and a hint.
  const Row& row = GetParam();
  auto f = parse_gguf(as_bytes(row.bytes), GgufParseOptions{.header_only = !row.header_only});
  if (!f) {
    EXPECT_NE(f.error().offset, kNoOffset) << f.error().to_string();
    EXPECT_FALSE(f.error().hint.empty()) << f.error().to_string();
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, GgufCorruptRow, ::testing::ValuesIn(corrupt::gguf_corrupt_rows()),
                         [](const ::testing::TestParamInfo<Row>& i) { return i.param.name; });

TEST(GgufCorrupt, ByteSwappedVersionSaysBigEndian) {
  const std::string b = corrupt::patched(corrupt::base_file(), 4, std::uint32_t{0x03000000});
  auto f = parse_gguf(as_bytes(b));
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("big-endian"), std::string::npos) << f.error().message;
}

TEST(GgufCorrupt, HugeKeyIsNotCopiedIntoTheError) {
  // A 100 kB binary key that duplicates an earlier one: the field is printable and bounded.
  const std::string key = std::string(100000, '\x01');
  GgufWriter w;
  w.add_u8(key, 1);
  w.add_u8(key, 2);
  const std::string b = corrupt::file_of(w);
  auto f = parse_gguf(as_bytes(b));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, Errc::kMalformed);
  EXPECT_EQ(f.error().offset, corrupt::kPrefixBytes + 8 + key.size() + 4 + 1);
  EXPECT_LE(f.error().field.size(), 200u);
  EXPECT_EQ(f.error().field.substr(0, 8), "\\x01\\x01");
}

// Every prefix of the valid base: in full mode, a prefix that ends at or before the first byte of
// the last tensor's data (data_offset + 256) is an error, kTruncated; a longer one parses (the
// reader checks offsets only; byte spans are the analysis' job).
TEST(GgufCorrupt, EveryPrefixIsTruncated) {
  const std::string b = corrupt::base_file();
  const corrupt::Layout& L = corrupt::base_layout();
  const std::uint64_t last_offset_abs = L.data_offset + 256;
  for (std::uint64_t n = 0; n < b.size(); ++n) {
    const std::string prefix = b.substr(0, n);
    const Parsed p = parse_counted(prefix, false);
    EXPECT_LE(static_cast<std::uint64_t>(p.peak_bytes), n + kSlack) << n;
    if (n <= last_offset_abs) {
      ASSERT_FALSE(p.r) << "prefix " << n << " parsed";
      EXPECT_EQ(p.r.error().code, Errc::kTruncated) << n << ": " << p.r.error().to_string();
      EXPECT_FALSE(p.r.error().hint.empty());
      // The offset names where the missing field starts: inside the prefix, at its end, or at the
      // data section that the prefix does not reach.
      const std::uint64_t off = p.r.error().offset;
      EXPECT_TRUE(off <= n || off == L.data_offset) << n << ": " << p.r.error().to_string();
    } else {
      EXPECT_TRUE(p.r) << n << ": " << p.r.error().to_string();
    }
  }
}

// Header-only: a prefix that holds every tensor info is analysable; a shorter one is truncated,
// with the hint to read more.
TEST(GgufCorrupt, EveryHeaderOnlyPrefix) {
  const std::string b = corrupt::base_file();
  const corrupt::Layout& L = corrupt::base_layout();
  for (std::uint64_t n = 0; n <= b.size(); ++n) {
    const std::string prefix = b.substr(0, n);
    const Parsed p = parse_counted(prefix, true);
    EXPECT_LE(static_cast<std::uint64_t>(p.peak_bytes), n + kSlack) << n;
    if (n < L.infos_end) {
      ASSERT_FALSE(p.r) << "prefix " << n << " parsed";
      EXPECT_EQ(p.r.error().code, Errc::kTruncated) << n << ": " << p.r.error().to_string();
      EXPECT_LE(p.r.error().offset, n);
      EXPECT_NE(p.r.error().hint.find("longer prefix"), std::string::npos) << p.r.error().hint;
    } else {
      ASSERT_TRUE(p.r) << n << ": " << p.r.error().to_string();
      EXPECT_EQ(p.r->tensors.size(), 3u);
      EXPECT_EQ(p.r->data_offset, L.data_offset);
      EXPECT_EQ(p.r->tensors[2].offset, 256u);
    }
  }
}

}  // namespace
}  // namespace bitnet::detail
