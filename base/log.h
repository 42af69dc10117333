/*
 * base/log.h — the engine's reporting, declared for every layer: numa/ and policies/
 * report through these without including the engine. Defined in core/malloc.c.
 */
#ifndef SPANLAB_BASE_LOG_H
#define SPANLAB_BASE_LOG_H

#include "compiler.h"

/* Writes "spanlab (<variant>): <message>" to stderr with one write(2) (no stdio, no
 * allocation: safe inside the allocator) and aborts. */
_Noreturn void sl_fatal(const char *fmt, ...) SL_PRINTF(1, 2) SL_COLD;
/* The same message without the abort, only when SPANLAB_VERBOSE is set. */
void sl_verbose(const char *fmt, ...) SL_PRINTF(1, 2);

/* Internal invariants (the ones field comments state: list lengths, span counts, state
 * transitions), checked in debug builds (cmake -DSPANLAB_DEBUG=ON) and compiled out
 * otherwise; a failure aborts naming the condition and where. */
#if defined(SPANLAB_DEBUG) && SPANLAB_DEBUG
#define SL_ASSERT(cond)                                                                       \
	(SL_LIKELY(cond) ? (void)0 : sl_fatal("internal error: %s (%s:%d)", #cond, __FILE__, __LINE__))
#define SL_DEBUG 1
#else
#define SL_ASSERT(cond) ((void)0)
#define SL_DEBUG 0
#endif

#endif
