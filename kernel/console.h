// The kernel's consoles: the SBI console from the first instruction on, then
// the ns16550 UART that the device tree names, once it is mapped. Input for
// the monitor comes from the same place.
#pragma once

#include "kernel/types.h"

struct ns16550 {
  volatile u8 *base;
  unsigned reg_shift;  // registers are 1 << reg_shift bytes apart
  unsigned io_width;   // 1 or 4 bytes per access
};

// Registers the SBI console, replaying anything printed before.
void early_console_init();
// Takes over from the SBI console (which is unregistered) with the UART.
void uart_console_init(const ns16550 &uart);
// Returns the next input character, or -1 if none is waiting.
int console_getc();
