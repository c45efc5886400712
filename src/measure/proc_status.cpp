#include "measure/proc_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

namespace bitnet::detail {
namespace {

// "Key:\t  1234 kB" -> bytes, for the line whose key matches.
std::optional<std::uint64_t> kb_field(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
    line.remove_prefix(key.size() + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec != std::errc{}) return std::nullopt;
    const std::string_view unit(p, static_cast<std::size_t>(line.data() + line.size() - p));
    return unit.find("kB") != std::string_view::npos ? v * 1024 : v;
  }
  return std::nullopt;
}

// A /proc file read with one read() loop into a fixed buffer: no heap allocation, so that
// sampling between two commits does not itself move the anonymous RSS.
std::string_view read_small(const char* path, char* buf, std::size_t cap) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::size_t n = 0;
  while (n < cap) {
    const ssize_t r = ::read(fd, buf + n, cap - n);
    if (r <= 0) break;
    n += static_cast<std::size_t>(r);
  }
  ::close(fd);
  return {buf, n};
}

}  // namespace

Result<MeasuredMemory> parse_proc_status(std::string_view text) {
  struct Row {
    std::string_view key;
    std::uint64_t MeasuredMemory::*field;
  };
  // clang-format off
  static constexpr Row kRows[] = {
    {"VmRSS",    &MeasuredMemory::rss_bytes},
    {"VmHWM",    &MeasuredMemory::hwm_bytes},
    {"RssAnon",  &MeasuredMemory::rss_anon_bytes},
    {"RssFile",  &MeasuredMemory::rss_file_bytes},
    {"RssShmem", &MeasuredMemory::rss_shmem_bytes},
  };
  // clang-format on
  MeasuredMemory m;
  bool have_rss = false;
  for (const Row& r : kRows) {
    if (const auto v = kb_field(text, r.key)) {
      m.*(r.field) = *v;
      if (r.field == &MeasuredMemory::rss_bytes) have_rss = true;
    }
  }
  if (!have_rss)
    return Error{Errc::kMalformed, "/proc/self/status has no VmRSS line", kNoOffset, "VmRSS",
                 "is /proc mounted? (a Linux kernel is required to measure)"};
  return m;
}

std::optional<std::uint64_t> parse_smaps_rollup_pss(std::string_view text) { return kb_field(text, "Pss"); }

Result<MeasuredMemory> read_self_status() {
  char buf[8192];
  const std::string_view text = read_small("/proc/self/status", buf, sizeof buf);
  if (text.empty())
    return Error{Errc::kUnavailable, "cannot read /proc/self/status", kNoOffset, "/proc/self/status",
                 "measuring needs Linux with /proc mounted"};
  return parse_proc_status(text);
}

Status reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return Error{Errc::kUnavailable, std::string("cannot open /proc/self/clear_refs: ") + std::strerror(e),
                 kNoOffset, "/proc/self/clear_refs", "the peak cannot be reset here; compare from process start"};
  }
  const ssize_t w = ::write(fd, "5", 1);
  const int e = errno;
  ::close(fd);
  if (w != 1)
    return Error{Errc::kUnavailable, std::string("cannot reset the peak RSS: ") + std::strerror(e), kNoOffset,
                 "/proc/self/clear_refs", "needs Linux >= 4.0"};
  return Ok{};
}

}  // namespace bitnet::detail
