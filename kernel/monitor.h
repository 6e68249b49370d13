// The serial monitor: an `mm>` prompt with line editing (kernel/line_edit.h)
// and a registry of commands. Any file adds a command with MONITOR_COMMAND;
// the linker gathers them (kernel.ld, section .monitor_cmds).
#pragma once

#include "kernel/types.h"

struct monitor_command {
  const char *name;
  const char *usage;  // arguments, e.g. "[suite,...]"
  const char *help;   // one line
  // Returns 0, or a non-zero value after printing what was wrong.
  int (*run)(int argc, char **argv);
};

#define MONITOR_COMMAND(ident, name, usage, help, fn)                                     \
  __attribute__((used, section(".monitor_cmds"))) static const monitor_command ident = \
      {name, usage, help, fn}

// Runs one command line (as typed at the prompt). Returns the command's result,
// or -1 for an unknown command.
int monitor_exec(char *line);
// Reads and runs commands forever; `poweroff` ends it.
__noreturn void monitor_run();
