// Progress of a long operation (a copy, a verify pass): rows, bytes, rate
// and ETA. On a terminal it redraws one status line on stderr about four
// times a second; otherwise it writes a plain log line every ten seconds.
// Called from one thread (the coordinator), not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace switchyard {

class ProgressMeter {
 public:
  // total_bytes may be an estimate; 0 means unknown (no ETA). With
  // total_rows set, the ETA follows rows instead. parts_name names the
  // units of work ("parts", "chunks").
  ProgressMeter(std::string label, uint64_t total_bytes, uint64_t total_rows = 0,
                std::string parts_name = "parts");
  ~ProgressMeter();

  void update(uint64_t rows, uint64_t bytes, int parts_done, int parts_total);
  // Erases the status line, printing nothing (the caller reports).
  void clear();
  // Final line, always printed.
  void finish(uint64_t rows, uint64_t bytes, int parts_total);

 private:
  std::string line(uint64_t rows, uint64_t bytes, double elapsed, const std::string& tail) const;

  std::string label_;
  uint64_t total_bytes_;
  uint64_t total_rows_;
  std::string parts_name_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace switchyard
