// printk: the formatter (kvsnprintf and friends) and the kernel log.
//
// Formatting follows C's snprintf, and the host tests hold it to glibc's output
// for every conversion listed in kernel/printk.h, including integer precision.
// Where C leaves a combination undefined we do what glibc does ('0' pads %s and
// %c with spaces; '#', '+' and ' ' are ignored where they mean nothing; a NULL
// %s prints "(null)", or nothing if the precision is below 6). Our own choices:
//   - %p prints "0x" and 16 lowercase hex digits, like Linux's %px; only the
//     width and '-' apply to it.
//   - A conversion we do not know (%f, %n, ...) is printed verbatim, from its
//     '%' through its character, and consumes no argument, not even for '*'.
//   - l on %c or %s is ignored: there are no wide characters in the kernel.
//   - Output longer than INT_MAX gives -EOVERFLOW (glibc: -1 and EOVERFLOW).
//
// The log holds each message as a record in a byte ring:
//     [level: 1 byte][text length: 2 bytes, little endian][text]
// A record may wrap around the end of the ring. Positions are 64-bit counts of
// the bytes ever stored, so a record still exists iff first <= pos < next, and
// its bytes live at pos % LOG_BUF_LEN. A record that does not fit pushes out
// whole records from the front: the newest text always survives intact and a
// reader never meets half a header. Keeping the level lets a console that is
// registered late get the same filtered output as one registered at boot.
//
// Lines work as in Linux: a message that does not end in '\n' leaves its line
// open; KERN_CONT text extends an open line (at that line's level), and any
// other message first ends it with a '\n'. That '\n' is logged only while the
// line it ends is still in the log (not cleared, not pushed out), so that the
// log never starts with a stray newline; consoles always get it.
#include "kernel/printk.h"

#include "kernel/errno.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"

int console_loglevel = CONSOLE_LOGLEVEL_DEFAULT;
int oops_in_progress;

/* ----------------------------------------------------------------------------
 * Formatting
 * ------------------------------------------------------------------------- */

namespace {

constexpr size_t FMT_INT_MAX = __INT_MAX__;

static_assert(sizeof(ptrdiff_t) == sizeof(size_t), "%zd reads size_t's signed twin as ptrdiff_t");
static_assert(sizeof(uintmax_t) <= sizeof(u64), "%j values are formatted through u64");

// Where formatted text goes: what fits in buf is stored (one byte is always
// kept for the terminator) and everything is counted, because snprintf returns
// the length the whole output would have had.
struct out {
  char *buf;
  size_t size;
  size_t len;

  size_t room() const { return len + 1 < size ? size - 1 - len : 0; }
  void put(char c) {
    if (room()) buf[len] = c;
    len++;
  }
  // n may be huge (a width of INT_MAX): only what fits is written.
  void repeat(char c, size_t n) {
    size_t k = n < room() ? n : room();
    for (size_t i = 0; i < k; i++) buf[len + i] = c;
    len += n;
  }
  void write(const char *s, size_t n) {
    size_t k = n < room() ? n : room();
    if (k) memcpy(buf + len, s, k);
    len += n;
  }
  void terminate() {
    if (size) buf[len < size ? len : size - 1] = '\0';
  }
};

enum : unsigned {
  F_LEFT = 1 << 0,   // '-'
  F_PLUS = 1 << 1,   // '+'
  F_SPACE = 1 << 2,  // ' '
  F_ALT = 1 << 3,    // '#'
  F_ZERO = 1 << 4,   // '0'
};

enum class length_mod { none, hh, h, l, ll, z, t, j };

// One conversion specification, as written: '*' fields are only noted here
// and fetched once the conversion is known to take arguments.
struct spec {
  unsigned flags;
  bool width_star;
  bool prec_star;
  bool has_prec;
  size_t width;
  size_t prec;
  length_mod length;
  char conv;  // '\0' if the format ended inside the specification
};

// Reads a decimal field. Values beyond INT_MAX saturate at INT_MAX + 1, which
// is enough to make the output too long (-EOVERFLOW) without overflowing here.
const char *parse_number(const char *p, size_t *val) {
  size_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + static_cast<size_t>(*p - '0');
    if (v > FMT_INT_MAX) v = FMT_INT_MAX + 1;
  }
  *val = v;
  return p;
}

