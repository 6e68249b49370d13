// Intrusive doubly linked circular lists, as Linux's list_head: an empty list
// is a head that points to itself; entries are embedded in their objects and
// recovered with list_entry (container_of).
#pragma once

#include "kernel/types.h"

struct list_head {
  list_head *next, *prev;
};

// As in Linux, every store to a `next` that a list head may own is a
// WRITE_ONCE, and list_empty a READ_ONCE: list_empty may look at a list that
// another CPU changes under its lock (the watermark check reads the buddy
// lists without the zone lock), and must see either state, never a torn one.
inline void INIT_LIST_HEAD(list_head *h) {
  WRITE_ONCE(h->next, h);
  h->prev = h;
}
inline bool list_empty(const list_head *h) { return READ_ONCE(h->next) == h; }

inline void __list_add(list_head *n, list_head *prev, list_head *next) {
  next->prev = n;
  n->next = next;
  n->prev = prev;
  WRITE_ONCE(prev->next, n);
}
inline void __list_del(list_head *prev, list_head *next) {
  next->prev = prev;
  WRITE_ONCE(prev->next, next);
}
// Adds n right after head (a stack push).
inline void list_add(list_head *n, list_head *head) { __list_add(n, head, head->next); }
// Adds n right before head (a queue append).
inline void list_add_tail(list_head *n, list_head *head) { __list_add(n, head->prev, head); }

// Unlinks e and poisons its pointers, so that a second deletion faults
// instead of corrupting a list.
inline void list_del(list_head *e) {
  __list_del(e->prev, e->next);
  e->next = reinterpret_cast<list_head *>(0xdead000000000100ul);
  e->prev = reinterpret_cast<list_head *>(0xdead000000000122ul);
}
inline void list_del_init(list_head *e) {
  __list_del(e->prev, e->next);
  INIT_LIST_HEAD(e);
}
inline void list_move(list_head *e, list_head *head) {
  __list_del(e->prev, e->next);
  list_add(e, head);
}
inline void list_move_tail(list_head *e, list_head *head) {
  __list_del(e->prev, e->next);
  list_add_tail(e, head);
}

#define container_of(ptr, type, member) \
  reinterpret_cast<type *>(reinterpret_cast<char *>(ptr) - __builtin_offsetof(type, member))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)
#define list_last_entry(head, type, member) list_entry((head)->prev, type, member)

#define list_for_each(pos, head) for (list_head *pos = (head)->next; pos != (head); pos = pos->next)
// Safe against deletion of pos while iterating.
#define list_for_each_safe(pos, n, head) \
  for (list_head *pos = (head)->next, *n = pos->next; pos != (head); pos = n, n = pos->next)
