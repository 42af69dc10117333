/*
 * trace_format.h - the allocation trace file (version 1), written by the
 * recording shim (record.c), read by sl-replay (replay.c) and by
 * scripts/spanlab-trace (scripts/spanlab_exp/trace.py). Little-endian.
 *
 * Header, 32 bytes:
 *   0  char[8]  magic "SLTRACE\0"
 *   8  u32      version (1)
 *  12  u32      header size in bytes (32)
 *  16  u32      record size in bytes (40)
 *  20  u32      flags (0)
 *  24  u64      CLOCK_MONOTONIC nanoseconds when recording started
 * then records of 40 bytes each:
 *   0  u8       operation (enum sl_trace_op)
 *   1  u8       log2 of the requested alignment (0: none requested)
 *   2  u16      0
 *   4  u32      thread: 0, 1, ... in the order threads first called the family
 *   8  u64      nanoseconds since the start: taken after an allocating call
 *               returned, before a free was made, so across threads a free of an
 *               object is later than its allocation, and a reuse of an address
 *               later than the free before it
 *  16  u64      size requested (calloc: count * size)
 *  24  u64      address returned (free: the address freed; 0: the call failed)
 *  32  u64      realloc: the address passed in (0 for realloc(NULL, n))
 * Records of one thread appear in that thread's call order; the threads' records
 * are interleaved in chunks, so a reader orders them by time.
 */
#ifndef SL_TRACE_FORMAT_H
#define SL_TRACE_FORMAT_H

#include <stdint.h>

#define SL_TRACE_MAGIC "SLTRACE"	/* 7 characters and the terminating zero */
#define SL_TRACE_VERSION 1u
#define SL_TRACE_HEADER_SIZE 32u
#define SL_TRACE_RECORD_SIZE 40u

enum sl_trace_op {
	SL_OP_MALLOC = 1,
	SL_OP_CALLOC = 2,
	SL_OP_REALLOC = 3,
	SL_OP_FREE = 4,
	SL_OP_POSIX_MEMALIGN = 5,
	SL_OP_ALIGNED_ALLOC = 6,
	SL_OP_MEMALIGN = 7,
	SL_OP_VALLOC = 8,
	SL_OP_PVALLOC = 9,
	SL_OP_LAST = SL_OP_PVALLOC
};

struct sl_trace_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint32_t record_size;
	uint32_t flags;
	uint64_t start_ns;
};

struct sl_trace_record {
	uint8_t op;
	uint8_t align_log2;
	uint16_t zero;
	uint32_t thread;
	uint64_t time_ns;
	uint64_t size;
	uint64_t ptr;
	uint64_t old_ptr;
};

_Static_assert(sizeof(struct sl_trace_header) == SL_TRACE_HEADER_SIZE, "header layout");
_Static_assert(sizeof(struct sl_trace_record) == SL_TRACE_RECORD_SIZE, "record layout");

#endif /* SL_TRACE_FORMAT_H */