// Parses what follows a '%' up to and including the conversion character.
// Returns the position after it (or at the terminating NUL).
const char *parse_spec(const char *p, spec *s) {
  *s = spec{};
  for (;; p++) {
    if (*p == '-')
      s->flags |= F_LEFT;
    else if (*p == '+')
      s->flags |= F_PLUS;
    else if (*p == ' ')
      s->flags |= F_SPACE;
    else if (*p == '#')
      s->flags |= F_ALT;
    else if (*p == '0')
      s->flags |= F_ZERO;
    else
      break;
  }
  if (*p == '*') {
    s->width_star = true;
    p++;
  } else {
    p = parse_number(p, &s->width);
  }
  if (*p == '.') {
    s->has_prec = true;
    if (*++p == '*') {
      s->prec_star = true;
      p++;
    } else {
      p = parse_number(p, &s->prec);  // "." alone is a precision of 0
    }
  }
  switch (*p) {
    case 'h':
      s->length = length_mod::h;
      if (*++p == 'h') {
        s->length = length_mod::hh;
        p++;
      }
      break;
    case 'l':
      s->length = length_mod::l;
      if (*++p == 'l') {
        s->length = length_mod::ll;
        p++;
      }
      break;
    case 'z':
      s->length = length_mod::z;
      p++;
      break;
    case 't':
      s->length = length_mod::t;
      p++;
      break;
    case 'j':
      s->length = length_mod::j;
      p++;
      break;
    default: break;
  }
  s->conv = *p;
  return *p ? p + 1 : p;
}

bool known_conversion(char c) { return c != '\0' && strchr("diuxXocsp%", c) != nullptr; }

// Fetches a signed argument of the type the length modifier names; returns its
// magnitude (which, unlike the value, always fits u64) and sets *negative.
u64 fetch_signed(va_list *ap, length_mod m, bool *negative) {
  s64 v;
  switch (m) {
    case length_mod::hh: v = static_cast<signed char>(va_arg(*ap, int)); break;
    case length_mod::h: v = static_cast<short>(va_arg(*ap, int)); break;
    case length_mod::l: v = va_arg(*ap, long); break;
    case length_mod::ll: v = va_arg(*ap, long long); break;
    case length_mod::z:
    case length_mod::t: v = va_arg(*ap, ptrdiff_t); break;
    case length_mod::j: v = va_arg(*ap, intmax_t); break;
    default: v = va_arg(*ap, int); break;
  }
  *negative = v < 0;
  return *negative ? 0 - static_cast<u64>(v) : static_cast<u64>(v);
}

u64 fetch_unsigned(va_list *ap, length_mod m) {
  switch (m) {
    case length_mod::hh: return static_cast<unsigned char>(va_arg(*ap, unsigned));
    case length_mod::h: return static_cast<unsigned short>(va_arg(*ap, unsigned));
    case length_mod::l: return va_arg(*ap, unsigned long);
    case length_mod::ll: return va_arg(*ap, unsigned long long);
    case length_mod::z: return va_arg(*ap, size_t);
    case length_mod::t: return static_cast<u64>(va_arg(*ap, ptrdiff_t));
    case length_mod::j: return va_arg(*ap, uintmax_t);
    default: return va_arg(*ap, unsigned);
  }
}

