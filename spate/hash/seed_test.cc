// Seeds: getrandom (fresh, retried on EINTR, fatal when unavailable), the test-only expansion,
// the secret-file KDF, derive_seed and KeyStream, and that a seed cannot be printed.

#include "spate/hash/seed.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <string>

namespace spate {
namespace {

// A seed must not be printable by accident.
template <typename T>
concept StreamInsertable = requires(std::ostream& os, const T& v) {
  os << v;
};
static_assert(!StreamInsertable<Seed128>, "Seed128 must have no operator<<");
static_assert(!fmt::is_formattable<Seed128>::value, "Seed128 must have no fmt formatter");
static_assert(!std::is_default_constructible_v<Seed128>, "no default (hard-coded) seed");

TEST(Seed128, GoogleTestPrintsItRedacted) {
  const Seed128 s = seed_from_u64(1);
  EXPECT_EQ(::testing::PrintToString(s), "Seed128{redacted}");
}

TEST(Seed128, UnsafeBytesRoundTripLittleEndian) {
  std::array<uint8_t, 16> bytes;
  for (int i = 0; i < 16; ++i) bytes[i] = static_cast<uint8_t>(0xa0 + i);
  const Seed128 s = Seed128::unsafe_from_bytes(bytes);
  EXPECT_EQ(s.unsafe_bytes(), bytes);
  EXPECT_EQ(hash_internal::SeedAccess::lo(s), 0xa7a6a5a4a3a2a1a0ULL);
  EXPECT_EQ(hash_internal::SeedAccess::hi(s), 0xafaeadacabaaa9a8ULL);
}

TEST(RandomSeed, EveryCallGivesADifferentSeed) {
  std::set<std::array<uint8_t, 16>> seen;
  for (int i = 0; i < 64; ++i) seen.insert(random_seed().unsafe_bytes());
  EXPECT_EQ(seen.size(), 64u);  // a repeat has probability < 2^-116
  EXPECT_NE(random_seed(), random_seed());
  EXPECT_FALSE(seen.count(std::array<uint8_t, 16>{}));
}

// A fake getrandom: fails with EINTR twice, then hands out the bytes 5 at a time.
int g_calls = 0;
ssize_t interrupted_then_short(void* buf, size_t len, unsigned) {
  ++g_calls;
  if (g_calls <= 2) {
    errno = EINTR;
    return -1;
  }
  const size_t n = len < 5 ? len : 5;
  std::memset(buf, 0x5a, n);
  return static_cast<ssize_t>(n);
}

TEST(RandomSeed, RetriesOnEintrAndShortReads) {
  g_calls = 0;
  const auto previous = hash_internal::set_getrandom_for_testing(&interrupted_then_short);
  const Seed128 s = random_seed();
  hash_internal::set_getrandom_for_testing(previous);
  EXPECT_EQ(g_calls, 2 + 4);  // 2 interrupted + 5 + 5 + 5 + 1 bytes
  std::array<uint8_t, 16> want;
  want.fill(0x5a);
  EXPECT_EQ(s.unsafe_bytes(), want);
}

ssize_t unavailable(void*, size_t, unsigned) {
  errno = ENOSYS;
  return -1;
}

TEST(RandomSeedDeathTest, AbortsWhenTheKernelHasNoRandomness) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        hash_internal::set_getrandom_for_testing(&unavailable);
        random_seed();
      },
      "getrandom\\(2\\) failed.*predictable");
}

TEST(SeedFromU64, DeterministicAndSpread) {
  EXPECT_EQ(seed_from_u64(42), seed_from_u64(42));
  std::set<std::array<uint8_t, 16>> seen;
  for (uint64_t x = 0; x < 1000; ++x) seen.insert(seed_from_u64(x).unsafe_bytes());
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_NE(seed_from_u64(0).unsafe_bytes(), (std::array<uint8_t, 16>{}));
}

TEST(DeriveSeed, IndependentPerLabelAndIndex) {
  const Seed128 master = seed_from_u64(7);
  EXPECT_EQ(derive_seed(master, "a", 0), derive_seed(master, "a", 0));
  std::set<std::array<uint8_t, 16>> seen{master.unsafe_bytes()};
  for (const char* label : {"", "a", "b", "ab", "spate.hash.routing.v1.direct"}) {
    for (uint64_t i = 0; i < 50; ++i) seen.insert(derive_seed(master, label, i).unsafe_bytes());
  }
  EXPECT_EQ(seen.size(), 1u + 5 * 50);
  EXPECT_NE(derive_seed(master, "a"), derive_seed(seed_from_u64(8), "a"));
}

