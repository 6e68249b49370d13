// What the checkers' damage tests share (check_*damage*_test.cpp): numbers
// and pointers as the reports print them, and the assertion that a report
// names what broke.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace damage {

inline std::string hex(unsigned long v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%lx", v);
  return buf;
}

inline std::string ptr(const void *p) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016lx", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p)));
  return buf;
}

// Every string of `want` is in a non-empty report.
inline void expect_finds(const std::string &report, const std::vector<std::string> &want) {
  EXPECT_FALSE(report.empty()) << "the checker found nothing";
  for (const std::string &s : want) EXPECT_NE(report.find(s), std::string::npos) << "\"" << s << "\" in:\n" << report;
}

}  // namespace damage
