// What the rc::state models share so that a failure becomes a regression:
// the model's commands print as the C++ expressions that build them, a whole
// failing case prints as one macro call for proptest/regressions/, and a kept
// case runs as a plain TEST through the same code as the property.
//
// RapidCheck prints a counterexample as "<type>:\n<value>" for every value
// the property drew. Each property here draws exactly one value, its case,
// whose type name (rc::ShowType below) is a C++ comment and whose value is
// the macro call: the listing is the regression, verbatim.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "mm/gfp.h"
#include "mm/page_alloc.h"

namespace modelcase {

// The flags as their names joined by '|', which is also a C++ expression
// (format_gfp prints leftover bits in hex, nothing as 0).
inline std::string gfp_expr(gfp_t gfp) {
  char buf[512];
  format_gfp(buf, sizeof(buf), gfp);
  std::string out;
  for (const char *c = buf; *c; c++) {
    if (*c == '|') out += " | ";
    else out += *c;
  }
  return out;
}

inline std::string nid_expr(int nid) { return nid == NUMA_NO_NODE ? "NUMA_NO_NODE" : std::to_string(nid); }

inline std::string hex(unsigned long v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%#lx", v);
  return buf;
}

// A name that two different pasted cases are unlikely to share, so that a
// paste compiles next to earlier ones without renaming (renaming to what
// the case is about is still better).
inline std::string case_name(const std::string &body) {
  unsigned long h = 1469598103934665603ul;
  for (char c : body) h = (h ^ u8(c)) * 1099511628211ul;
  char buf[32];
  snprintf(buf, sizeof(buf), "Shrunk%08lx", h & 0xfffffffful);
  return buf;
}

// Commands given as values, as the model's sequence type.
template <class Base, class... C>
std::vector<std::shared_ptr<const Base>> commands_of(const C &...c) {
  return {std::shared_ptr<const Base>(std::make_shared<const C>(c))...};
}

// The listing of one case: `MACRO(Name, args...,` then a command a line.
template <class Cmds>
void show_case(std::ostream &os, const char *macro, const std::string &args, const Cmds &cmds) {
  std::string body;
  for (size_t i = 0; i < cmds.size(); i++) {
    std::ostringstream line;
    cmds[i]->show(line);
    body += "    " + line.str() + (i + 1 < cmds.size() ? ",\n" : ")");
  }
  if (cmds.empty()) body = "    )";
  os << macro << "(" << case_name(args + body) << ", " << args << ",\n" << body;
}

// Runs a kept case in a gtest frame: the model's assertions throw
// RapidCheck's result, which becomes this test's failure with its message.
// A discarded precondition means the kept sequence no longer fits its model.
inline void expect_holds(const std::function<void()> &run) {
  try {
    run();
  } catch (const rc::detail::CaseResult &r) {
    if (r.type == rc::detail::CaseResult::Type::Discard)
      ADD_FAILURE() << "a command's precondition does not hold (the sequence no longer fits the model):\n"
                    << r.description;
    else
      ADD_FAILURE() << r.description;
  } catch (const std::exception &e) {
    ADD_FAILURE() << "exception: " << e.what();
  }
}

}  // namespace modelcase

// The type line RapidCheck prints above a case: a comment saying where the
// listing goes.
#define MODEL_CASE_SHOW_TYPE(type, where)                                                      \
  template <>                                                                                  \
  struct rc::ShowType<type> {                                                                  \
    static void showType(std::ostream &os) {                                                   \
      os << "// Shrunk counterexample; to keep it, paste the next lines into " where " (the " \
            "name may be changed)";                                                            \
    }                                                                                          \
  }
