#include "kernel/monitor.h"

#include "kernel/console.h"
#include "kernel/line_edit.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "kernel/smp.h"

extern "C" const monitor_command __monitor_cmds_start[], __monitor_cmds_end[];

static void echo(const char *s, size_t n) { printk(KERN_CONT "%.*s", int(n), s); }

static const monitor_command *find_command(const char *name) {
  for (const monitor_command *c = __monitor_cmds_start; c < __monitor_cmds_end; c++)
    if (strcmp(c->name, name) == 0) return c;
  return nullptr;
}

int monitor_exec(char *line) {
  char *argv[16];
  int argc = split_words(line, argv, ARRAY_SIZE(argv));
  if (argc == 0) return 0;
  const monitor_command *cmd = find_command(argv[0]);
  if (!cmd) {
    printk("unknown command \"%s\"; `help` lists the commands\n", argv[0]);
    return -1;
  }
  return cmd->run(argc, argv);
}

void monitor_run() {
  line_editor ed;
  line_edit_reset(ed);
  ed.last_was_cr = false;
  printk("Type `help` for the monitor's commands.\n");
  for (;;) {
    printk("mm> ");
    for (;;) {
      int c = console_getc();
      if (c < 0) {
        // Idle: the boot CPU's queued and periodic work (kswapd's reclaim).
        run_pending_work();
        continue;
      }
      line_event ev = line_edit_feed(ed, c, echo);
      if (ev == line_event::none) continue;
      if (ev == line_event::done) monitor_exec(ed.buf);
      line_edit_reset(ed);
      break;
    }
  }
}

static int cmd_help(int argc, char **argv) {
  if (argc > 1) {
    const monitor_command *c = find_command(argv[1]);
    if (!c) {
      printk("help: no command \"%s\"\n", argv[1]);
      return 1;
    }
    printk("%s %s\n    %s\n", c->name, c->usage, c->help);
    return 0;
  }
  for (const monitor_command *c = __monitor_cmds_start; c < __monitor_cmds_end; c++) {
    char left[40];
    scnprintf(left, sizeof(left), "%s %s", c->name, c->usage);
    printk("  %-28s %s\n", left, c->help);
  }
  return 0;
}
MONITOR_COMMAND(help_cmd, "help", "[command]", "list the commands, or explain one", cmd_help);
