#include "load/progress.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace bitnet::detail {
namespace {
// Show nothing for loads that finish within this time (the issue: "loads over about a second").
constexpr auto kShowAfter = std::chrono::milliseconds(1000);
// Redraw at most this often.
constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
constexpr int kBarWidth = 30;
}  // namespace

ProgressBar::ProgressBar(bool enabled, std::uint64_t total, std::FILE* out)
    : active_(enabled && out != nullptr && ::isatty(::fileno(out)) == 1),
      total_(total),
      out_(out),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::set_stage(std::string stage) {
  stage_ = std::move(stage);
  maybe_draw(false);
}

void ProgressBar::advance(std::uint64_t bytes) {
  done_ = std::min(total_, done_ + bytes);
  maybe_draw(false);
}

std::string ProgressBar::render(const std::string& stage, std::uint64_t done, std::uint64_t total, int width) {
  const double frac = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int fill = static_cast<int>(frac * width + 0.5);
  std::string bar(static_cast<std::size_t>(std::clamp(fill, 0, width)), '#');
  bar.resize(static_cast<std::size_t>(width), ' ');
  char tail[96];
  std::snprintf(tail, sizeof tail, "] %3d%%  %llu/%llu MiB", static_cast<int>(frac * 100.0),
                static_cast<unsigned long long>(done >> 20), static_cast<unsigned long long>(total >> 20));
  std::string stage_col = stage;
  stage_col.resize(std::max<std::size_t>(stage_col.size(), 22), ' ');
  return "loading  " + stage_col + " [" + bar + tail;
}

void ProgressBar::maybe_draw(bool force) {
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && (now - start_ < kShowAfter || now - last_ < kRedrawEvery)) return;
  last_ = now;
  std::fprintf(out_, "\r%s\x1b[K", render(stage_, done_, total_, kBarWidth).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  std::fprintf(out_, "\r\x1b[K");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace bitnet::detail
