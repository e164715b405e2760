// safetensors.hpp — the little of the safetensors format the example needs:
// write F32 tensors with metadata, read one tensor back. (A host with its
// own checkpoint code uses that; distac reads any valid file.)
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace st {

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

inline std::string quote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Writes tensors (F32, little-endian host) and metadata to path.
inline bool write(const std::string &path, const std::vector<Tensor> &ts,
                  const std::map<std::string, std::string> &meta = {}) {
  std::string h = "{";
  if (!meta.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto &[k, v] : meta) {
      h += (first ? "" : ",") + quote(k) + ":" + quote(v);
      first = false;
    }
    h += "}";
  }
  size_t off = 0;
  for (size_t i = 0; i < ts.size(); i++) {
    h += (i || !meta.empty() ? "," : "") + quote(ts[i].name) + ":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t d = 0; d < ts[i].shape.size(); d++) h += (d ? "," : "") + std::to_string(ts[i].shape[d]);
    size_t bytes = ts[i].values.size() * 4;
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + bytes) + "]}";
    off += bytes;
  }
  h += "}";
  while (h.size() % 8) h += ' ';
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  uint64_t n = h.size();
  bool ok = std::fwrite(&n, 8, 1, f) == 1 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const auto &t : ts)
    ok = ok && std::fwrite(t.values.data(), 4, t.values.size(), f) == t.values.size();
  return std::fclose(f) == 0 && ok;
}

// Reads the F32 tensor `name` of the file at path into out (its size must
// be the tensor's); finds the entry by its quoted name in the header.
inline bool read(const std::string &path, const std::string &name, std::vector<float> *out) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::vector<unsigned char> b;
  unsigned char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) b.insert(b.end(), buf, buf + n);
  std::fclose(f);
  uint64_t hl;
  if (b.size() < 8) return false;
  std::memcpy(&hl, b.data(), 8);
  std::string h(b.begin() + 8, b.begin() + 8 + hl);
  size_t at = h.find(quote(name) + ":{");
  if (at == std::string::npos) return false;
  unsigned long long lo, hi;
  size_t offs = h.find("\"data_offsets\":[", at);
  if (offs == std::string::npos || std::sscanf(h.c_str() + offs, "\"data_offsets\":[%llu,%llu]", &lo, &hi) != 2)
    return false;
  if (hi - lo != out->size() * 4 || 8 + hl + hi > b.size()) return false;
  std::memcpy(out->data(), b.data() + 8 + hl + lo, hi - lo);
  return true;
}

}  // namespace st