// Lays out [spaces][sign][0x][zeros][digits][spaces] for %d %i %u %o %x %X.
void format_integer(out *o, const spec &s, u64 v, bool negative) {
  unsigned base = 10;
  const char *digits = "0123456789abcdef";
  if (s.conv == 'o') base = 8;
  if (s.conv == 'x') base = 16;
  if (s.conv == 'X') base = 16, digits = "0123456789ABCDEF";

  char tmp[24];  // 22 octal digits hold 64 bits; stored least significant first
  size_t n = 0;
  // An explicit precision of 0 prints no digits at all for 0.
  if (v != 0 || !s.has_prec || s.prec != 0) {
    u64 x = v;
    do {
      tmp[n++] = digits[x % base];
      x /= base;
    } while (x);
  }

  size_t prec = s.has_prec ? s.prec : 1;
  // "%#o" raises the precision just enough that the first digit is a 0.
  if (s.conv == 'o' && (s.flags & F_ALT) && prec <= n && !(n && tmp[n - 1] == '0')) prec = n + 1;

  char sign = 0;
  if (s.conv == 'd' || s.conv == 'i') {
    if (negative)
      sign = '-';
    else if (s.flags & F_PLUS)
      sign = '+';
    else if (s.flags & F_SPACE)
      sign = ' ';
  }
  const char *prefix = "";
  if (base == 16 && (s.flags & F_ALT) && v != 0) prefix = s.conv == 'x' ? "0x" : "0X";
  size_t prefix_len = strlen(prefix);

  size_t zeros = prec > n ? prec - n : 0;
  size_t body = (sign ? 1 : 0) + prefix_len + zeros + n;
  // '0' pads with zeros after the sign and prefix, unless '-' or a precision
  // overrides it.
  if ((s.flags & F_ZERO) && !(s.flags & F_LEFT) && !s.has_prec && s.width > body) {
    zeros += s.width - body;
    body = s.width;
  }
  size_t pad = s.width > body ? s.width - body : 0;

  if (!(s.flags & F_LEFT)) o->repeat(' ', pad);
  if (sign) o->put(sign);
  o->write(prefix, prefix_len);
  o->repeat('0', zeros);
  while (n) o->put(tmp[--n]);
  if (s.flags & F_LEFT) o->repeat(' ', pad);
}

// Text padded with spaces to the width: %c, %s and %p.
void format_text(out *o, const spec &s, const char *text, size_t n) {
  size_t pad = s.width > n ? s.width - n : 0;
  if (!(s.flags & F_LEFT)) o->repeat(' ', pad);
  o->write(text, n);
  if (s.flags & F_LEFT) o->repeat(' ', pad);
}

void format_pointer(out *o, const spec &s, const void *ptr) {
  char hex[2 + 16];
  u64 v = reinterpret_cast<uintptr_t>(ptr);
  hex[0] = '0';
  hex[1] = 'x';
  for (int i = 17; i >= 2; i--, v >>= 4) hex[i] = "0123456789abcdef"[v & 0xf];
  format_text(o, s, hex, sizeof(hex));
}

// The formatter proper: returns the full length of the output, however much of
// it fitted in buf.
size_t format(char *buf, size_t size, const char *fmt, va_list ap) {
  out o{buf, size, 0};
  va_list args;
  va_copy(args, ap);

  const char *p = fmt;
  while (*p) {
    if (*p != '%') {
      const char *run = p;
      while (*p && *p != '%') p++;
      o.write(run, static_cast<size_t>(p - run));
      continue;
    }
    const char *start = p;
    spec s;
    p = parse_spec(p + 1, &s);
    if (!known_conversion(s.conv)) {
      o.write(start, static_cast<size_t>(p - start));
      continue;
    }
    if (s.conv == '%') {
      o.put('%');
      continue;
    }
    if (s.width_star) {
      int w = va_arg(args, int);
      // A negative width is a '-' flag and a positive width.
      if (w < 0) s.flags |= F_LEFT;
      s.width = w < 0 ? 0 - static_cast<size_t>(static_cast<long>(w)) : static_cast<size_t>(w);
    }
    if (s.prec_star) {
      int pr = va_arg(args, int);
      // A negative precision is taken as if it were omitted.
      s.has_prec = pr >= 0;
      s.prec = pr >= 0 ? static_cast<size_t>(pr) : 0;
    }

    switch (s.conv) {
      case 'd':
      case 'i': {
        bool negative;
        u64 mag = fetch_signed(&args, s.length, &negative);
        format_integer(&o, s, mag, negative);
        break;
      }
      case 'u':
      case 'o':
      case 'x':
      case 'X': format_integer(&o, s, fetch_unsigned(&args, s.length), false); break;
      case 'c': {
        char c = static_cast<char>(static_cast<unsigned char>(va_arg(args, int)));
        format_text(&o, s, &c, 1);
        break;
      }
      case 's': {
        const char *str = va_arg(args, const char *);
        if (!str) str = s.has_prec && s.prec < 6 ? "" : "(null)";
        format_text(&o, s, str, s.has_prec ? strnlen(str, s.prec) : strlen(str));
        break;
      }
      case 'p': format_pointer(&o, s, va_arg(args, const void *)); break;
    }
  }

  va_end(args);
  o.terminate();
  return o.len;
}

}  // namespace

