#include "kernel/console.h"

#include "kernel/printk.h"
#include "sbi/sbi.h"

// Terminals want "\r\n"; the log keeps plain "\n".
template <class Putc>
static void write_crlf(const char *s, size_t len, Putc putc) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\n') putc('\r');
    putc(s[i]);
  }
}

static void sbi_console_write(console *, const char *s, size_t len) {
  write_crlf(s, len, sbi::console_putchar);
}

static console sbi_console = {"sbi", sbi_console_write, CON_PRINTBUFFER, nullptr};

void early_console_init() { register_console(&sbi_console); }

// ns16550 registers (offsets in units of 1 << reg_shift).
enum : unsigned { UART_RBR = 0, UART_THR = 0, UART_IER = 1, UART_LCR = 3, UART_MCR = 4, UART_LSR = 5 };
constexpr u8 UART_LSR_DR = 0x01;    // data ready
constexpr u8 UART_LSR_THRE = 0x20;  // transmit holding register empty

static ns16550 uart;

static u8 uart_in(unsigned reg) {
  volatile u8 *p = uart.base + (reg << uart.reg_shift);
  return uart.io_width == 4 ? u8(*reinterpret_cast<volatile u32 *>(p)) : *p;
}

static void uart_out(unsigned reg, u8 v) {
  volatile u8 *p = uart.base + (reg << uart.reg_shift);
  if (uart.io_width == 4) *reinterpret_cast<volatile u32 *>(p) = v;
  else *p = v;
}

static void uart_putc(char c) {
  while (!(uart_in(UART_LSR) & UART_LSR_THRE)) {
  }
  uart_out(UART_THR, u8(c));
}

static void uart_console_write(console *, const char *s, size_t len) { write_crlf(s, len, uart_putc); }

static console uart_console = {"ttyS0", uart_console_write, 0, nullptr};

void uart_console_init(const ns16550 &u) {
  uart = u;
  uart_out(UART_IER, 0x00);  // polled: no interrupts
  // FCR is left as the firmware set it: toggling the FIFO enable would clear
  // the receive FIFO and lose monitor input that is already waiting.
  uart_out(UART_LCR, 0x03);  // 8 data bits, no parity, 1 stop bit
  uart_out(UART_MCR, 0x03);  // DTR, RTS
  unregister_console(&sbi_console);
  register_console(&uart_console);
}

int console_getc() {
  if (!uart.base) return sbi::console_getchar();
  if (!(uart_in(UART_LSR) & UART_LSR_DR)) return -1;
  return uart_in(UART_RBR);
}
