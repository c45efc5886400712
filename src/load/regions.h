// The memory a load owns: an anonymous region committed page by page (so that a plan that cannot
// fit fails here, with an error, rather than later with an OOM kill), and a read-only mapping of
// the file's tensor span. Both RAII.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "bitnet/error.h"

namespace bitnet::detail {

std::uint64_t page_size() noexcept;

// Called with the bytes just processed; lets the progress bar move during long commits.
using ProgressFn = std::function<void(std::uint64_t)>;

class AnonRegion {
 public:
  // Reserves `bytes` (rounded up to whole pages) of private anonymous memory; nothing resident yet.
  static Result<AnonRegion> reserve(std::uint64_t bytes, const std::string& what);
  AnonRegion() = default;
  ~AnonRegion();
  AnonRegion(AnonRegion&& o) noexcept;
  AnonRegion& operator=(AnonRegion&& o) noexcept;
  AnonRegion(const AnonRegion&) = delete;
  AnonRegion& operator=(const AnonRegion&) = delete;

  // Makes [offset, offset + len) resident and writable (MADV_POPULATE_WRITE where the kernel has
  // it, else one write per page). kResourceLimit when the kernel cannot supply the pages.
  Status commit(std::uint64_t offset, std::uint64_t len, const ProgressFn& progress = {});
  Status lock();  // mlock: kResourceLimit with the RLIMIT_MEMLOCK hint when refused

  std::span<std::byte> bytes() noexcept { return {data_, size_}; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::uint64_t size() const noexcept { return size_; }  // as requested, not rounded

 private:
  std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t mapped_ = 0;  // page-rounded
  std::string what_;
};

class FileSpanMapping {
 public:
  // Maps [file_offset, file_offset + len) of `path` read-only and shared (the start is rounded
  // down to a page; data() points at file_offset).
  static Result<FileSpanMapping> map(const std::string& path, std::uint64_t file_offset, std::uint64_t len);
  FileSpanMapping() = default;
  ~FileSpanMapping();
  FileSpanMapping(FileSpanMapping&& o) noexcept;
  FileSpanMapping& operator=(FileSpanMapping&& o) noexcept;
  FileSpanMapping(const FileSpanMapping&) = delete;
  FileSpanMapping& operator=(const FileSpanMapping&) = delete;

  // Reads every page in (MADV_POPULATE_READ where available, else one read per page).
  Status populate(const ProgressFn& progress = {});
  Status lock();

  const std::byte* data() const noexcept { return base_ == nullptr ? nullptr : base_ + lead_; }
  std::uint64_t size() const noexcept { return len_; }
  std::uint64_t file_offset() const noexcept { return file_offset_; }

 private:
  std::byte* base_ = nullptr;  // page-aligned start of the mapping
  std::uint64_t lead_ = 0;     // file_offset - page-aligned start
  std::uint64_t len_ = 0;
  std::uint64_t file_offset_ = 0;
  std::string path_;
};

}  // namespace bitnet::detail
