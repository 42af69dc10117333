/*
 * spanlab.h — the public API of a spanlab variant library.
 *
 * A variant library (libspanlab-<variant>.so / .a, or the installed libspanlab) provides
 * the prefixed allocation family below. The shared library also defines the standard
 * names (malloc, free, ...) so it can be used with LD_PRELOAD; the static library
 * defines only the prefixed names, so it can live next to the system allocator.
 *
 * All functions are thread-safe. Pointers from any spanlab_ allocation function are
 * accepted by every other one (and, in the shared library, by free/realloc/...).
 */
#ifndef SPANLAB_H
#define SPANLAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SPANLAB_API __attribute__((visibility("default")))
#else
#define SPANLAB_API
#endif

#define SPANLAB_VERSION_MAJOR 0
#define SPANLAB_VERSION_MINOR 1

/* ---- The allocation family (glibc semantics and errno values) ---- */
SPANLAB_API void *spanlab_malloc(size_t size);
SPANLAB_API void spanlab_free(void *ptr);
SPANLAB_API void *spanlab_calloc(size_t nmemb, size_t size);
SPANLAB_API void *spanlab_realloc(void *ptr, size_t size);
SPANLAB_API void *spanlab_reallocarray(void *ptr, size_t nmemb, size_t size);
SPANLAB_API int spanlab_posix_memalign(void **out, size_t alignment, size_t size);
SPANLAB_API void *spanlab_aligned_alloc(size_t alignment, size_t size);
SPANLAB_API void *spanlab_memalign(size_t alignment, size_t size);
SPANLAB_API void *spanlab_valloc(size_t size);
SPANLAB_API void *spanlab_pvalloc(size_t size);
SPANLAB_API size_t spanlab_malloc_usable_size(void *ptr);
/* Flushes the calling thread's cache and the central lists, and returns every idle
 * page to the OS. Returns 1 if any memory was released, 0 otherwise (like malloc_trim). */
SPANLAB_API int spanlab_trim(size_t pad);

/* ---- Introspection ---- */

/* The variant's name, e.g. "go-mutex-flat". */
SPANLAB_API const char *spanlab_variant(void);

/* Fills sizes[0..min(cap, n)) with the object sizes of the size classes in increasing
 * order (class 0 excluded) and returns n, the number of classes. */
SPANLAB_API size_t spanlab_size_classes(size_t *sizes, size_t cap);

#define SPANLAB_MAX_CLASSES 256

typedef struct spanlab_class_stats {
	uint64_t size;	    /* object size of the class */
	uint64_t mallocs;   /* objects handed to the program */
	uint64_t frees;	    /* objects given back by the program */
	uint64_t spans;	    /* spans of the class currently in use */
	uint64_t span_pages; /* pages per span */
} spanlab_class_stats;

#define SPANLAB_MAX_NODES 64

/* One mheap's figures. NUMA policy `node` runs one mheap per NUMA node (index = hwloc's
 * logical node index); `flat` runs one. Sums over the nodes give the heap_* and large_*
 * figures of spanlab_stats. */
typedef struct spanlab_node_stats {
	uint64_t heap_sys;	/* bytes of heap memory made usable for this node */
	uint64_t heap_inuse;	/* bytes in its in-use spans (small and large) */
	uint64_t heap_idle;	/* bytes in its free spans (including released) */
	uint64_t heap_released; /* bytes of its free spans returned to the OS */
	uint64_t spans;		/* its small-object spans in use */
	uint64_t large_mallocs; /* cumulative large allocations from this node */
	uint64_t large_frees;
	uint64_t large_alloc;	/* bytes in its large objects the program holds */
	uint64_t remote_frees;	/* cumulative small objects freed to it by threads of other nodes */
} spanlab_node_stats;

/* Go-MemStats-like figures. Byte counts are exact at a quiescent point; while other
 * threads run they are a consistent-enough snapshot (per-thread counters are summed). */
typedef struct spanlab_stats {
	uint64_t sys;		/* bytes of address space made usable (heap + metadata) */
	uint64_t heap_sys;	/* bytes of heap memory made usable */
	uint64_t heap_alloc;	/* bytes in objects the program holds (small: class size) */
	uint64_t heap_inuse;	/* bytes in in-use spans (small and large) */
	uint64_t heap_idle;	/* bytes in free spans (including released) */
	uint64_t heap_released; /* bytes of free spans returned to the OS */
	uint64_t heap_objects;	/* objects the program holds */
	uint64_t mallocs;	/* cumulative count of allocations */
	uint64_t frees;		/* cumulative count of frees */
	uint64_t large_mallocs; /* of which large (page-run) allocations */
	uint64_t large_frees;
	uint64_t large_alloc;	/* bytes in large objects the program holds */
	uint64_t cached_bytes;	/* small objects idle in thread caches and central lists */
	uint64_t metadata_sys;	/* bytes mapped for spans, caches, page map, arenas */
	uint64_t scavenged;	/* cumulative bytes returned to the OS */
	uint64_t scavenge_runs; /* cumulative madvise calls of the scavenger */
	uint64_t threads;	/* live thread caches */
	uint64_t nclasses;	/* entries used in classes[] */
	spanlab_class_stats classes[SPANLAB_MAX_CLASSES]; /* index = size class; [0] unused */
	uint64_t nodes;		/* entries used in node[]: the mheaps (NUMA nodes) in use */
	spanlab_node_stats node[SPANLAB_MAX_NODES];
	/* Front ends `bitmap` and `tiny` (zero under `freelist`). */
	uint64_t bitmap_refills; /* cumulative loads of a span's bitmap word into a cache */
	uint64_t remote_merged;	 /* cumulative objects freed by a thread not owning their span,
				  * merged back into the span's bitmap */
	/* `tiny` only. Everywhere else a tiny object counts as one object of the 16-byte
	 * class (classes[], mallocs, frees, heap_objects, heap_alloc), its block not at all. */
	uint64_t tiny_allocs;	/* cumulative tiny allocations (requests under 16 bytes) */
	uint64_t tiny_objects;	/* tiny objects the program holds */
	uint64_t tiny_blocks;	/* 16-byte blocks holding them (and each cache's current one) */
	uint64_t tiny_saved;	/* cumulative bytes saved: what the tiny allocations would have
				 * taken in their own size classes, minus 16 per block used */
	/* Address space (every mheap). */
	uint64_t heap_reserved; /* bytes of address space reserved for the heap (used or not) */
	uint64_t unmapped;	/* cumulative bytes of heap address space given back (munmap) */
} spanlab_stats;

/* Fills *out. Safe to call from any thread at any time. */
SPANLAB_API void spanlab_stats_get(spanlab_stats *out);

/* Prints the stats as text (json == 0) or as one JSON object (json != 0). */
SPANLAB_API void spanlab_stats_print(FILE *out, int json);

#ifdef __cplusplus
}
#endif

#endif
