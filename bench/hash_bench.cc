// ns per key of every spate/hash family, RoutingHasher, XXH3 and std::hash, by key length.
//
//   throughput/<family>/<bytes>: 1024 independent keys per iteration (a batch being routed:
//                                the CPU overlaps consecutive hashes);
//   latency/<family>/<bytes>:    each key's position depends on the previous hash (one hash at
//                                a time, nothing to overlap).
// The "ns_per_key" counter is the figure to read. XXH3 is compiled inline (XXH_INLINE_ALL), as
// spate's families are, so no side pays a call the other does not.
//
// Candidates for RoutingHasher's long-key path are measured side by side:
//   sip13-direct       SipHash-1-3 over all the bytes;
//   vms+sip13          VectorMultiplyShift digest (<= 128 bytes), then SipHash-1-3 of it;
//   poly61+sip13       PolyHash61 digest, then SipHash-1-3 of it.
// RoutingHasher uses the first up to kDirectMaxBytes, the second up to kVectorMaxBytes, then
// the third.
//
// Two reference points that are not part of spate/hash:
//   xxh3-lib           XXH3 called through libxxhash (a function call per key, as a caller
//                      that links the library gets it);
//   aes-prototype      the same layout with AES-128 (AES-NI) instead of SipHash-1-3 as the
//                      PRF: keys <= 15 bytes padded with their length into one block, longer
//                      keys as (VectorMultiplyShift digest, length). x86-64 with AES only; it
//                      measures what a hardware PRF would buy (docs/benchmarks.md).

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

// libxxhash's exported XXH3, declared before xxhash.h renames everything for inlining.
extern "C" uint64_t XXH3_64bits_withSeed(const void* data, size_t len, uint64_t seed);
static uint64_t (*const xxh3_library)(const void*, size_t, uint64_t) = &XXH3_64bits_withSeed;

#define XXH_INLINE_ALL
#include <xxhash.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "spate/hash/multiply_shift.h"
#include "spate/hash/poly_hash.h"
#include "spate/hash/routing_hash.h"
#include "spate/hash/seed.h"
#include "spate/hash/siphash.h"
#include "spate/hash/tabulation.h"

namespace {

constexpr size_t kBatch = 1024;
constexpr size_t kSizes[] = {4, 8, 12, 16, 20, 24, 32, 48, 64, 256};

// kBatch keys of `len` bytes, back to back, from a fixed generator.
class Keys {
 public:
  explicit Keys(size_t len) : len_(len), data_(len * kBatch, '\0') {
    uint64_t s = 0x5eed0000 + len;
    for (char& c : data_) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      c = static_cast<char>(s >> 56);
    }
  }
  std::string_view operator[](size_t i) const { return {data_.data() + i * len_, len_}; }
  uint64_t u64(size_t i) const {
    uint64_t x = 0;
    for (size_t b = 0; b < 8 && b < len_; ++b) {
      x |= static_cast<uint64_t>(static_cast<uint8_t>(data_[i * len_ + b])) << (8 * b);
    }
    return x;
  }

 private:
  size_t len_;
  std::string data_;
};

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["ns_per_key"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch) / 1e9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <typename F>
void throughput_bytes(benchmark::State& state, size_t len, F f) {
  const Keys keys(len);
  uint64_t acc = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) acc += f(keys[i]);
    benchmark::DoNotOptimize(acc);
  }
  set_counters(state);
}

template <typename F>
void latency_bytes(benchmark::State& state, size_t len, F f) {
  const Keys keys(len);
  uint64_t h = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) h = f(keys[(i + h) & (kBatch - 1)]);
    benchmark::DoNotOptimize(h);
  }
  set_counters(state);
}

template <typename F>
void throughput_u64(benchmark::State& state, F f) {
  const Keys keys(8);
  std::vector<uint64_t> xs(kBatch);
  for (size_t i = 0; i < kBatch; ++i) xs[i] = keys.u64(i);
  uint64_t acc = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) acc += f(xs[i]);
    benchmark::DoNotOptimize(acc);
  }
  set_counters(state);
}

template <typename F>
void latency_u64(benchmark::State& state, F f) {
  const Keys keys(8);
  std::vector<uint64_t> xs(kBatch);
  for (size_t i = 0; i < kBatch; ++i) xs[i] = keys.u64(i);
  uint64_t h = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) h = f(xs[(i + h) & (kBatch - 1)]);
    benchmark::DoNotOptimize(h);
  }
  set_counters(state);
}

