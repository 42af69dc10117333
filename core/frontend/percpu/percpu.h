/*
 * core/frontend/percpu/percpu.h — front end `percpu` (TCMalloc's current front end): per
 * CPU and size class, a bounded array of free objects, pushed and popped by restartable
 * sequences (Linux rseq) without a lock or an atomic read-modify-write. Refill and
 * flush move up to a batch through the transfer cache (transfer.c) or mcentral; the
 * slow paths are in percpu.c. Contract: core/frontend/README.md; design in
 * core/malloc.c ("Front ends").
 *
 * Where rseq is unavailable (a kernel without it, or glibc's registration switched
 * off: GLIBC_TUNABLES=glibc.pthread.rseq=0 makes __rseq_size 0), the front end is
 * `freelist` (freelist/freelist.h) with its per-thread lists (percpu/cache.h), chosen
 * once, before the first thread cache exists (sl_pcpu_rseq), and reported
 * with SPANLAB_VERBOSE=1 and in the statistics (percpu_active).
 *
 * The CPU caches. sl_pcpu_slabs[cpu] points at the CPU's slab (sl_meta_alloc, made on
 * the CPU's first slow path): a header per class, then the classes' slot arrays.
 *
 *     slab word:  0 .. 2*NUM_CLASSES-1     headers: {cur, begin, end, unused} (u32)
 *                 begin(1) .. end(1)-1     class 1's slots
 *                 begin(2) ...             class 2's slots, ...
 *
 * cur, begin and end are indexes of 8-byte slab words: slots begin..cur-1 hold the
 * class's free objects (the last one pushed at cur-1); end - begin is the class's
 * capacity (SPANLAB_PERCPU_CLASS_BYTES / size, at least 2 objects, to start; with
 * dynamic capacities it moves within the class's region of the slab, percpu.c), and
 * cur <= end always. `cur` and `end` are written only by the commit of a critical
 * section running on that CPU, so the threads of a CPU never see each other's
 * half-done operations: a thread preempted, migrated or signalled inside one restarts
 * it from the top (the kernel moves it to the abort handler), and nothing before the
 * commit is visible in the header.
 */
#ifndef SPANLAB_FE_PERCPU_H
#define SPANLAB_FE_PERCPU_H

#include <stddef.h>

#include "../freelist/freelist.h"

_Static_assert(offsetof(sl_fe_percpu_cache, fl) == 0, "freelist's state comes first (sl_fl)");

#define sl_fe_percpu_NAME_ "percpu"
#define sl_fe_percpu_TINY_MAX_ 0

/* Bytes of objects one CPU caches per size class to start with (at least 2 objects),
 * and always under static capacities; a build-time knob (README.md). With Go's table
 * 1.3 MiB per CPU in all; dynamic capacities move within SPANLAB_PERCPU_CPU_KB
 * (SPANLAB_VERBOSE=1 prints the bound of the variant at start-up). */
#ifndef SPANLAB_PERCPU_CLASS_BYTES
#define SPANLAB_PERCPU_CLASS_BYTES 16384
#endif
/* CPUs with a cache: a CPU id at or above this takes the slow path (thread-cache-less
 * transfers to mcentral), and start-up picks the fallback when the machine has more. */
#ifndef SPANLAB_PERCPU_MAX_CPUS
#define SPANLAB_PERCPU_MAX_CPUS 1024
#endif
/* Test control only (tests/frontend): build the critical sections without arming
 * rseq, so a preempted or migrated thread is not restarted. Never for real use. */
#ifndef SPANLAB_PERCPU_UNPROTECTED
#define SPANLAB_PERCPU_UNPROTECTED 0
#endif

/* The signature glibc registers for x86-64 (sysdeps/unix/sysv/linux/x86/bits/rseq.h);
 * the kernel checks the 4 bytes before an abort handler against it. */
#define SL_RSEQ_SIG 0x53053053
/* Offsets in struct rseq (linux/rseq.h). */
#define SL_RSEQ_CPU_ID 4
#define SL_RSEQ_CS 8

typedef struct sl_pcpu_hdr {
	uint32_t cur, begin, end, unused;
} sl_pcpu_hdr;

