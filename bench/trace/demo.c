/*
 * sl-trace-demo - a small program with a known allocation pattern for the trace
 * tests: two threads, each allocating with every function of the family, and
 * objects handed from one thread to the other to be freed there.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 2000

static void *handoff[N];

static void *worker(void *arg)
{
	int id = (int)(size_t)arg;
	void *keep[64];
	for (int i = 0; i < N; i++) {
		size_t size = 16 + (size_t)(i * 37 + id * 11) % 2000;
		void *p;
		switch (i % 7) {
		case 0: p = malloc(size); break;
		case 1: p = calloc(2, size / 2); break;
		case 2: p = realloc(malloc(size / 2 + 1), size); break;
		case 3: if (posix_memalign(&p, 64, size)) p = NULL; break;
		case 4: p = aligned_alloc(128, 128 * (size / 128 + 1)); break;
		case 5: p = memalign(32, size); break;
		default: p = valloc(size); break;
		}
		if (!p)
			return (void *)1;
		memset(p, id, 8);
		if (id == 0)
			handoff[i] = p;	/* freed by another thread, see main */
		else if (i % 64 == 63)
			for (int k = 0; k < 64; k++)
				free(keep[k]);
		if (id == 1)
			keep[i % 64] = p;
	}
	return NULL;
}

static void *freer(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++)
		free(handoff[i]);
	return NULL;
}

int main(void)
{
	pthread_t t[3];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* Thread 0's objects are freed by a third thread. */
	pthread_create(&t[2], NULL, freer, NULL);
	pthread_join(t[2], NULL);
	return 0;
}