#if defined(__x86_64__)
// AES-128 with AES-NI, for the prototype comparison only.
class Aes128 {
 public:
  __attribute__((target("aes"))) explicit Aes128(const uint8_t key[16]) {
    rk_[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
    rk_[1] = next(rk_[0], _mm_aeskeygenassist_si128(rk_[0], 0x01));
    rk_[2] = next(rk_[1], _mm_aeskeygenassist_si128(rk_[1], 0x02));
    rk_[3] = next(rk_[2], _mm_aeskeygenassist_si128(rk_[2], 0x04));
    rk_[4] = next(rk_[3], _mm_aeskeygenassist_si128(rk_[3], 0x08));
    rk_[5] = next(rk_[4], _mm_aeskeygenassist_si128(rk_[4], 0x10));
    rk_[6] = next(rk_[5], _mm_aeskeygenassist_si128(rk_[5], 0x20));
    rk_[7] = next(rk_[6], _mm_aeskeygenassist_si128(rk_[6], 0x40));
    rk_[8] = next(rk_[7], _mm_aeskeygenassist_si128(rk_[7], 0x80));
    rk_[9] = next(rk_[8], _mm_aeskeygenassist_si128(rk_[8], 0x1b));
    rk_[10] = next(rk_[9], _mm_aeskeygenassist_si128(rk_[9], 0x36));
  }
  __attribute__((target("aes"))) __m128i encrypt(__m128i b) const {
    b = _mm_xor_si128(b, rk_[0]);
    for (int i = 1; i < 10; ++i) b = _mm_aesenc_si128(b, rk_[i]);
    return _mm_aesenclast_si128(b, rk_[10]);
  }

 private:
  __attribute__((target("aes"))) static __m128i next(__m128i k, __m128i assist) {
    assist = _mm_shuffle_epi32(assist, 0xff);
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, assist);
  }
  __m128i rk_[11];
};

bool aes_matches_fips197() {
  if (!__builtin_cpu_supports("aes")) return false;
  uint8_t key[16];
  for (int i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
  const Aes128 aes(key);
  // FIPS-197 Appendix C.1: plaintext 00112233..ff -> 69c4e0d86a7b0430d8cdb78070b4c55a.
  const __m128i pt = _mm_set_epi64x(static_cast<long long>(0xffeeddccbbaa9988ULL),
                                    static_cast<long long>(0x7766554433221100ULL));
  uint8_t out[16];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), aes.encrypt(pt));
  const uint8_t want[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                            0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
  return std::memcmp(out, want, 16) == 0;
}

struct AesPrototype {
  Aes128 direct;
  Aes128 finish;
  spate::VectorMultiplyShift vms;
  __attribute__((target("aes"))) uint64_t hash(std::string_view k) const {
    const auto* p = reinterpret_cast<const uint8_t*>(k.data());
    const size_t n = k.size();
    __m128i block;
    if (n <= 15) {
      const uint64_t lo = spate::hash_internal::load_le_upto8(p, n < 8 ? n : 8);
      const uint64_t hi = n > 8 ? spate::hash_internal::load_le_upto8(p + 8, n - 8) : 0;
      block = _mm_set_epi64x(static_cast<long long>(hi | (static_cast<uint64_t>(n) << 56)),
                             static_cast<long long>(lo));
      return static_cast<uint64_t>(_mm_cvtsi128_si64(direct.encrypt(block)));
    }
    block = _mm_set_epi64x(static_cast<long long>(n), static_cast<long long>(vms.hash(p, n)));
    return static_cast<uint64_t>(_mm_cvtsi128_si64(finish.encrypt(block)));
  }
};

__attribute__((target("aes"))) void aes_throughput(benchmark::State& state, size_t len,
                                                   const AesPrototype& h) {
  const Keys keys(len);
  uint64_t acc = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) acc += h.hash(keys[i]);
    benchmark::DoNotOptimize(acc);
  }
  set_counters(state);
}

__attribute__((target("aes"))) void aes_latency(benchmark::State& state, size_t len,
                                                const AesPrototype& h) {
  const Keys keys(len);
  uint64_t x = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) x = h.hash(keys[(i + x) & (kBatch - 1)]);
    benchmark::DoNotOptimize(x);
  }
  set_counters(state);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  // A benchmark may use a fixed seed: nothing here routes real data.
  const spate::Seed128 seed = spate::seed_from_u64(2024);
  static const spate::RoutingHasher routing(seed);
  static const spate::PolyHash61 poly(spate::derive_seed(seed, "poly"));
  static const spate::SipHash13 sip13(spate::derive_seed(seed, "sip13"));
  static const spate::SipHash13 sip13_finish(spate::derive_seed(seed, "sip13-finish"));
  static const spate::VectorMultiplyShift vms(spate::derive_seed(seed, "vms"));
  static const spate::SipHash24 sip24(spate::derive_seed(seed, "sip24"));
  static const spate::MultiplyAddShift mas(spate::derive_seed(seed, "mas"));
  static const spate::SimpleTabulation tab(spate::derive_seed(seed, "tab"));
  constexpr uint64_t kXxhSeed = 0x9e3779b97f4a7c15ULL;

  struct ByteFamily {
    const char* name;
    std::function<void(benchmark::State&, size_t)> throughput;
    std::function<void(benchmark::State&, size_t)> latency;
  };
