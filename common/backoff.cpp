#include "common/backoff.h"

#include <thread>

#include "common/shutdown.h"

namespace switchyard {

bool sleep_unless_stopped(std::chrono::milliseconds delay) {
  const auto deadline = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < deadline) {
    if (stop_requested()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !stop_requested();
}

}  // namespace switchyard
