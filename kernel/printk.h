// printk: the kernel log. Formatting (kvsnprintf) is freestanding and
// host-tested against the host's snprintf; messages go to a ring buffer and to
// every registered console whose level admits them.
//
// Formats: %d %i %u %x %X %o %c %s %p %% with the hh, h, l, ll, z, t, j
// length modifiers, width and precision (number or *; precision for strings
// and integers as in C), and the flags '0', '-', '+', ' ', '#'. Output equals
// glibc's snprintf, except: %p prints 0x and 16 hex digits (Linux's %px), and
// an unknown or cut-off conversion is printed as written.
//
// Lines follow Linux: a message without a final newline leaves its line open,
// KERN_CONT text extends it, any other message first ends it.
#pragma once

#include "kernel/types.h"

// Log levels as in Linux: a message may start with KERN_SOH and a digit.
#define KERN_SOH "\001"
#define KERN_EMERG KERN_SOH "0"
#define KERN_ALERT KERN_SOH "1"
#define KERN_CRIT KERN_SOH "2"
#define KERN_ERR KERN_SOH "3"
#define KERN_WARNING KERN_SOH "4"
#define KERN_NOTICE KERN_SOH "5"
#define KERN_INFO KERN_SOH "6"
#define KERN_DEBUG KERN_SOH "7"
#define KERN_CONT KERN_SOH "c"

constexpr int LOGLEVEL_DEFAULT = 4;  // a message without a level is a warning
constexpr int CONSOLE_LOGLEVEL_DEFAULT = 7;  // print everything but debug

// snprintf semantics: writes at most size bytes including the terminator and
// returns the length the whole output would have had. Not named vsnprintf so
// that it never collides with the host libc's.
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
// Linux's scnprintf: returns the number of characters actually written (never
// more than size-1), so that it can be chained into one buffer.
int vscnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int scnprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

constexpr unsigned CON_PRINTBUFFER = 1u << 0;  // replay the log buffer when registered

struct console {
  const char *name;
  void (*write)(struct console *con, const char *s, size_t len);
  unsigned flags;  // CON_*
  struct console *next;
};

// Adds a console. When it has CON_PRINTBUFFER, everything already in the log
// buffer is replayed to it first (a console that takes over from a boot
// console that already showed the log leaves the flag clear).
void register_console(struct console *con);
void unregister_console(struct console *con);

extern int console_loglevel;

// Set while an oops or panic is being reported: printk then takes the log
// over from a CPU that holds it for too long.
extern int oops_in_progress;

int vprintk(const char *fmt, va_list ap);
int printk(const char *fmt, ...) __printf(1, 2);

// The log buffer (for dmesg and for tests): copies the newest bytes, at most
// size, with no terminator. Returns the bytes copied.
size_t log_buf_copy(char *dst, size_t size);
void log_buf_clear();

#define pr_emerg(fmt, ...) printk(KERN_EMERG fmt, ##__VA_ARGS__)
#define pr_alert(fmt, ...) printk(KERN_ALERT fmt, ##__VA_ARGS__)
#define pr_crit(fmt, ...) printk(KERN_CRIT fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) printk(KERN_ERR fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) printk(KERN_WARNING fmt, ##__VA_ARGS__)
#define pr_notice(fmt, ...) printk(KERN_NOTICE fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) printk(KERN_INFO fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) printk(KERN_DEBUG fmt, ##__VA_ARGS__)
#define pr_cont(fmt, ...) printk(KERN_CONT fmt, ##__VA_ARGS__)
