// Error numbers, with Linux's values. Functions return 0 or -Exxx.
#pragma once

#if MM_HOST
// The host's libc defines these as macros, with the same (Linux) values.
#include <errno.h>
#else
constexpr int ENOENT = 2;
constexpr int ENXIO = 6;
constexpr int E2BIG = 7;
constexpr int EAGAIN = 11;
constexpr int ENOMEM = 12;
constexpr int EFAULT = 14;
constexpr int EBUSY = 16;
constexpr int EEXIST = 17;
constexpr int EINVAL = 22;
constexpr int ENOSPC = 28;
constexpr int ERANGE = 34;
constexpr int EOVERFLOW = 75;
constexpr int ETIMEDOUT = 110;
#endif