/* Set once before the first thread cache exists (percpu.c), then read-only. */
extern bool sl_pcpu_rseq;		   /* true: CPU caches; false: `freelist` */
extern ptrdiff_t sl_pcpu_rseq_off;	   /* glibc's __rseq_offset */
extern uint8_t sl_pcpu_keyslot[SL_NUM_CLASSES]; /* SL_KEY_OFFSET of the class, in words */
/* sl_pcpu_slabs[cpu]: the CPU's slab or NULL (release store, once). */
extern void **sl_pcpu_slabs[SPANLAB_PERCPU_MAX_CPUS];

/* Classes grown, and grows that took room from other classes (dynamic capacities,
 * percpu.c; relaxed atomic counters, for tests). */
extern uint64_t sl_pcpu_grows, sl_pcpu_steals;
bool sl_pcpu_capacity_ok(void);

void *sl_fe_percpu_alloc_slow(uint32_t cls);
bool sl_fe_percpu_free_overflow(sl_mcache *c, sl_span *s, void *p);
void sl_fe_percpu_free_small(sl_span *s, void *p);
bool sl_fe_percpu_free_declined(sl_mcache *c, sl_span *s, void *p);
void sl_fe_percpu_cache_init(sl_mcache *c);
void sl_fe_percpu_cache_teardown(sl_mcache *c);
void sl_fe_percpu_cache_lost(sl_mcache *c);
void sl_fe_percpu_flush(sl_mcache *c);
void sl_fe_percpu_stats(spanlab_stats *out);

/*
 * The critical sections. Each is one asm statement laid out as the kernel requires
 * (Documentation/userspace-api/rseq.rst and linux/rseq.h):
 *   - a struct rseq_cs descriptor (version 0, flags 0, start_ip, post_commit_offset,
 *     abort_ip), 32-byte aligned, in section __rseq_cs;
 *   - label 0: the sequence arms itself by storing the descriptor's address in the
 *     thread's rseq area (rseq_cs field, %fs:__rseq_offset + 8);
 *   - label 1 (start_ip) to label 2 (start_ip + post_commit_offset): the sequence; it
 *     reads the CPU id the kernel keeps in the rseq area (cpu_id, %fs:__rseq_offset + 4:
 *     -1 or -2 when the thread is not registered, which fails the bound check), and its
 *     last instruction is the commit, the one store other threads may see;
 *   - the abort handler in section __rseq_failure, preceded by the signature (as the
 *     operand of a ud1 instruction, so that a disassembler stays in step): the kernel
 *     jumps there instead of resuming a preempted, migrated or signalled thread
 *     between labels 1 and 2 (and clears rseq_cs); the handler jumps back to label 0,
 *     which re-arms and starts over on whatever CPU the thread now runs.
 * Failure exits (CPU without a slab, class empty or full) jump to label 2 with the
 * result still 0: nothing was committed.
 * With SPANLAB_PERCPU_UNPROTECTED the arming store is left out (test control).
 */
#if SPANLAB_PERCPU_UNPROTECTED
#define SL_RSEQ_ARM(tmp) ""
#else
#define SL_RSEQ_ARM(tmp)                                                                        \
	"lea 3b(%%rip), %[" tmp "]\n\t"                 /* tmp = &descriptor */                \
	"mov %[" tmp "], %%fs:" SL_STR(SL_RSEQ_CS) "(%[rseq])\n" /* rseq->rseq_cs = tmp */
#endif
#define SL_STR_(x) #x
#define SL_STR(x) SL_STR_(x)

#define SL_RSEQ_PROLOGUE(res, tmp) SL_RSEQ_PROLOGUE_CHECK(res, tmp, "")
/* As SL_RSEQ_PROLOGUE, with `check` (instructions that may jump to 2f, failing) right
 * after the CPU id is read into %[cur] and found in range. */
#define SL_RSEQ_PROLOGUE_CHECK(res, tmp, check)                                                 \
	".pushsection __rseq_cs, \"aw\"\n\t"                                                   \
	".balign 32\n"                                                                         \
	"3:\n\t"                                                                               \
	".long 0, 0\n\t"                           /* version, flags */                        \
	".quad 1f, 2f - 1f, 4f\n\t"                /* start_ip, post_commit_offset, abort_ip */ \
	".popsection\n"                                                                        \
	"0:\n\t"                                                                               \
	"xor %k[" res "], %k[" res "]\n\t"         /* result 0 until the commit */             \
	SL_RSEQ_ARM(tmp)                                                                       \
	"1:\n\t"                                                                               \
	"mov %%fs:" SL_STR(SL_RSEQ_CPU_ID) "(%[rseq]), %k[cur]\n\t" /* cur = this CPU's id */ \
	"cmp %[maxcpu], %k[cur]\n\t"                                                           \
	"jae 2f\n\t"                               /* unregistered (-1, -2) or beyond */       \
	check                                                                                  \
	"mov (%[slabs], %q[cur], 8), %[slab]\n\t"  /* slab = sl_pcpu_slabs[cpu] */             \
	"test %[slab], %[slab]\n\t"                                                            \
	"jz 2f\n\t"                                /* none yet: the slow path makes it */      \
	"mov (%[slab], %[off]), %k[cur]\n\t"       /* cur = hdr->cur */

