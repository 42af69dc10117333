/*
 * base/compiler.h — compiler helpers every layer uses (GCC and Clang attributes and
 * builtins). See base/README.md.
 */
#ifndef SPANLAB_BASE_COMPILER_H
#define SPANLAB_BASE_COMPILER_H

#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SL_NOINLINE __attribute__((noinline))
#define SL_COLD __attribute__((cold))
#define SL_INLINE static inline __attribute__((always_inline))
#define SL_CACHELINE 64
#define SL_ALIGNED_CL __attribute__((aligned(SL_CACHELINE)))
/* printf-style arguments: the compiler checks them against the format (argument fmt_arg,
 * the values from args_from on). */
#define SL_PRINTF(fmt_arg, args_from) __attribute__((format(printf, fmt_arg, args_from)))

#endif
