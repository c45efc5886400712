// A progress bar on stderr for long loads: shown only when stderr is a terminal and the load has
// run for about a second; quiet otherwise (pipes, CI logs, --json runs).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace bitnet::detail {

class ProgressBar {
 public:
  // enabled: the caller wants progress (LoadOptions::progress); the bar still stays quiet unless
  // `out` is a terminal. total: the bytes the whole load will process.
  ProgressBar(bool enabled, std::uint64_t total, std::FILE* out = stderr);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void set_stage(std::string stage);  // "mapping", "reading", "committing kv_cache" ...
  void advance(std::uint64_t bytes);
  void finish();                      // clears the line if anything was drawn

  bool drawn() const noexcept { return drawn_; }
  // The line as it would be drawn (tests): "loading  mapping  [#####     ]  45%  512/1136 MiB".
  static std::string render(const std::string& stage, std::uint64_t done, std::uint64_t total, int width);

 private:
  void maybe_draw(bool force);

  bool active_;  // enabled and a terminal
  std::uint64_t total_, done_ = 0;
  std::FILE* out_;
  std::string stage_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace bitnet::detail
