#include "spate/hash/seed.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "spate/hash/bytes.h"
#include "spate/hash/siphash.h"

namespace spate {

using hash_internal::SeedAccess;

namespace {

ssize_t system_getrandom(void* buf, size_t len, unsigned flags) {
  return ::getrandom(buf, len, flags);
}

std::atomic<hash_internal::GetrandomFn> g_getrandom{&system_getrandom};

[[noreturn]] void die_without_randomness(const char* why) {
  std::fprintf(stderr,
               "spate: getrandom(2) failed: %s; refusing to run with a predictable hash seed\n",
               why);
  std::abort();
}

void store_le64(uint8_t* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = hash_internal::byteswap64(v);
  std::memcpy(p, &v, sizeof v);
}

uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// SipHash-2-4 keyed by `key` over (label || tag): one 64-bit output per tag.
uint64_t prf(const Seed128& key, std::string_view label, uint8_t tag) {
  std::string msg(label);
  msg.push_back(static_cast<char>(tag));
  return SipHash24(key).hash(msg);
}

// Erases a secret buffer in a way the optimizer may not drop.
void wipe(void* p, size_t n) { ::explicit_bzero(p, n); }

std::string quoted(const std::string& path) { return "'" + path + "'"; }

}  // namespace

Seed128 Seed128::unsafe_from_bytes(const std::array<uint8_t, kBytes>& bytes) {
  return Seed128(hash_internal::load_le64(bytes.data()),
                 hash_internal::load_le64(bytes.data() + 8));
}

std::array<uint8_t, Seed128::kBytes> Seed128::unsafe_bytes() const {
  std::array<uint8_t, kBytes> out;
  store_le64(out.data(), lo_);
  store_le64(out.data() + 8, hi_);
  return out;
}

void PrintTo(const Seed128&, std::ostream* os) { *os << "Seed128{redacted}"; }

Seed128 random_seed() {
  uint8_t buf[Seed128::kBytes];
  size_t got = 0;
  const hash_internal::GetrandomFn fn = g_getrandom.load(std::memory_order_acquire);
  while (got < sizeof buf) {
    const ssize_t r = fn(buf + got, sizeof buf - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;  // a signal arrived before any byte was copied
      die_without_randomness(std::strerror(errno));
    }
    if (r == 0) die_without_randomness("returned no bytes");
    got += static_cast<size_t>(r);
  }
  const Seed128 seed =
      SeedAccess::make(hash_internal::load_le64(buf), hash_internal::load_le64(buf + 8));
  wipe(buf, sizeof buf);
  return seed;
}

Seed128 seed_from_u64(uint64_t x) {
  uint64_t state = x;
  const uint64_t lo = splitmix64_next(state);
  const uint64_t hi = splitmix64_next(state);
  return SeedAccess::make(lo, hi);
}

Seed128 derive_seed(const Seed128& master, std::string_view label, uint64_t index) {
  // Message: label || index (8 bytes LE) || half (1 byte). SipHash authenticates the length,
  // so (label, index) is recovered unambiguously from the message and distinct pairs never
  // share an input.
  std::string msg(label);
  uint8_t idx[8];
  store_le64(idx, index);
  msg.append(reinterpret_cast<const char*>(idx), sizeof idx);
  msg.push_back('\0');
  const SipHash24 prf24(master);
  const uint64_t lo = prf24.hash(msg);
  msg.back() = '\1';
  const uint64_t hi = prf24.hash(msg);
  return SeedAccess::make(lo, hi);
}

KeyStream::KeyStream(const Seed128& seed, std::string_view label) {
  const Seed128 key = derive_seed(seed, label);
  k0_ = SeedAccess::lo(key);
  k1_ = SeedAccess::hi(key);
}

uint64_t KeyStream::next() { return SipHash24(SeedAccess::make(k0_, k1_)).hash_u64(counter_++); }

Result<Seed128> seed_from_secret_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::not_found("secret file " + quoted(path) + " does not exist");
    return Status::io_error("cannot open secret file " + quoted(path) + ": " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::invalid("secret file " + quoted(path) +
                           " is not a regular file (a device such as /dev/urandom would give "
                           "every process a different seed)");
  }
  // Read at most kMaxSecretBytes + 1 bytes: enough to tell "too large" without reading a huge
  // file.
  std::vector<uint8_t> bytes(kMaxSecretBytes + 1);
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      wipe(bytes.data(), got);
      return Status::io_error("cannot read secret file " + quoted(path) + ": " +
                              std::strerror(err));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);

  Status error;
  if (got == 0) {
    error = Status::invalid("secret file " + quoted(path) + " is empty");
  } else if (got < kMinSecretBytes) {
    error =
        Status::invalid("secret file " + quoted(path) + " is too short: " + std::to_string(got) +
                        " bytes, need at least " + std::to_string(kMinSecretBytes));
  } else if (got > kMaxSecretBytes) {
    error = Status::invalid("secret file " + quoted(path) + " is larger than " +
                            std::to_string(kMaxSecretBytes) + " bytes");
  }
  if (!error.is_ok()) {
    wipe(bytes.data(), got);
    return error;
  }

  // KDF (docs/guarantees.md, "Shared seeds"): a cascade over 16-byte blocks of
  //   contents || zero padding to a multiple of 16 || (length as 8 bytes LE, 8 zero bytes).
  // Chain key K starts at zero; each block B replaces K by
  //   (SipHash24_{K xor B}(label || 01), SipHash24_{K xor B}(label || 02)),
  // and the seed is (SipHash24_K(label || 03), SipHash24_K(label || 04)).
  // The length block makes the padding unambiguous, so distinct contents are distinct inputs.
  const size_t padded = (got + 15) & ~size_t{15};
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(got),
            bytes.begin() + static_cast<std::ptrdiff_t>(padded), 0);
  uint64_t k0 = 0;
  uint64_t k1 = 0;
  auto absorb = [&](uint64_t b0, uint64_t b1) {
    const Seed128 key = SeedAccess::make(k0 ^ b0, k1 ^ b1);
    k0 = prf(key, kSecretFileLabel, 1);
    k1 = prf(key, kSecretFileLabel, 2);
  };
  for (size_t off = 0; off < padded; off += 16) {
    absorb(hash_internal::load_le64(bytes.data() + off),
           hash_internal::load_le64(bytes.data() + off + 8));
  }
  absorb(static_cast<uint64_t>(got), 0);
  wipe(bytes.data(), padded);
  const Seed128 chain = SeedAccess::make(k0, k1);
  return SeedAccess::make(prf(chain, kSecretFileLabel, 3), prf(chain, kSecretFileLabel, 4));
}

Status check_secret_file_permissions(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Status::io_error("cannot stat secret file " + quoted(path) + ": " +
                            std::strerror(errno));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::invalid("secret file " + quoted(path) + " has mode " + mode +
                           ": group or others can access it; run chmod 600");
  }
  return Status::ok();
}

namespace hash_internal {

GetrandomFn set_getrandom_for_testing(GetrandomFn fn) {
  return g_getrandom.exchange(fn != nullptr ? fn : &system_getrandom, std::memory_order_acq_rel);
}

}  // namespace hash_internal
}  // namespace spate