#define SPATE_BYTE_FAMILY(NAME, EXPR)                                         \
  ByteFamily {                                                                \
    NAME,                                                                     \
        [](benchmark::State& st, size_t len) {                                \
          throughput_bytes(st, len, [](std::string_view k) { return EXPR; }); \
        },                                                                    \
        [](benchmark::State& st, size_t len) {                                \
          latency_bytes(st, len, [](std::string_view k) { return EXPR; });    \
        }                                                                     \
  }
  const std::vector<ByteFamily> byte_families = {
      SPATE_BYTE_FAMILY("routing", routing.hash(k)),
      SPATE_BYTE_FAMILY("xxh3", XXH3_64bits_withSeed(k.data(), k.size(), kXxhSeed)),
      SPATE_BYTE_FAMILY("xxh3-lib", xxh3_library(k.data(), k.size(), kXxhSeed)),
      SPATE_BYTE_FAMILY("std_hash", std::hash<std::string_view>{}(k)),
      SPATE_BYTE_FAMILY("sip13-direct", sip13.hash(k)),
      SPATE_BYTE_FAMILY("sip24", sip24.hash(k)),
      SPATE_BYTE_FAMILY("poly61", poly.hash(k)),
      SPATE_BYTE_FAMILY("poly61+sip13", sip13_finish.hash_u64(poly.hash(k))),
      SPATE_BYTE_FAMILY("vms", vms.hash(k)),
      SPATE_BYTE_FAMILY("vms+sip13", sip13_finish.hash_u64(vms.hash(k))),
  };
#undef SPATE_BYTE_FAMILY

  for (const char* mode : {"throughput", "latency"}) {
    const bool thr = std::string_view(mode) == "throughput";
    for (const ByteFamily& f : byte_families) {
      for (size_t len : kSizes) {
        if (len > spate::VectorMultiplyShift::kMaxBytes &&
            std::string_view(f.name).find("vms") == 0) {
          continue;
        }
        const std::string name = std::string(mode) + "/" + f.name + "/" + std::to_string(len);
        auto fn = thr ? f.throughput : f.latency;
        benchmark::RegisterBenchmark(name.c_str(),
                                     [fn, len](benchmark::State& st) { fn(st, len); });
      }
    }
#if defined(__x86_64__)
    static const bool have_aes = aes_matches_fips197();
    if (have_aes) {
      uint8_t k1[16], k2[16];
      for (int i = 0; i < 16; ++i) {
        k1[i] = static_cast<uint8_t>(0x11 * i + 3);
        k2[i] = static_cast<uint8_t>(0x2f * i + 7);
      }
      static const AesPrototype proto{Aes128(k1), Aes128(k2),
                                      spate::VectorMultiplyShift(spate::derive_seed(seed, "aes"))};
      for (size_t len : kSizes) {
        if (len > spate::VectorMultiplyShift::kMaxBytes) continue;
        const std::string name = std::string(mode) + "/aes-prototype/" + std::to_string(len);
        if (thr) {
          benchmark::RegisterBenchmark(
              name.c_str(), [len](benchmark::State& st) { aes_throughput(st, len, proto); });
        } else {
          benchmark::RegisterBenchmark(
              name.c_str(), [len](benchmark::State& st) { aes_latency(st, len, proto); });
        }
      }
    }
#endif
    // Integer families: 8-byte keys as uint64_t.
    auto reg_u64 = [&](const char* family, auto hash) {
      const std::string name = std::string(mode) + "/" + family + "/8";
      if (thr) {
        benchmark::RegisterBenchmark(name.c_str(),
                                     [hash](benchmark::State& st) { throughput_u64(st, hash); });
      } else {
        benchmark::RegisterBenchmark(name.c_str(),
                                     [hash](benchmark::State& st) { latency_u64(st, hash); });
      }
    };
    reg_u64("routing.hash_u64", [](uint64_t x) { return routing.hash_u64(x); });
    reg_u64("xxh3.u64", [](uint64_t x) { return XXH3_64bits_withSeed(&x, sizeof x, kXxhSeed); });
    reg_u64("sip13.hash_u64", [](uint64_t x) { return sip13.hash_u64(x); });
    reg_u64("multiply-add-shift", [](uint64_t x) { return mas.hash(x); });
    reg_u64("simple-tabulation", [](uint64_t x) { return tab.hash(x); });
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
