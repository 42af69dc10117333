/*
 * dlopen LIB VARIANT: loads a variant's shared library late with dlopen(RTLD_NOW |
 * RTLD_LOCAL), as a plug-in would, and allocates through the prefixed API found with
 * dlsym. The library keeps its thread-cache pointer in initial-exec TLS (fast under
 * LD_PRELOAD); loading it late needs static TLS from the C library's surplus, and this
 * test shows it still loads (see core/mcache.c for the trade-off). RTLD_LOCAL keeps
 * its malloc from replacing the program's: both allocators live side by side.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"

static void *(*sl_malloc)(size_t);
static void (*sl_free)(void *);
static size_t (*sl_usable)(void *);

static void *thread_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10000; i++) {
		char *p = sl_malloc((size_t)(i % 3000) + 1);
		CHECK(p != NULL);
		memset(p, 7, (size_t)(i % 3000) + 1);
		CHECK_CMP(sl_usable(p), >=, (size_t)(i % 3000) + 1);
		sl_free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	CHECK_MSG(argc == 3, "usage: dlopen LIB VARIANT");
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	CHECK_MSG(h != NULL, "dlopen(%s): %s", argv[1], dlerror());
	const char *(*variant)(void);
	*(void **)&variant = dlsym(h, "spanlab_variant");
	*(void **)&sl_malloc = dlsym(h, "spanlab_malloc");
	*(void **)&sl_free = dlsym(h, "spanlab_free");
	*(void **)&sl_usable = dlsym(h, "spanlab_malloc_usable_size");
	CHECK(variant && sl_malloc && sl_free && sl_usable);
	CHECK_MSG(strcmp(variant(), argv[2]) == 0, "variant %s, expected %s", variant(), argv[2]);
	/* The program's own malloc is still glibc's: spanlab does not know its pointers. */
	void *g = malloc(100);
	void *s = sl_malloc(100);
	CHECK(g && s && g != s);
	free(g);
	sl_free(s);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, thread_main, NULL) == 0);
	thread_main(NULL);
	for (int i = 0; i < 4; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	printf("dlopen (%s): loaded late with RTLD_LOCAL, allocations served\n", variant());
	return 0;
}
