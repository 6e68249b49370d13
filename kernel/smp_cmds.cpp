// The `cpus` monitor command: each CPU's hart, node, state and interrupt counts.
#include "kernel/monitor.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp.h"

static int cmd_cpus(int, char **) {
  printk("CPU  hart  node  state    IPIs      timer ticks  stack\n");
  for (unsigned cpu = 0; cpu < nr_cpu_ids; cpu++) {
    const percpu_area &a = cpu_areas[cpu];
    printk("%3u  %4lu  %4d  %-7s  %8lu  %11lu  ", cpu, a.hartid, cpu_to_node(cpu),
           cpu_online(cpu) ? "online" : "offline", a.nr_ipis, a.nr_timer_irqs);
    if (a.stack) printk(KERN_CONT "%016lx-%016lx\n", reinterpret_cast<uintptr_t>(a.stack), a.stack_top);
    else printk(KERN_CONT "-\n");
  }
  return 0;
}
MONITOR_COMMAND(cpus_cmd, "cpus", "", "each CPU: its hart, node, whether online, IPIs and timer ticks taken, its stack", cmd_cpus);
