/*
 * Size-class policy: the one selection point. See policies/sizeclass/README.md for
 * the contract. The build defines exactly one SPANLAB_SIZECLASS_<IMPL>.
 *
 * A table (policies/sizeclass/<impl>.h) is data: constants and arrays. The lookups are
 * written once, here, over the selected table's arrays (as Go's roundupsize over its
 * generated sizeclasses.go).
 */
#ifndef SPANLAB_POLICY_SIZECLASS_H
#define SPANLAB_POLICY_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/policy_util.h"

#if defined(SPANLAB_SIZECLASS_GO)
#include "sizeclass/go.h"
#define SL_SC_IMPL go
#define SL_SC_NAME "go"
#elif defined(SPANLAB_SIZECLASS_GO19)
#include "sizeclass/go19.h"
#define SL_SC_IMPL go19
#define SL_SC_NAME "go19"
#elif defined(SPANLAB_SIZECLASS_TCMALLOC)
#include "sizeclass/tcmalloc.h"
#define SL_SC_IMPL tcmalloc
#define SL_SC_NAME "tcmalloc"
#elif defined(SPANLAB_SIZECLASS_JEMALLOC)
#include "sizeclass/jemalloc.h"
#define SL_SC_IMPL jemalloc
#define SL_SC_NAME "jemalloc"
#elif defined(SPANLAB_SIZECLASS_POW2)
#include "sizeclass/pow2.h"
#define SL_SC_IMPL pow2
#define SL_SC_NAME "pow2"
#elif defined(SPANLAB_SIZECLASS_GEN12)
#include "sizeclass/gen12.h"
#define SL_SC_IMPL gen12
#define SL_SC_NAME "gen12"
#elif defined(SPANLAB_SIZECLASS_GEN6)
#include "sizeclass/gen6.h"
#define SL_SC_IMPL gen6
#define SL_SC_NAME "gen6"
#else
#error "no size-class policy selected: define SPANLAB_SIZECLASS_<IMPL> (see policies/sizeclass/README.md)"
#endif

#define SL_NUM_CLASSES SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _num_classes)
#define SL_MAX_SMALL SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _max_small)
#define SL_SC_ALIGN16 SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _align16)
#define sl_sc_class_size SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _class_size)
#define sl_sc_class_pages SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _class_pages)
#define sl_sc_class8 SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _class8)
#define sl_sc_class8_a16 SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _class8_a16)
#define sl_sc_class128 SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _class128)

/* The lookup arrays' geometry, shared by every table: class8[] covers sizes up to
 * SL_SC_SMALL_LIMIT in 8-byte steps, class128[] the sizes above in 128-byte steps. */
#define SL_SC_SMALL_LIMIT 1024
#define SL_SC_CLASS8_LEN (SL_SC_SMALL_LIMIT / 8 + 1)
#define SL_SC_CLASS128_LEN ((SL_MAX_SMALL - SL_SC_SMALL_LIMIT + 127) / 128 + 1)

/* The contract, checked at compile time for the selected implementation. */
_Static_assert(SL_NUM_CLASSES >= 2 && SL_NUM_CLASSES <= 255, "class count out of range");
_Static_assert(SL_MAX_SMALL >= 32768, "max_small below the large-object threshold");
_Static_assert(SL_SC_ALIGN16 == 0 || SL_SC_ALIGN16 == 1, "align16 is 0 or 1");
#define SL_SC_LEN(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(SL_SC_LEN(sl_sc_class_size) == SL_NUM_CLASSES, "class_size has num_classes entries");
_Static_assert(SL_SC_LEN(sl_sc_class_pages) == SL_NUM_CLASSES, "class_pages has num_classes entries");
_Static_assert(SL_SC_LEN(sl_sc_class8) == SL_SC_CLASS8_LEN, "class8 covers 0 .. 1024 B");
_Static_assert(SL_SC_LEN(sl_sc_class8_a16) == SL_SC_CLASS8_LEN, "class8_a16 covers 0 .. 1024 B");
_Static_assert(SL_SC_LEN(sl_sc_class128) == SL_SC_CLASS128_LEN, "class128 covers 1024 B .. max_small");
_Static_assert(sizeof(sl_sc_class8[0]) == 1 && sizeof(sl_sc_class8_a16[0]) == 1 &&
		       sizeof(sl_sc_class128[0]) == 1,
	       "class indices are bytes");

/* size -> class: the smallest class whose size is >= size, for 0 <= size <= SL_MAX_SMALL
 * (0 is served as 1). One compare and one table load. */
static inline uint32_t sl_sc_size_to_class(size_t size)
{
	if (size <= SL_SC_SMALL_LIMIT)
		return sl_sc_class8[(size + 7) >> 3];
	return sl_sc_class128[(size - SL_SC_SMALL_LIMIT + 127) >> 7];
}

/* size -> class for glibc's alignment (blocks of more than 16 B 16-byte aligned): the
 * smallest class holding size rounded up to a multiple of 16 when above 16 B, which is
 * itself a multiple of 16 (the tables' rule). One table load too: above 1024 B the
 * rounding changes no class128 bucket, so that part is the plain lookup. */
static inline uint32_t sl_sc_size_to_class_a16(size_t size)
{
	if (size <= SL_SC_SMALL_LIMIT)
		return sl_sc_class8_a16[(size + 7) >> 3];
	return sl_sc_class128[(size - SL_SC_SMALL_LIMIT + 127) >> 7];
}

static inline uint32_t sl_sc_class_to_size(uint32_t c) { return sl_sc_class_size[c]; }
static inline uint32_t sl_sc_class_to_pages(uint32_t c) { return sl_sc_class_pages[c]; }

#endif
