#include "kernel/line_edit.h"

void line_edit_reset(line_editor &ed) {
  ed.len = 0;
  ed.buf[0] = '\0';
  ed.esc_state = 0;
}

static void erase_one(line_editor &ed, echo_fn echo) {
  if (ed.len == 0) return;
  ed.buf[--ed.len] = '\0';
  echo("\b \b", 3);
}

line_event line_edit_feed(line_editor &ed, int c, echo_fn echo) {
  bool after_cr = ed.last_was_cr;
  ed.last_was_cr = c == '\r';
  // Escape sequences (arrow keys send ESC [ A) are swallowed whole. A byte
  // that cannot continue one ends it and is then taken as typed, so that
  // ESC followed by Enter still ends the line.
  if (ed.esc_state == 1) {
    if (c == '[') {
      ed.esc_state = 2;
      return line_event::none;
    }
    ed.esc_state = 0;
  } else if (ed.esc_state == 2) {
    if (c >= 0x20 && c <= 0x7e) {  // parameters and intermediates, then a final byte
      if (c >= 0x40) ed.esc_state = 0;
      return line_event::none;
    }
    ed.esc_state = 0;
  }
  switch (c) {
    case '\n':
      if (after_cr) return line_event::none;  // the LF of a CR LF pair
      [[fallthrough]];
    case '\r':
      echo("\n", 1);
      return line_event::done;
    case '\b':
    case 0x7f:
      erase_one(ed, echo);
      return line_event::none;
    case 0x15:  // Ctrl-U
      while (ed.len) erase_one(ed, echo);
      return line_event::none;
    case 0x03:  // Ctrl-C
      echo("^C\n", 3);
      line_edit_reset(ed);
      return line_event::cancelled;
    case 0x1b:
      ed.esc_state = 1;
      return line_event::none;
    default:
      break;
  }
  if (c < 0x20 || c > 0x7e) return line_event::none;  // other controls are ignored
  if (ed.len + 1 >= MONITOR_LINE_MAX) {
    echo("\a", 1);  // full: ring the bell rather than lose the line
    return line_event::none;
  }
  char ch = char(c);
  ed.buf[ed.len++] = ch;
  ed.buf[ed.len] = '\0';
  echo(&ch, 1);
  return line_event::none;
}

int split_words(char *line, char **argv, int max) {
  int argc = 0;
  char *p = line;
  while (*p) {
    while (*p == ' ' || *p == '\t') *p++ = '\0';
    if (!*p) break;
    if (argc == max) break;
    argv[argc++] = p;
    while (*p && *p != ' ' && *p != '\t') p++;
  }
  return argc;
}
