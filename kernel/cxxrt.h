// The C++ runtime support of the freestanding kernel (kernel/cxxrt.cpp).
#pragma once

#include "kernel/types.h"

// Placement new: <new> is not available without the C++ library.
inline void *operator new(size_t, void *p) noexcept { return p; }

// Runs the constructors of global objects, once, early in boot.
void run_global_constructors();
