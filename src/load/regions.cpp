#include "load/regions.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14 uapi
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace bitnet::detail {
namespace {

// Commit and populate in steps of this size, so that the progress bar moves and a failure is
// reported close to where it happened.
constexpr std::uint64_t kStep = std::uint64_t{64} << 20;

std::string mib(std::uint64_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; }

Error lock_error(int e, std::uint64_t bytes, const std::string& what) {
  return Error{Errc::kResourceLimit,
               "cannot lock " + mib(bytes) + " of " + what + " in memory: " + std::strerror(e), kNoOffset, what,
               "raise the locked-memory limit (ulimit -l, or LimitMEMLOCK= for a service) or load without mlock"};
}

}  // namespace

std::uint64_t page_size() noexcept {
  static const std::uint64_t p = [] {
    const long v = ::sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<std::uint64_t>(v) : std::uint64_t{4096};
  }();
  return p;
}

Result<AnonRegion> AnonRegion::reserve(std::uint64_t bytes, const std::string& what) {
  AnonRegion r;
  r.what_ = what;
  r.size_ = bytes;
  if (bytes == 0) return r;
  const std::uint64_t ps = page_size();
  if (bytes > ~std::uint64_t{0} - ps)
    return Error{Errc::kOverflow, what + " size overflows", kNoOffset, what, {}};
  r.mapped_ = (bytes + ps - 1) / ps * ps;
  void* p = ::mmap(nullptr, r.mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int e = errno;
    return Error{Errc::kResourceLimit, "cannot reserve " + mib(bytes) + " for " + what + ": " + std::strerror(e),
                 kNoOffset, what, "lower the context size (-c) or the batch sizes, or free memory"};
  }
  r.data_ = static_cast<std::byte*>(p);
  return r;
}

AnonRegion::~AnonRegion() {
  if (data_ != nullptr) ::munmap(data_, mapped_);
}

AnonRegion::AnonRegion(AnonRegion&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mapped_(std::exchange(o.mapped_, 0)),
      what_(std::move(o.what_)) {}

AnonRegion& AnonRegion::operator=(AnonRegion&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(data_, mapped_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
    what_ = std::move(o.what_);
  }
  return *this;
}

Status AnonRegion::commit(std::uint64_t offset, std::uint64_t len, const ProgressFn& progress) {
  if (len == 0) return Ok{};
  if (offset > size_ || len > size_ - offset)
    return Error{Errc::kInternal, "commit outside the region of " + what_, kNoOffset, what_, {}};
  const std::uint64_t ps = page_size();
  const std::uint64_t begin = offset / ps * ps;
  const std::uint64_t end = std::min(mapped_, (offset + len + ps - 1) / ps * ps);
  static bool have_populate = true;  // cleared once the kernel says EINVAL
  for (std::uint64_t at = begin; at < end; at += kStep) {
    const std::uint64_t n = std::min(kStep, end - at);
    bool done = false;
    if (have_populate) {
      if (::madvise(data_ + at, n, MADV_POPULATE_WRITE) == 0) {
        done = true;
      } else if (errno == EINVAL) {
        have_populate = false;
      } else {
        const int e = errno;
        return Error{Errc::kResourceLimit,
                     "cannot commit " + mib(len) + " for " + what_ + " (failed after " + mib(at - begin) +
                         "): " + std::strerror(e),
                     kNoOffset, what_, "lower the context size (-c) or the batch sizes, or free memory"};
      }
    }
    if (!done) {
      for (std::uint64_t p = at; p < at + n; p += ps) static_cast<volatile std::byte*>(data_)[p] = std::byte{0};
    }
    if (progress) progress(n);
  }
  return Ok{};
}

Status AnonRegion::lock() {
  if (data_ == nullptr) return Ok{};
  if (::mlock(data_, mapped_) != 0) return lock_error(errno, size_, what_);
  return Ok{};
}

Result<FileSpanMapping> FileSpanMapping::map(const std::string& path, std::uint64_t file_offset, std::uint64_t len) {
  FileSpanMapping m;
  m.path_ = path;
  m.file_offset_ = file_offset;
  m.len_ = len;
  if (len == 0) return m;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return Error{Errc::kIo, "cannot open the model file: " + std::string(std::strerror(e)), kNoOffset, path,
                 "check that the file still exists and is readable"};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < file_offset + len) {
    ::close(fd);
    return Error{Errc::kTruncated, "the model file is shorter than its tensors need (it changed since it was opened?)",
                 file_offset + len, path, "re-open the model"};
  }
  const std::uint64_t ps = page_size();
  const std::uint64_t start = file_offset / ps * ps;
  m.lead_ = file_offset - start;
  void* p = ::mmap(nullptr, m.lead_ + len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  const int e = errno;
  ::close(fd);
  if (p == MAP_FAILED)
    return Error{Errc::kIo, "cannot map the model file: " + std::string(std::strerror(e)), file_offset, path,
                 "load with --no-mmap"};
  m.base_ = static_cast<std::byte*>(p);
  return m;
}

FileSpanMapping::~FileSpanMapping() {
  if (base_ != nullptr) ::munmap(base_, lead_ + len_);
}

FileSpanMapping::FileSpanMapping(FileSpanMapping&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      lead_(std::exchange(o.lead_, 0)),
      len_(std::exchange(o.len_, 0)),
      file_offset_(std::exchange(o.file_offset_, 0)),
      path_(std::move(o.path_)) {}

FileSpanMapping& FileSpanMapping::operator=(FileSpanMapping&& o) noexcept {
  if (this != &o) {
    if (base_ != nullptr) ::munmap(base_, lead_ + len_);
    base_ = std::exchange(o.base_, nullptr);
    lead_ = std::exchange(o.lead_, 0);
    len_ = std::exchange(o.len_, 0);
    file_offset_ = std::exchange(o.file_offset_, 0);
    path_ = std::move(o.path_);
  }
  return *this;
}

Status FileSpanMapping::populate(const ProgressFn& progress) {
  if (base_ == nullptr) return Ok{};
  const std::uint64_t ps = page_size();
  const std::uint64_t total = lead_ + len_;
  static bool have_populate = true;
  for (std::uint64_t at = 0; at < total; at += kStep) {
    const std::uint64_t n = std::min(kStep, total - at);
    bool done = false;
    if (have_populate) {
      if (::madvise(base_ + at, n, MADV_POPULATE_READ) == 0) {
        done = true;
      } else if (errno == EINVAL) {
        have_populate = false;
      } else {
        const int e = errno;
        return Error{Errc::kIo, "cannot read the model file into memory: " + std::string(std::strerror(e)),
                     file_offset_ - lead_ + at, path_, "check the disk; or load with --no-mmap"};
      }
    }
    if (!done) {
      std::byte sink{0};
      for (std::uint64_t p = at; p < at + n; p += ps) sink ^= static_cast<const volatile std::byte*>(base_)[p];
      static_cast<void>(sink);
    }
    if (progress) progress(std::min(n, at + n > lead_ ? at + n - std::max(at, lead_) : 0));
  }
  return Ok{};
}

Status FileSpanMapping::lock() {
  if (base_ == nullptr) return Ok{};
  if (::mlock(base_, lead_ + len_) != 0) return lock_error(errno, len_, "the mapped model");
  return Ok{};
}

}  // namespace bitnet::detail
