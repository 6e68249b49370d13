/* The empty symbol table of the kernel's first link (see kernel/kallsyms.h). */
  .section .rodata.kallsyms, "a"
  .balign 8
  .globl kallsyms_num_syms, kallsyms_addresses, kallsyms_sizes, kallsyms_name_offsets, kallsyms_names
kallsyms_num_syms:
  .quad 0
kallsyms_addresses:
kallsyms_sizes:
kallsyms_name_offsets:
kallsyms_names:
  .byte 0
