#pragma once
// Test-only: replaces global operator new/delete to count heap allocations, to check "no
// allocation per update in steady state". Include from exactly one file of a test binary.
// (noinline: GCC otherwise pairs the inlined malloc/free with new/delete and warns.)

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

static std::atomic<uint64_t> g_allocations{0};
__attribute__((noinline)) void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