// Needs fmt; buf may be NULL only with size 0 (a NULL buf is taken as size 0).
// Returns -EINVAL for a NULL fmt, -EOVERFLOW if the output would exceed
// INT_MAX; buf is terminated in every case where size > 0.
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  if (!buf) size = 0;
  if (!fmt) {
    if (size) buf[0] = '\0';
    return -EINVAL;
  }
  size_t n = format(buf, size, fmt, ap);
  return n > FMT_INT_MAX ? -EOVERFLOW : static_cast<int>(n);
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = kvsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

// Never fails: bad arguments (see kvsnprintf) just write nothing and return 0.
int vscnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  if (!buf || !fmt || size == 0) {
    if (buf && size) buf[0] = '\0';
    return 0;
  }
  size_t n = format(buf, size, fmt, ap);
  return static_cast<int>(n < size ? n : size - 1);
}

int scnprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vscnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

/* ----------------------------------------------------------------------------
 * The log and the consoles
 * ------------------------------------------------------------------------- */

namespace {

constexpr size_t LOG_BUF_LEN = 64 * 1024;
constexpr size_t LOG_LINE_MAX = 1024;  // one message, terminator included
constexpr size_t LOG_NESTED_LINE_MAX = 128;
constexpr size_t LOG_REC_HDR = 3;

static_assert(LOG_LINE_MAX - 1 <= 0xffff, "a record's length field is 16 bits");
static_assert(LOG_REC_HDR + LOG_LINE_MAX <= LOG_BUF_LEN, "the ring holds at least one record");

// All of printk's state, guarded by printk_guard's lock.
struct printk_state {
  char ring[LOG_BUF_LEN];
  u64 first;        // position of the oldest record
  u64 next;         // position where the next record goes
  size_t text_len;  // text bytes in the records [first, next)
  bool line_open;   // the last message did not end in '\n'
  int line_level;   // and this was its level,
  u64 line_end;     // and this the position just after its record
  // printk and replay calls in progress. A nested printk (from a console's
  // write, or an interrupt that came during printk) formats on the stack and
  // is only logged: the line buffer is in use, and printing could recurse
  // forever.
  unsigned depth;
  struct console *consoles;
  char line[LOG_LINE_MAX];
};

printk_state prs;

// One CPU at a time logs and writes the consoles, with its interrupts
// masked. The CPU holding the lock may come back in (a console's write that
// printks, a trap during printk): that entry is nested, takes nothing, and
// only logs. On the host, where tests run CPUs as threads and several may
// share a number, the holder is the thread.
spinlock_t printk_lock;
uintptr_t printk_owner;  // 0: free

uintptr_t printk_caller() {
#if MM_HOST
  static thread_local char me;
  return reinterpret_cast<uintptr_t>(&me);
#else
  return smp_processor_id() + 1;
#endif
}

// After this many failed attempts during an oops, printk takes the log over
// from a CPU that may never let go (it may be the one that crashed).
constexpr unsigned long OOPS_LOCK_SPINS = 1ul << 24;

class printk_guard {
 public:
  printk_guard() : nested_(__atomic_load_n(&printk_owner, __ATOMIC_RELAXED) == printk_caller()) {
    if (nested_) return;
    flags_ = local_irq_save();
    for (unsigned long spins = 0; !spin_trylock(&printk_lock); spins++) {
      if (oops_in_progress && spins > OOPS_LOCK_SPINS) {
        busted_ = true;
        break;
      }
      cpu_relax();
    }
    __atomic_store_n(&printk_owner, printk_caller(), __ATOMIC_RELAXED);
  }
  ~printk_guard() {
    if (nested_) return;
    __atomic_store_n(&printk_owner, uintptr_t(0), __ATOMIC_RELAXED);
    if (!busted_) spin_unlock(&printk_lock);
    local_irq_restore(flags_);
  }
  printk_guard(const printk_guard &) = delete;
  printk_guard &operator=(const printk_guard &) = delete;

