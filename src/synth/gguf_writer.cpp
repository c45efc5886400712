#include "synth/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/checked.h"

namespace bitnet::detail {

void GgufWriter::begin_kv(std::string_view key, std::uint32_t type) {
  put_str(key);
  put_u32(type);
  ++n_kv_;
}

void GgufWriter::add_u8(std::string_view k, std::uint8_t v) { begin_kv(k, 0); put_raw(v); }
void GgufWriter::add_i8(std::string_view k, std::int8_t v) { begin_kv(k, 1); put_raw(v); }
void GgufWriter::add_u16(std::string_view k, std::uint16_t v) { begin_kv(k, 2); put_raw(v); }
void GgufWriter::add_i16(std::string_view k, std::int16_t v) { begin_kv(k, 3); put_raw(v); }
void GgufWriter::add_u32(std::string_view k, std::uint32_t v) { begin_kv(k, 4); put_raw(v); }
void GgufWriter::add_i32(std::string_view k, std::int32_t v) { begin_kv(k, 5); put_raw(v); }
void GgufWriter::add_f32(std::string_view k, float v) { begin_kv(k, 6); put_raw(v); }
void GgufWriter::add_bool(std::string_view k, bool v) { begin_kv(k, 7); put_raw(static_cast<std::uint8_t>(v ? 1 : 0)); }
void GgufWriter::add_string(std::string_view k, std::string_view v) { begin_kv(k, 8); put_str(v); }
void GgufWriter::add_u64(std::string_view k, std::uint64_t v) { begin_kv(k, 10); put_raw(v); }
void GgufWriter::add_i64(std::string_view k, std::int64_t v) { begin_kv(k, 11); put_raw(v); }
void GgufWriter::add_f64(std::string_view k, double v) { begin_kv(k, 12); put_raw(v); }

void GgufWriter::add_u32_array(std::string_view k, const std::vector<std::uint32_t>& v) {
  begin_kv(k, 9);
  put_u32(4);
  put_u64(v.size());
  for (auto x : v) put_raw(x);
}
void GgufWriter::add_i32_array(std::string_view k, const std::vector<std::int32_t>& v) {
  begin_kv(k, 9);
  put_u32(5);
  put_u64(v.size());
  for (auto x : v) put_raw(x);
}
void GgufWriter::add_f32_array(std::string_view k, const std::vector<float>& v) {
  begin_kv(k, 9);
  put_u32(6);
  put_u64(v.size());
  for (auto x : v) put_raw(x);
}
void GgufWriter::add_bool_array(std::string_view k, const std::vector<bool>& v) {
  begin_kv(k, 9);
  put_u32(7);
  put_u64(v.size());
  for (bool x : v) put_raw(static_cast<std::uint8_t>(x ? 1 : 0));
}
void GgufWriter::add_string_array(std::string_view k, const std::vector<std::string>& v) {
  begin_kv(k, 9);
  put_u32(8);
  put_u64(v.size());
  for (const auto& s : v) put_str(s);
}

void GgufWriter::add_tensor_at(std::string_view name, std::uint32_t type_id,
                               const std::vector<std::uint64_t>& ne, std::uint64_t offset) {
  auto put = [this](const void* p, std::size_t n) { ti_.append(static_cast<const char*>(p), n); };
  const std::uint64_t len = name.size();
  put(&len, 8);
  ti_.append(name);
  const auto n_dims = static_cast<std::uint32_t>(ne.size());
  put(&n_dims, 4);
  for (std::uint64_t d : ne) put(&d, 8);
  put(&type_id, 4);
  put(&offset, 8);
  ++n_tensors_;
}

std::uint64_t GgufWriter::add_tensor(std::string_view name, std::uint32_t type_id,
                                     const std::vector<std::uint64_t>& ne, std::uint64_t nbytes) {
  const std::uint64_t off = next_offset_;
  add_tensor_at(name, type_id, ne, off);
  next_offset_ = off + pad_to(nbytes, alignment_);
  return off;
}

std::uint64_t GgufWriter::data_offset() const {
  return pad_to(4 + 4 + 8 + 8 + kv_.size() + ti_.size(), alignment_);
}

std::string GgufWriter::header() const {
  std::string h;
  h.reserve(data_offset());
  h.append("GGUF", 4);
  h.append(reinterpret_cast<const char*>(&version_), 4);
  h.append(reinterpret_cast<const char*>(&n_tensors_), 8);
  h.append(reinterpret_cast<const char*>(&n_kv_), 8);
  h.append(kv_);
  h.append(ti_);
  h.resize(data_offset(), '\0');
  return h;
}

Status GgufWriter::write(const std::string& path, bool header_only) const {
  const std::string h = header();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return Error{Errc::kIo, "cannot create file: " + std::string(std::strerror(errno)), kNoOffset, path,
                 "check that the directory exists and is writable"};
  std::size_t done = 0;
  while (done < h.size()) {
    const ssize_t w = ::write(fd, h.data() + done, h.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return Error{Errc::kIo, "write failed: " + std::string(std::strerror(e)), done, path, {}};
    }
    done += static_cast<std::size_t>(w);
  }
  if (!header_only && ::ftruncate(fd, static_cast<off_t>(file_bytes())) != 0) {
    const int e = errno;
    ::close(fd);
    return Error{Errc::kIo, "cannot extend the file to " + std::to_string(file_bytes()) +
                                " bytes: " + std::strerror(e), kNoOffset, path, {}};
  }
  if (::close(fd) != 0)
    return Error{Errc::kIo, "close failed: " + std::string(std::strerror(errno)), kNoOffset, path, {}};
  return Ok{};
}

}  // namespace bitnet::detail
