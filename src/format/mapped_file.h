// A read-only memory-mapped file (RAII).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "bitnet/error.h"

namespace bitnet::detail {

class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path, bool populate = false);
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::uint64_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }
  // madvise(MADV_DONTNEED): the pages leave this process's RSS; a later read faults them back in.
  void drop_resident_pages() const noexcept;

 private:
  const std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
  std::string path_;
};

}  // namespace bitnet::detail