TEST(KeyStream, DeterministicPerSeedAndLabel) {
  KeyStream a(seed_from_u64(1), "x");
  KeyStream b(seed_from_u64(1), "x");
  KeyStream c(seed_from_u64(1), "y");
  std::set<uint64_t> seen;
  for (int i = 0; i < 100; ++i) {
    const uint64_t va = a.next();
    EXPECT_EQ(va, b.next());
    EXPECT_NE(va, c.next());
    seen.insert(va);
  }
  EXPECT_EQ(seen.size(), 100u);
}

// --- Secret files ---------------------------------------------------------------------------

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/spate_seed_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::string dir_;
};

const std::string kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes

TEST_F(SecretFileTest, SameBytesGiveTheSameSeedAcrossFiles) {
  const auto a = seed_from_secret_file(write("a", kSecret));
  const auto b = seed_from_secret_file(write("b", kSecret));
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(*a, *b);
}

TEST_F(SecretFileTest, DifferentBytesGiveDifferentSeeds) {
  std::set<std::array<uint8_t, 16>> seen;
  std::string flipped = kSecret;
  flipped[31] ^= 1;
  for (const std::string& content :
       {kSecret, flipped, kSecret + std::string(1, '\0'), kSecret + "\n", kSecret.substr(0, 16),
        kSecret.substr(0, 16) + std::string(16, '\0'), std::string(1000, 'x')}) {
    const auto s = seed_from_secret_file(write("f", content));
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    seen.insert(s->unsafe_bytes());
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST_F(SecretFileTest, SeedIsNotTheFileContents) {
  const std::string sixteen = kSecret.substr(0, 16);
  const auto s = seed_from_secret_file(write("f", sixteen));
  ASSERT_TRUE(s.is_ok());
  const auto bytes = s->unsafe_bytes();
  EXPECT_NE(std::string(bytes.begin(), bytes.end()), sixteen);
}

// Pins the KDF: processes of different builds must derive the same seed from the same file.
// (The value is this implementation's output, recorded when the KDF was written; a change here
// means placements change across a rolling upgrade.)
TEST_F(SecretFileTest, KdfIsStable) {
  std::string bytes(32, '\0');
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<char>(i);
  const auto s = seed_from_secret_file(write("golden", bytes));
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(hash_internal::SeedAccess::lo(*s), 0x0470848df541cdccULL);
  EXPECT_EQ(hash_internal::SeedAccess::hi(*s), 0x2c3155d914363049ULL);
}

TEST_F(SecretFileTest, MissingFileIsAnErrorNamingThePath) {
  const std::string path = dir_ + "/does-not-exist";
  const auto s = seed_from_secret_file(path);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find(path), std::string::npos) << s.status().message();
}

TEST_F(SecretFileTest, EmptyShortAndOversizedFilesAreErrors) {
  const auto empty = seed_from_secret_file(write("empty", ""));
  ASSERT_FALSE(empty.is_ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
  EXPECT_NE(empty.status().message().find(dir_ + "/empty"), std::string::npos);

  const std::string fifteen = "SECRETSECRETSEC";
  const auto short_file = seed_from_secret_file(write("short", fifteen));
  ASSERT_FALSE(short_file.is_ok());
  EXPECT_NE(short_file.status().message().find("too short"), std::string::npos);
  EXPECT_EQ(short_file.status().message().find("SECRET"), std::string::npos)
      << "error messages must never contain the secret";

  EXPECT_TRUE(seed_from_secret_file(write("sixteen", fifteen + "!")).is_ok());
  EXPECT_FALSE(seed_from_secret_file(write("huge", std::string(kMaxSecretBytes + 1, 'x'))).is_ok());
  EXPECT_TRUE(seed_from_secret_file(write("max", std::string(kMaxSecretBytes, 'x'))).is_ok());
}

TEST_F(SecretFileTest, DirectoriesAndDevicesAreRejected) {
  EXPECT_FALSE(seed_from_secret_file(dir_).is_ok());
  const auto dev = seed_from_secret_file("/dev/urandom");
  ASSERT_FALSE(dev.is_ok());
  EXPECT_NE(dev.status().message().find("not a regular file"), std::string::npos);
}

TEST_F(SecretFileTest, PermissionCheck) {
  EXPECT_TRUE(check_secret_file_permissions(write("private", kSecret, 0600)).is_ok());
  EXPECT_TRUE(check_secret_file_permissions(write("readonly", kSecret, 0400)).is_ok());
  const Status open = check_secret_file_permissions(write("open", kSecret, 0644));
  EXPECT_FALSE(open.is_ok());
  EXPECT_NE(open.message().find("0644"), std::string::npos) << open.message();
  EXPECT_FALSE(check_secret_file_permissions(dir_ + "/missing").is_ok());
}

}  // namespace
}  // namespace spate
