/*
 * tests/check.h — the check macros of every C test. No framework: a failed check prints
 * file:line, the expression and the values involved to stderr. CHECK* exit with status
 * 1 at once; EXPECT goes on, so that one run reports every broken case, and the test
 * ends with `return check_report(name);`.
 */
#ifndef SPANLAB_TEST_CHECK_H
#define SPANLAB_TEST_CHECK_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define CHECK_MSG(cond, ...)                                                               \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

/* Compares two unsigned integers with op (==, <=, ...) and prints both on failure. */
#define CHECK_CMP(a, op, b)                                                                 \
	do {                                                                                \
		uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                \
		if (!(check_a_ op check_b_)) {                                              \
			fprintf(stderr, "%s:%d: CHECK(%s %s %s) failed: %" PRIu64 " vs %" PRIu64 \
					" (0x%" PRIx64 " vs 0x%" PRIx64 ")\n",                      \
				__FILE__, __LINE__, #a, #op, #b, check_a_, check_b_, check_a_, check_b_); \
			exit(1);                                                            \
		}                                                                           \
	} while (0)
#define CHECK_EQ(a, b) CHECK_CMP(a, ==, b)

#define CHECK_PTR_EQ(a, b)                                                                  \
	do {                                                                                \
		const void *check_a_ = (a), *check_b_ = (b);                                \
		if (check_a_ != check_b_) {                                                 \
			fprintf(stderr, "%s:%d: CHECK(%s == %s) failed: %p vs %p\n", __FILE__,   \
				__LINE__, #a, #b, check_a_, check_b_);                              \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

/* Fails the test at once: file:line and the message, exit status 1. */
#define FAIL_NOW(...)                                                                       \
	do {                                                                                \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                             \
		fprintf(stderr, __VA_ARGS__);                                               \
		fputc('\n', stderr);                                                        \
		exit(1);                                                                    \
	} while (0)

/* Failures counted from any thread (stress tests): FAIL_MT prints the message (the
 * first CHECK_MAX_REPORTS of them), counts it and goes on; workers stop early when
 * check_failed_mt() is true; the test returns check_failed_mt() != 0. */
static _Atomic int check_failures_mt __attribute__((unused));
#define FAIL_MT(...)                                                                        \
	do {                                                                                \
		if (atomic_fetch_add(&check_failures_mt, 1) < CHECK_MAX_REPORTS) {          \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
		}                                                                           \
	} while (0)
static inline int check_failed_mt(void) { return atomic_load(&check_failures_mt); }

/* Failed EXPECTs so far; the first CHECK_MAX_REPORTS are printed. */
static int check_failures __attribute__((unused));
#define CHECK_MAX_REPORTS 20

/* Non-fatal CHECK_MSG: prints the failure, counts it and goes on. */
#define EXPECT(cond, ...)                                                                   \
	do {                                                                                \
		if (!(cond) && ++check_failures <= CHECK_MAX_REPORTS) {                     \
			fprintf(stderr, "%s:%d: EXPECT(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
		}                                                                           \
	} while (0)

/* The exit status of a test that uses EXPECT: 0, or 1 after a summary line. */
static inline int check_report(const char *name)
{
	if (check_failures) {
		fprintf(stderr, "%s: %d failed check(s)\n", name, check_failures);
		return 1;
	}
	return 0;
}

/* A small, fast, deterministic PRNG (xorshift64*) for workloads. */
static inline uint64_t test_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/*
 * The allocation API under test, A(malloc) etc.: the prefixed spanlab_ names when
 * linked against a variant's static library, the standard names when the test is
 * built with TEST_PLAIN_NAMES to run under LD_PRELOAD.
 */
#ifdef TEST_PLAIN_NAMES
#define A(fn) fn
#else
#define A(fn) spanlab_##fn
#endif

#endif