#define SL_RSEQ_EPILOGUE                                                                        \
	"2:\n\t"                                                                               \
	".pushsection __rseq_failure, \"ax\"\n\t"                                              \
	".byte 0x0f, 0xb9, 0x3d\n\t"               /* ud1 <disp32>(%rip), %edi: */             \
	".long " SL_STR(SL_RSEQ_SIG) "\n"          /* the signature is its disp32 */           \
	"4:\n\t"                                                                               \
	"jmp 0b\n\t"                               /* abort: re-arm, restart */                \
	".popsection\n"

/* Pops the last object of class cls (hdr offset `off` = cls * 16) from this CPU's
 * cache; NULL if the CPU has no slab or the class is empty. */
SL_INLINE void *sl_pcpu_pop(uint64_t off)
{
	void *obj;
	uint64_t slab, cur;
	__asm__ __volatile__(SL_RSEQ_PROLOGUE("obj", "slab")
			     "cmp 4(%[slab], %[off]), %k[cur]\n\t"  /* cur == begin: empty */
			     "je 2f\n\t"
			     "mov -8(%[slab], %q[cur], 8), %[obj]\n\t" /* obj = slot cur-1 */
			     "dec %k[cur]\n\t"
			     "mov %k[cur], (%[slab], %[off])\n"      /* commit: hdr->cur = cur-1 */
			     SL_RSEQ_EPILOGUE
			     : [obj] "=&r"(obj), [slab] "=&r"(slab), [cur] "=&r"(cur)
			     : [rseq] "r"(sl_pcpu_rseq_off), [slabs] "r"(sl_pcpu_slabs), [off] "r"(off),
			       [maxcpu] "i"(SPANLAB_PERCPU_MAX_CPUS)
			     : "memory", "cc");
	return obj;
}

/* Pushes p on class cls of this CPU's cache; false if no slab or the class is full. */
SL_INLINE bool sl_pcpu_push(uint64_t off, void *p)
{
	uint64_t ok, slab, cur;
	__asm__ __volatile__(SL_RSEQ_PROLOGUE("ok", "slab")
			     "cmp 8(%[slab], %[off]), %k[cur]\n\t"  /* cur == end: full */
			     "je 2f\n\t"
			     "mov %[p], (%[slab], %q[cur], 8)\n\t"   /* slot cur = p (unseen until the commit) */
			     "inc %k[cur]\n\t"
			     "mov $1, %k[ok]\n\t"
			     "mov %k[cur], (%[slab], %[off])\n"      /* commit: hdr->cur = cur+1 */
			     SL_RSEQ_EPILOGUE
			     : [ok] "=&r"(ok), [slab] "=&r"(slab), [cur] "=&r"(cur)
			     : [rseq] "r"(sl_pcpu_rseq_off), [slabs] "r"(sl_pcpu_slabs), [off] "r"(off),
			       [maxcpu] "i"(SPANLAB_PERCPU_MAX_CPUS), [p] "r"(p)
			     : "memory", "cc");
	return ok != 0;
}

/* Moves up to max objects of this CPU's class (the last pushed first) into buf;
 * returns how many (0 also when the CPU has no slab). */
