// Names and parsers of the public vocabulary types.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

#include "bitnet/error.h"
#include "bitnet/memory.h"
#include "bitnet/types.h"

namespace bitnet {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct PrecisionRow {
  Precision p;
  QuantizationType type;
  std::string_view name;
};
constexpr PrecisionRow kPrecisions[] = {
    {Precision::kF32, QuantizationType::kF32, "f32"},
    {Precision::kF16, QuantizationType::kF16, "f16"},
    {Precision::kBF16, QuantizationType::kBF16, "bf16"},
    {Precision::kQ8_0, QuantizationType::kQ8_0, "q8_0"},
    {Precision::kQ4_0, QuantizationType::kQ4_0, "q4_0"},
    {Precision::kQ4_1, QuantizationType::kQ4_1, "q4_1"},
    {Precision::kIQ4_NL, QuantizationType::kIQ4_NL, "iq4_nl"},
    {Precision::kQ5_0, QuantizationType::kQ5_0, "q5_0"},
    {Precision::kQ5_1, QuantizationType::kQ5_1, "q5_1"},
};

}  // namespace

std::string_view errc_name(Errc c) noexcept {
  switch (c) {
    case Errc::kIo: return "io";
    case Errc::kTruncated: return "truncated";
    case Errc::kBadMagic: return "bad_magic";
    case Errc::kUnsupportedVersion: return "unsupported_version";
    case Errc::kMalformed: return "malformed";
    case Errc::kUnknownTensorType: return "unknown_tensor_type";
    case Errc::kOverflow: return "overflow";
    case Errc::kMissingKey: return "missing_key";
    case Errc::kTypeMismatch: return "type_mismatch";
    case Errc::kUnsupportedArch: return "unsupported_arch";
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kResourceLimit: return "resource_limit";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kInternal: return "internal";
  }
  return "internal";
}

std::string Error::to_string() const {
  std::string s;
  if (!field.empty()) s += field;
  if (offset != kNoOffset) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, offset, 16);
    (void)ec;
    s += (s.empty() ? "@0x" : " @0x") + std::string(buf, end);
  }
  if (!s.empty()) s += ": ";
  s += message;
  if (!hint.empty()) s += " (" + hint + ")";
  return s;
}

QuantizationType precision_type(Precision p) noexcept {
  for (const auto& r : kPrecisions)
    if (r.p == p) return r.type;
  return QuantizationType::kF16;
}
std::string_view precision_name(Precision p) noexcept {
  for (const auto& r : kPrecisions)
    if (r.p == p) return r.name;
  return "f16";
}
std::optional<Precision> parse_precision(std::string_view name) noexcept {
  for (const auto& r : kPrecisions)
    if (iequals(r.name, name)) return r.p;
  return std::nullopt;
}
bool precision_is_quantized(Precision p) noexcept {
  return p != Precision::kF32 && p != Precision::kF16 && p != Precision::kBF16;
}

std::string_view basis_name(Basis b) noexcept {
  switch (b) {
    case Basis::kExact: return "exact";
    case Basis::kDerived: return "derived";
    case Basis::kCalibrated: return "calibrated";
    case Basis::kHeuristic: return "heuristic";
    case Basis::kUnknown: return "unknown";
  }
  return "unknown";
}

std::string_view type_map_name(TypeMap m) noexcept {
  switch (m) {
    case TypeMap::kAuto: return "auto";
    case TypeMap::kUpstream: return "upstream";
    case TypeMap::kBitnet2024: return "bitnet-2024";
    case TypeMap::kBitnetPort: return "bitnet-port";
  }
  return "auto";
}
std::optional<TypeMap> parse_type_map(std::string_view s) noexcept {
  if (iequals(s, "auto")) return TypeMap::kAuto;
  if (iequals(s, "upstream")) return TypeMap::kUpstream;
  if (iequals(s, "bitnet") || iequals(s, "bitnet-2024")) return TypeMap::kBitnet2024;
  if (iequals(s, "bitnet-port")) return TypeMap::kBitnetPort;
  return std::nullopt;
}

std::string Device::to_string() const {
  return kind == Kind::kCpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Result<Device> Device::parse(std::string_view s) {
  if (iequals(s, "cpu")) return Device{Kind::kCpu, 0};
  if (iequals(s, "cuda") || iequals(s, "gpu")) return Device{Kind::kCuda, 0};
  if (s.size() > 5 && iequals(s.substr(0, 5), "cuda:")) {
    std::uint32_t idx = 0;
    const char* b = s.data() + 5;
    const char* e = s.data() + s.size();
    auto [p, ec] = std::from_chars(b, e, idx);
    if (ec == std::errc() && p == e && idx < 64) return Device{Kind::kCuda, idx};
  }
  return Error{Errc::kInvalidArgument, "unknown device '" + std::string(s) + "'", kNoOffset,
               "device", "use cpu, cuda, cuda:N or gpu"};
}

std::string_view memory_kind_name(MemoryKind k) noexcept {
  switch (k) {
    case MemoryKind::kAnonymous: return "anonymous";
    case MemoryKind::kMapped: return "mapped";
    case MemoryKind::kPinned: return "pinned";
    case MemoryKind::kDevice: return "device";
  }
  return "anonymous";
}

std::string_view flash_attn_name(FlashAttn f) noexcept {
  switch (f) {
    case FlashAttn::kOff: return "off";
    case FlashAttn::kOn: return "on";
    case FlashAttn::kAuto: return "auto";
  }
  return "auto";
}

}  // namespace bitnet