 private:
  bool nested_;
  bool busted_ = false;
  unsigned long flags_ = 0;
};

void ring_put(u64 pos, const char *src, size_t n) {
  size_t off = pos % LOG_BUF_LEN;
  size_t k = n < LOG_BUF_LEN - off ? n : LOG_BUF_LEN - off;
  memcpy(prs.ring + off, src, k);
  memcpy(prs.ring, src + k, n - k);
}

void ring_get(u64 pos, char *dst, size_t n) {
  size_t off = pos % LOG_BUF_LEN;
  size_t k = n < LOG_BUF_LEN - off ? n : LOG_BUF_LEN - off;
  memcpy(dst, prs.ring + off, k);
  memcpy(dst + k, prs.ring, n - k);
}

int rec_level(u64 pos) { return static_cast<u8>(prs.ring[pos % LOG_BUF_LEN]); }

size_t rec_len(u64 pos) {
  u8 lo = static_cast<u8>(prs.ring[(pos + 1) % LOG_BUF_LEN]);
  u8 hi = static_cast<u8>(prs.ring[(pos + 2) % LOG_BUF_LEN]);
  return static_cast<size_t>(lo | hi << 8);
}

// Appends one record, pushing out the oldest ones until it fits.
// Needs 0 < len < LOG_LINE_MAX.
void log_store(int level, const char *text, size_t len) {
  size_t need = LOG_REC_HDR + len;
  while (prs.next + need - prs.first > LOG_BUF_LEN) {
    size_t old = rec_len(prs.first);
    prs.text_len -= old;
    prs.first += LOG_REC_HDR + old;
  }
  char hdr[LOG_REC_HDR] = {static_cast<char>(level), static_cast<char>(len & 0xff),
                           static_cast<char>(len >> 8)};
  ring_put(prs.next, hdr, LOG_REC_HDR);
  ring_put(prs.next + LOG_REC_HDR, text, len);
  prs.next += need;
  prs.text_len += len;
}

void console_emit(int level, const char *text, size_t len) {
  if (level >= console_loglevel) return;
  // Reading next first lets a console unregister itself from its write.
  for (struct console *con = prs.consoles, *next; con; con = next) {
    next = con->next;
    con->write(con, text, len);
  }
}

// Strips the KERN_SOH prefixes off a formatted message, as Linux does after
// formatting (so that a level may also come from a %s argument). Returns the
// first digit level found (or -1) and sets *cont for KERN_CONT.
int parse_prefix(const char **text, size_t *len, bool *cont) {
  int level = -1;
  while (*len >= 2 && (*text)[0] == KERN_SOH[0]) {
    char c = (*text)[1];
    if (c >= '0' && c <= '7') {
      if (level < 0) level = c - '0';
    } else if (c == 'c') {
      *cont = true;
    } else {
      break;
    }
    *text += 2;
    *len -= 2;
  }
  return level;
}

}  // namespace