SL_INLINE uint32_t sl_pcpu_pop_batch(uint64_t off, void **buf, uint32_t max)
{
	uint64_t n, slab, cur, tmp;
	__asm__ __volatile__(SL_RSEQ_PROLOGUE("n", "slab")
			     "5:\n\t"
			     "cmp %k[n], %k[max]\n\t"                /* n == max: done */
			     "je 6f\n\t"
			     "cmp 4(%[slab], %[off]), %k[cur]\n\t"   /* cur == begin: done */
			     "je 6f\n\t"
			     "mov -8(%[slab], %q[cur], 8), %[tmp]\n\t"
			     "mov %[tmp], (%[buf], %q[n], 8)\n\t"    /* buf[n] = slot cur-1 */
			     "dec %k[cur]\n\t"
			     "inc %k[n]\n\t"
			     "jmp 5b\n"
			     "6:\n\t"
			     "mov %k[cur], (%[slab], %[off])\n"      /* commit: hdr->cur = cur-n */
			     SL_RSEQ_EPILOGUE
			     : [n] "=&r"(n), [slab] "=&r"(slab), [cur] "=&r"(cur), [tmp] "=&r"(tmp)
			     : [rseq] "r"(sl_pcpu_rseq_off), [slabs] "r"(sl_pcpu_slabs), [off] "r"(off),
			       [maxcpu] "i"(SPANLAB_PERCPU_MAX_CPUS), [buf] "r"(buf), [max] "r"(max)
			     : "memory", "cc");
	return (uint32_t)n;
}

/* Pushes buf[0..k) on this CPU's class, k <= n as room allows; returns k. */
SL_INLINE uint32_t sl_pcpu_push_batch(uint64_t off, void *const *buf, uint32_t n)
{
	uint64_t k, slab, cur, tmp;
	__asm__ __volatile__(SL_RSEQ_PROLOGUE("k", "slab")
			     "5:\n\t"
			     "cmp %k[k], %k[n]\n\t"                  /* k == n: done */
			     "je 6f\n\t"
			     "cmp 8(%[slab], %[off]), %k[cur]\n\t"   /* cur == end: full */
			     "je 6f\n\t"
			     "mov (%[buf], %q[k], 8), %[tmp]\n\t"
			     "mov %[tmp], (%[slab], %q[cur], 8)\n\t" /* slot cur = buf[k] */
			     "inc %k[cur]\n\t"
			     "inc %k[k]\n\t"
			     "jmp 5b\n"
			     "6:\n\t"
			     "mov %k[cur], (%[slab], %[off])\n"      /* commit: hdr->cur = cur+k */
			     SL_RSEQ_EPILOGUE
			     : [k] "=&r"(k), [slab] "=&r"(slab), [cur] "=&r"(cur), [tmp] "=&r"(tmp)
			     : [rseq] "r"(sl_pcpu_rseq_off), [slabs] "r"(sl_pcpu_slabs), [off] "r"(off),
			       [maxcpu] "i"(SPANLAB_PERCPU_MAX_CPUS), [buf] "r"(buf), [n] "r"(n)
			     : "memory", "cc");
	return (uint32_t)k;
}

/* Resizes class `off` of CPU `cpu`'s cache: if this thread runs on that CPU, the
 * class's end is still `old` and its objects all lie below `end` (cur <= end), the
 * commit sets end = `end`; returns whether it did. Growing needs no more (the slots up
 * to the class's region limit are the class's own); shrinking gives up only empty
 * slots, so no object is lost, and a push that read the old end on this CPU restarts
 * (rseq) and sees the new one. */
SL_INLINE bool sl_pcpu_set_end(uint64_t off, uint32_t cpu, uint32_t old, uint32_t end)
{
	uint64_t ok, slab, cur;
	__asm__ __volatile__(SL_RSEQ_PROLOGUE_CHECK("ok", "slab",
						    "cmp %k[cpu], %k[cur]\n\t" /* another CPU: fail */
						    "jne 2f\n\t")
			     "cmp %k[end], %k[cur]\n\t"             /* cur > end: objects above it */
			     "ja 2f\n\t"
			     "cmp 8(%[slab], %[off]), %k[old]\n\t"   /* hdr->end != old: changed */
			     "jne 2f\n\t"
			     "mov $1, %k[ok]\n\t"
			     "mov %k[end], 8(%[slab], %[off])\n"     /* commit: hdr->end = end */
			     SL_RSEQ_EPILOGUE
			     : [ok] "=&r"(ok), [slab] "=&r"(slab), [cur] "=&r"(cur)
			     : [rseq] "r"(sl_pcpu_rseq_off), [slabs] "r"(sl_pcpu_slabs), [off] "r"(off),
			       [maxcpu] "i"(SPANLAB_PERCPU_MAX_CPUS), [cpu] "r"(cpu), [old] "r"(old), [end] "r"(end)
			     : "memory", "cc");
	return ok != 0;
}

