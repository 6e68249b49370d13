// The host simulates the RISC-V Sv39 MMU, so it shares the real encoding and layout.
#pragma once
#include "arch/riscv/include/asm/memlayout.h"
