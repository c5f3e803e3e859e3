#pragma once
// Arena: bump allocator made of fixed blocks. Pointers it returns stay valid until reset();
// reset() keeps the blocks, so a reused arena allocates nothing in steady state.
// Thread-safety: owned by one thread at a time (batches move between workers whole).

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace spate {

class Arena {
 public:
  static constexpr size_t kBlockSize = 64 * 1024;

  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  char* allocate(size_t n) {
    if (n > kBlockSize / 4) return allocate_large(n);
    if (cur_ == nullptr || static_cast<size_t>(end_ - cur_) < n) next_block();
    char* p = cur_;
    cur_ += n;
    return p;
  }

  std::string_view copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = allocate(s.size());
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  // Forget all allocations; keeps the standard blocks for reuse, frees large ones.
  void reset() {
    used_ = 0;
    cur_ = end_ = nullptr;
    large_.clear();
  }

  size_t bytes_reserved() const { return blocks_.size() * kBlockSize; }

 private:
  void next_block() {
    // new char[] (not make_unique<char[]>): a block is not zeroed, its bytes are written first.
    if (used_ == blocks_.size()) blocks_.push_back(std::unique_ptr<char[]>(new char[kBlockSize]));
    cur_ = blocks_[used_++].get();
    end_ = cur_ + kBlockSize;
  }
  char* allocate_large(size_t n) {
    large_.push_back(std::unique_ptr<char[]>(new char[n]));
    return large_.back().get();
  }

  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::unique_ptr<char[]>> large_;
  size_t used_ = 0;
  char* cur_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace spate
