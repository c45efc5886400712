#include "format/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace bitnet::detail {

Result<MappedFile> MappedFile::open(const std::string& path, bool populate) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return Error{Errc::kIo, "cannot open the model file: " + std::string(std::strerror(e)), kNoOffset,
                 path, e == ENOENT ? "check the path" : "check the file's permissions"};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{Errc::kIo, "not a regular file", kNoOffset, path, "pass the path of a .gguf file"};
  }
  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<std::uint64_t>(st.st_size);
  if (m.size_ > 0) {
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return Error{Errc::kIo, "cannot map the file: " + std::string(std::strerror(e)), kNoOffset, path, {}};
    }
    m.data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), path_(std::move(o.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    path_ = std::move(o.path_);
  }
  return *this;
}

}  // namespace bitnet::detail

namespace bitnet::detail {

void MappedFile::drop_resident_pages() const noexcept {
  if (data_ == nullptr || size_ == 0) return;
  // mmap returned a page-aligned address; the length is rounded up by the kernel.
  ::madvise(const_cast<std::byte*>(data_), size_, MADV_DONTNEED);
}

}  // namespace bitnet::detail