// Returns the number of characters of the message (without its level prefix)
// that went into the log: longer text is cut at LOG_LINE_MAX - 1 characters,
// or at LOG_NESTED_LINE_MAX - 1 for a nested call.
int vprintk(const char *fmt, va_list ap) {
  printk_guard guard;
  char nested_line[LOG_NESTED_LINE_MAX];
  bool nested = prs.depth > 0;
  char *line = nested ? nested_line : prs.line;
  size_t line_size = nested ? sizeof(nested_line) : sizeof(prs.line);

  prs.depth++;
  size_t len = static_cast<size_t>(vscnprintf(line, line_size, fmt, ap));
  const char *text = line;
  bool cont = false;
  int level = parse_prefix(&text, &len, &cont);

  if (len) {
    int end_level = -1;  // level of an open line this message ends, if any
    if (cont && prs.line_open) {
      level = prs.line_level;
    } else {
      if (level < 0) level = LOGLEVEL_DEFAULT;
      if (prs.line_open) {
        end_level = prs.line_level;
        if (prs.first < prs.line_end) log_store(end_level, "\n", 1);
      }
    }
    log_store(level, text, len);
    prs.line_open = text[len - 1] != '\n';
    prs.line_level = level;
    prs.line_end = prs.next;
    if (!nested) {
      if (end_level >= 0) console_emit(end_level, "\n", 1);
      console_emit(level, text, len);
    }
  }
  prs.depth--;
  return static_cast<int>(len);
}

int printk(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vprintk(fmt, ap);
  va_end(ap);
  return n;
}

// Needs a console with a write method; anything else, or a console already
// registered, is ignored. With CON_PRINTBUFFER, the replay sends what the
// console would have been sent had it been there from the start (by the
// current console_loglevel).
void register_console(struct console *con) {
  if (!con || !con->write) return;
  printk_guard guard;
  struct console **link = &prs.consoles;
  for (; *link; link = &(*link)->next)
    if (*link == con) return;
  con->next = nullptr;
  *link = con;
  if (!(con->flags & CON_PRINTBUFFER)) return;

  // Text is copied out in small chunks on the stack (the line buffer may be
  // in use if a console registers another from its write), and positions are
  // checked after every write: a console that printks while being replayed to
  // may push old records out, and must neither see torn text nor derail us.
  char chunk[LOG_NESTED_LINE_MAX];
  prs.depth++;
  for (u64 pos = prs.first; pos < prs.next;) {
    int level = rec_level(pos);
    size_t len = rec_len(pos);
    for (size_t done = 0; level < console_loglevel && done < len && pos >= prs.first;) {
      size_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
      ring_get(pos + LOG_REC_HDR + done, chunk, n);
      con->write(con, chunk, n);
      done += n;
    }
    pos = pos < prs.first ? prs.first : pos + LOG_REC_HDR + len;
  }
  prs.depth--;
}

// A console that is not registered is ignored.
void unregister_console(struct console *con) {
  printk_guard guard;
  for (struct console **link = &prs.consoles; *link; link = &(*link)->next) {
    if (*link == con) {
      *link = con->next;
      con->next = nullptr;
      return;
    }
  }
}

// Copies the newest min(size, held) bytes of log text, oldest first, without
// a terminator; dst may be NULL when size is 0.
size_t log_buf_copy(char *dst, size_t size) {
  if (!dst) return 0;
  printk_guard guard;
  size_t skip = prs.text_len > size ? prs.text_len - size : 0;
  size_t copied = 0;
  for (u64 pos = prs.first; pos < prs.next;) {
    size_t len = rec_len(pos);
    if (skip >= len) {
      skip -= len;
    } else {
      ring_get(pos + LOG_REC_HDR + skip, dst + copied, len - skip);
      copied += len - skip;
      skip = 0;
    }
    pos += LOG_REC_HDR + len;
  }
  return copied;
}

// Forgets the text. A line left open stays open: consoles still get the '\n'
// that ends it, the log does not.
void log_buf_clear() {
  printk_guard guard;
  prs.first = prs.next;
  prs.text_len = 0;
}