/* The CPU this thread runs on, as the kernel last wrote it in the rseq area (-1 or -2
 * when unregistered): a hint, outside any critical section. */
SL_INLINE int32_t sl_pcpu_cpu_hint(void)
{
	int32_t cpu;
	__asm__ __volatile__("mov %%fs:" SL_STR(SL_RSEQ_CPU_ID) "(%1), %0" : "=r"(cpu) : "r"(sl_pcpu_rseq_off));
	return cpu;
}

/*
 * The malloc fast path: a TLS load, the front end's mode flag, the pop (15
 * instructions from the result's xor to the commit: the arming store, the CPU id from
 * the rseq area, the slab pointer, the header, the slot, the commit store), the key
 * clear and a thread-local counter. Budget: 47 instructions for a whole malloc of 9
 * bytes to 1 KiB with the class lookup, from sl_malloc's entry to its return (counted in
 * `objdump -d` of the shared library; callgrind cannot count them: under valgrind
 * glibc's rseq registration fails and the fallback runs). No lock, no atomic
 * read-modify-write. The fallback runs `freelist`'s fast path.
 */
SL_INLINE void *sl_fe_percpu_alloc(uint32_t cls)
{
	sl_mcache *c = sl_tls_cache;
	if (SL_LIKELY(c != NULL)) {
		if (SL_LIKELY(sl_pcpu_rseq)) {
			void **p = sl_pcpu_pop((uint64_t)cls * sizeof(sl_pcpu_hdr));
			if (SL_LIKELY(p != NULL)) {
				p[sl_pcpu_keyslot[cls]] = NULL;
				SL_COUNTER_ADD(c->fe.nmalloc[cls], 1);
				return p;
			}
		} else {
			return sl_fe_freelist_alloc(cls);
		}
	}
	return sl_fe_percpu_alloc_slow(cls);
}

/*
 * The free fast path, after the caller's page-map lookup: the object check (one
 * multiply) and the double-free key test as `freelist`'s, the key store, a
 * thread-local counter and the push (16 instructions from the xor to the commit).
 * Budget: 67 instructions for the whole free, page-map lookup included, from sl_free's
 * entry to its return (`objdump -d`, as above). No
 * lock, no atomic read-modify-write. A full class (or a CPU without a slab yet) goes
 * to the overflow path, which takes the object: the key is already set, so declining
 * would report a double free.
 */
SL_INLINE bool sl_fe_percpu_free_fast(sl_mcache *c, sl_span *s, void *p)
{
	if (SL_UNLIKELY(!sl_pcpu_rseq))
		return sl_fe_freelist_free_fast(c, s, p);
	if (SL_LIKELY(SL_NUMA_MAX_NODES == 1 || s->heap == c->heap)) {
		/* 8-byte objects fail the object check (their span's limit is 0) and take
		 * the slow path: their free state is a byte in the span (SL_OBJ8); every
		 * other object's key is word 1. */
		void **key = (void **)p + 1;
		if (SL_LIKELY(sl_span_is_object(s, p) && *key != (void *)sl_free_key)) {
			*key = (void *)sl_free_key;
			SL_COUNTER_ADD(c->fe.nfree[s->sizeclass], 1);
			if (SL_LIKELY(sl_pcpu_push((uint64_t)s->sizeclass * sizeof(sl_pcpu_hdr), p)))
				return true;
			return sl_fe_percpu_free_overflow(c, s, p);
		}
	}
	return false;
}

SL_INLINE void *sl_fe_percpu_alloc_tiny(size_t size) { return sl_fe_percpu_alloc(sl_sc_size_to_class(size)); }

#define sl_fe_percpu_check_interior sl_fe_default_check_interior
#define sl_fe_percpu_usable sl_fe_default_usable

SL_INLINE uint64_t sl_fe_percpu_cache_mallocs(sl_mcache *c, uint32_t cls)
{
	return sl_pcpu_rseq ? SL_COUNTER_READ(c->fe.nmalloc[cls]) : sl_fe_freelist_cache_mallocs(c, cls);
}

SL_INLINE uint64_t sl_fe_percpu_cache_frees(sl_mcache *c, uint32_t cls)
{
	return sl_pcpu_rseq ? SL_COUNTER_READ(c->fe.nfree[cls]) : sl_fe_freelist_cache_frees(c, cls);
}

SL_INLINE uint64_t sl_fe_percpu_span_free_objects(sl_span *s) { return s->nfree; }

#endif
