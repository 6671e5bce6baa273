#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

#include "common/log.h"
#include "common/units.h"

namespace switchyard {

ProgressMeter::ProgressMeter(std::string label, uint64_t total_bytes, uint64_t total_rows,
                             std::string parts_name)
    : label_(std::move(label)),
      total_bytes_(total_bytes),
      total_rows_(total_rows),
      parts_name_(std::move(parts_name)),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

ProgressMeter::~ProgressMeter() {
  if (drawn_) std::fputs("\n", stderr);
}

std::string ProgressMeter::line(uint64_t rows, uint64_t bytes, double elapsed,
                                const std::string& tail) const {
  const double rate = elapsed > 0 ? bytes / elapsed : 0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %llu rows, %s, %s/s%s", label_.c_str(),
                static_cast<unsigned long long>(rows), format_bytes(bytes).c_str(),
                format_bytes(rate).c_str(), tail.c_str());
  return buf;
}

void ProgressMeter::update(uint64_t rows, uint64_t bytes, int parts_done, int parts_total) {
  const auto now = std::chrono::steady_clock::now();
  const auto since = now - last_print_;
  if (since < (tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(10'000))) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string tail = ", " + std::to_string(parts_done);
  if (parts_total > 0) tail += "/" + std::to_string(parts_total);
  tail += " " + parts_name_;
  if (total_rows_ > 0 && rows > 0 && rows < total_rows_) {
    const double eta = (total_rows_ - rows) / (rows / elapsed);
    tail += ", ETA " + format_duration(eta);
  } else if (total_rows_ == 0 && total_bytes_ > 0 && bytes > 0 && bytes < total_bytes_) {
    const double eta = (total_bytes_ - bytes) / (bytes / elapsed);
    tail += ", ETA " + format_duration(eta);
  }
  const std::string text = line(rows, bytes, elapsed, tail);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    drawn_ = true;
  } else {
    spdlog::info("{}", text);
  }
}

void ProgressMeter::clear() {
  if (drawn_) {
    std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }
}

void ProgressMeter::finish(uint64_t rows, uint64_t bytes, int parts_total) {
  if (drawn_) {
    std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  spdlog::info("{} in {}",
               line(rows, bytes, elapsed, ", " + std::to_string(parts_total) + " " + parts_name_),
               format_duration(elapsed));
}

}  // namespace switchyard
