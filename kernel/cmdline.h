// The kernel command line: words separated by spaces, each `name` or
// `name=value`; double quotes group a value that holds spaces
// (`foo="a b"`). Every known name has a kernel_param; an unknown one is
// reported, never silently ignored.
#pragma once

#include "kernel/types.h"

struct kernel_param {
  const char *name;
  // Called with the value (nullptr for a bare `name`). Returns 0, or -EINVAL
  // for a value it cannot take (the caller reports it).
  int (*set)(const char *val);
  const char *help;
};

enum class param_problem { unknown, bad_value, bad_quoting };

// Splits cmdline in place and calls the matching param's set for each word.
// For a word that fails, calls report(problem, name, val). Returns the number
// of words that failed.
int parse_args(char *cmdline, const kernel_param *params, size_t nr_params,
               void (*report)(param_problem problem, const char *name, const char *val));

// Params registered anywhere in the kernel with KERNEL_PARAM land in one
// linker section (kernel.ld collects it).
#define KERNEL_PARAM(ident, name, set, help)                                       \
  __attribute__((used, section(".kernel_params"))) static const kernel_param ident = \
      {name, set, help}

// Parses a size with an optional K/M/G suffix ("512M"). Returns 0 or -EINVAL.
int parse_size(const char *s, u64 *out);
// Parses an unsigned decimal or 0x-prefixed hex number. Returns 0 or -EINVAL.
int parse_u64(const char *s, u64 *out);
// Parses a boolean param's value as Linux's kstrtobool does for one
// character: 1/y/Y or 0/n/N. Returns 0 or -EINVAL (nullptr too).
int parse_bool(const char *val, bool *out);
