// The little C++ runtime a freestanding kernel needs: global constructors,
// placement new, and the hooks the compiler may reference.
#include "kernel/cxxrt.h"

#include "kernel/panic.h"

extern "C" {
using ctor_fn = void (*)();
extern ctor_fn __init_array_start[];
extern ctor_fn __init_array_end[];
void *__dso_handle = nullptr;

[[noreturn]] void __cxa_pure_virtual() { panic("pure virtual function called"); }
}

void run_global_constructors() {
  for (ctor_fn *fn = __init_array_start; fn < __init_array_end; fn++) (*fn)();
}

// Nothing in the kernel allocates through new/delete; a call would be a bug.
void operator delete(void *, size_t) noexcept { panic("operator delete called"); }
void operator delete(void *) noexcept { panic("operator delete called"); }
