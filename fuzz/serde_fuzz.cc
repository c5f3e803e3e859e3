// libFuzzer target: ByteReader and unseal() on arbitrary bytes: every read is bounds-checked,
// and whatever unseal() accepts re-seals to the same bytes.
#include <string>

#include "fuzz/fuzz_sketch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  spate::ByteReader r(in);
  // Read a mix of fields until the input runs out; each failure must consume nothing.
  for (size_t i = 0; !r.at_end(); ++i) {
    const size_t before = r.position();
    bool ok = false;
    uint64_t v = 0;
    std::string_view s;
    switch (static_cast<uint8_t>(in[before]) % 5) {
      case 0:
        ok = r.varint(&v);
        break;
      case 1:
        ok = r.bytes(&s);
        break;
      case 2:
        ok = r.u64(&v);
        break;
      case 3: {
        uint32_t x;
        ok = r.u32(&x);
        break;
      }
      default: {
        double d;
        ok = r.f64(&d);
        break;
      }
    }
    if (!ok) {
      spate::fuzz::check(r.position() == before);
      break;
    }
    spate::fuzz::check(r.position() > before);
  }
  uint16_t version = 0;
  uint32_t tag = size >= 8 ? static_cast<uint32_t>(data[4]) | data[5] << 8 | data[6] << 16 |
                                 static_cast<uint32_t>(data[7]) << 24
                           : 0;
  auto p = spate::unseal(in, tag, 0xffff, &version);
  if (p.is_ok()) spate::fuzz::check(spate::seal(tag, version, *p) == in);
  (void)spate::crc32c(in);
  return 0;
}
