// The monitor's line editor, kept free of I/O so the host can test it: feed
// it one input character at a time; it echoes through a callback and says
// when a line is complete. Printable ASCII is inserted, backspace/DEL erase
// one character, Ctrl-U erases the line, Ctrl-C abandons it, CR or LF (or
// CR LF as one) ends it, and escape sequences (arrow keys) are swallowed.
#pragma once

#include "kernel/types.h"

constexpr size_t MONITOR_LINE_MAX = 256;

struct line_editor {
  char buf[MONITOR_LINE_MAX];  // always NUL-terminated
  size_t len;
  bool last_was_cr;
  u8 esc_state;  // 0: none, 1: after ESC, 2: inside "ESC ["
};

enum class line_event { none, done, cancelled };

using echo_fn = void (*)(const char *s, size_t n);

void line_edit_reset(line_editor &ed);
// Returns done when ed.buf holds a finished line (reset before the next one).
line_event line_edit_feed(line_editor &ed, int c, echo_fn echo);

// Splits line in place at spaces into at most max words. Returns the count.
int split_words(char *line, char **argv, int max);
