#pragma once
// Seeds for every keyed hash in spate: where the randomness comes from, and how sub-keys are
// derived from it. There is no default seed anywhere in spate: a Seed128 can only be made by
//   random_seed()           — the OS CSPRNG, getrandom(2); the production default;
//   seed_from_secret_file() — several processes that must agree on placement share a secret
//                             file and derive the same seed from it with a keyed KDF;
//   seed_from_u64()         — tests and simulations only: UNSAFE IN PRODUCTION, anyone who
//                             knows the number knows every hash;
//   Seed128::unsafe_from_bytes() — deserializing a test seed (same warning).
// A seed is a secret: it has no operator<< and no fmt formatter, GoogleTest prints it as
// "Seed128{redacted}", and error messages name files, never contents. It must never reach a
// log, a metric, a result, an error or a dead letter (docs/guarantees.md, "Threat model").

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "spate/common/status.h"

namespace spate {

namespace hash_internal {
struct SeedAccess;
}

// Seed128: 128 bits of key material.
// Guarantee: from random_seed(), uniform and unpredictable (getrandom(2), the kernel CSPRNG);
// from derive_seed(), pseudorandom and independent per (label, index) if SipHash-2-4 is a PRF
// (Aumasson & Bernstein 2012).
// Thread-safety: an immutable value; copy freely between threads.
class Seed128 {
 public:
  static constexpr size_t kBytes = 16;

  // Serialization of TEST seeds only. A production seed never leaves the process.
  static Seed128 unsafe_from_bytes(const std::array<uint8_t, kBytes>& bytes);
  std::array<uint8_t, kBytes> unsafe_bytes() const;

  friend bool operator==(const Seed128&, const Seed128&) = default;

 private:
  friend struct hash_internal::SeedAccess;
  Seed128(uint64_t lo, uint64_t hi) : lo_(lo), hi_(hi) {}
  uint64_t lo_;  // bytes 0..7, little-endian
  uint64_t hi_;  // bytes 8..15, little-endian
};

// GoogleTest's printer hook: a failing EXPECT on seeds shows no key material.
void PrintTo(const Seed128& seed, std::ostream* os);

// 128 fresh bits from getrandom(2). Retries on EINTR and short reads. If the kernel cannot give
// randomness (no getrandom, sandbox refusal), the process ABORTS with a message on stderr:
// running with a predictable seed would silently void every guarantee of docs/guarantees.md.
// May block once, early in boot, until the kernel's pool is initialised.
Seed128 random_seed();

// TESTS AND SIMULATIONS ONLY — UNSAFE IN PRODUCTION: the seed is a public function of x.
// Expands x with splitmix64 (Steele, Lea & Flood 2014) so nearby x give unrelated seeds.
Seed128 seed_from_u64(uint64_t x);

// The seed shared by processes that must agree on key placement. The file's bytes are the
// secret (write it once with e.g. `head -c 32 /dev/urandom > secret`); they go through the
// KDF of docs/guarantees.md ("Shared seeds"): a SipHash-2-4 cascade over 16-byte blocks with the
// domain label kSecretFileLabel. The same bytes give the same seed on every machine.
// Errors (messages name the path, never the contents): missing or unreadable file, not a
// regular file, empty, shorter than kMinSecretBytes, longer than kMaxSecretBytes.
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 1 << 20;
inline constexpr std::string_view kSecretFileLabel = "spate.hash.secret-file.v1";
Result<Seed128> seed_from_secret_file(const std::string& path);

// Ok if only the owner may read the file; otherwise an error the caller may log as a warning
// (a group- or world-readable secret lets local users predict placement).
Status check_secret_file_permissions(const std::string& path);

// The KDF behind every sub-key: SipHash-2-4 keyed by `master` over (label, index, half).
// Different (label, index) pairs give independent-looking seeds; the master cannot be computed
// back from them. Used for the second choice of power-of-two-choices, per-family keys, etc.
Seed128 derive_seed(const Seed128& master, std::string_view label, uint64_t index = 0);

// KeyStream: an endless stream of pseudorandom 64-bit words from one seed (SipHash-2-4 in
// counter mode), used to fill hash-family parameters such as tabulation tables.
// Guarantee: indistinguishable from uniform words if SipHash-2-4 is a PRF.
// Thread-safety: one owner; not for concurrent use.
class KeyStream {
 public:
  KeyStream(const Seed128& seed, std::string_view label);
  uint64_t next();

 private:
  uint64_t k0_, k1_;
  uint64_t counter_ = 0;
};

namespace hash_internal {

// Library-internal access to a seed's words, for the hash families of spate/hash only.
struct SeedAccess {
  static uint64_t lo(const Seed128& s) { return s.lo_; }
  static uint64_t hi(const Seed128& s) { return s.hi_; }
  static Seed128 make(uint64_t lo, uint64_t hi) { return Seed128(lo, hi); }
};

// Testing only: replaces getrandom(2) (nullptr restores it) and returns the previous function,
// so tests can check the EINTR retry and the hard failure. Not for concurrent use.
using GetrandomFn = ssize_t (*)(void* buf, size_t len, unsigned flags);
GetrandomFn set_getrandom_for_testing(GetrandomFn fn);

}  // namespace hash_internal
}  // namespace spate
