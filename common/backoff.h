// Exponential backoff with full jitter for reconnect loops.
//
// next_delay() returns a random delay in [base/2, cap] that doubles on each
// failure; reset() after a connection that made progress. Not thread-safe.
#pragma once

#include <chrono>
#include <random>

namespace switchyard {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap)
      : base_(base), cap_(cap), current_(base), rng_(std::random_device{}()) {}

  std::chrono::milliseconds next_delay() {
    const auto ceiling = current_;
    current_ = std::min(cap_, current_ * 2);
    std::uniform_int_distribution<long> pick(ceiling.count() / 2, ceiling.count());
    return std::chrono::milliseconds(pick(rng_));
  }

  void reset() { current_ = base_; }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  std::chrono::milliseconds current_;
  std::mt19937_64 rng_;
};

// Sleeps up to `delay`, waking early if a stop was requested. Returns false
// when stopping.
bool sleep_unless_stopped(std::chrono::milliseconds delay);

}  // namespace switchyard
