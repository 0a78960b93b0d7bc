// fuzz/fuzz_records.h — the input format of the fuzzers that feed protobuf
// messages: records of [kind][length: 2 bytes, little-endian][that many
// bytes]. A length past the end takes what is left.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace herald::fuzz {

struct Record {
  uint8_t kind;
  std::string_view bytes;
};

inline std::vector<Record> SplitRecords(const uint8_t* data, size_t size) {
  std::vector<Record> out;
  size_t i = 0;
  while (i + 3 <= size) {
    const size_t len = data[i + 1] | (size_t{data[i + 2]} << 8);
    const size_t take = std::min(len, size - i - 3);
    out.push_back({data[i], std::string_view(reinterpret_cast<const char*>(data) + i + 3, take)});
    i += 3 + take;
  }
  return out;
}

}  // namespace herald::fuzz
