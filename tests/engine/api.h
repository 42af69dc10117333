/*
 * tests/engine/api.h — what the engine tests need besides the allocation family:
 * the introspection functions, from the static library when linked with it, or looked up
 * in the preloaded shared library (TEST_PLAIN_NAMES), which must be there.
 */
#ifndef SPANLAB_TEST_API_H
#define SPANLAB_TEST_API_H

#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>

#include "../check.h"
#include "spanlab.h"

typedef struct test_api {
	const char *(*variant)(void);
	size_t (*size_classes)(size_t *, size_t);
	void (*stats_get)(spanlab_stats *);
	int (*trim)(size_t);
} test_api;

static inline test_api test_api_get(void)
{
	test_api a;
#ifdef TEST_PLAIN_NAMES
	*(void **)&a.variant = dlsym(RTLD_DEFAULT, "spanlab_variant");
	*(void **)&a.size_classes = dlsym(RTLD_DEFAULT, "spanlab_size_classes");
	*(void **)&a.stats_get = dlsym(RTLD_DEFAULT, "spanlab_stats_get");
	*(void **)&a.trim = dlsym(RTLD_DEFAULT, "spanlab_trim");
	CHECK_MSG(a.variant && a.size_classes && a.stats_get && a.trim,
		  "spanlab is not preloaded (run with LD_PRELOAD=libspanlab-<variant>.so)");
#else
	a.variant = spanlab_variant;
	a.size_classes = spanlab_size_classes;
	a.stats_get = spanlab_stats_get;
	a.trim = spanlab_trim;
#endif
	return a;
}

#endif
