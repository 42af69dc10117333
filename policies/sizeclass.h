/*
 * Size-class policy: the one selection point. See policies/sizeclass/README.md for
 * the contract. The build defines exactly one SPANLAB_SIZECLASS_<IMPL>.
 */
#ifndef SPANLAB_POLICY_SIZECLASS_H
#define SPANLAB_POLICY_SIZECLASS_H

#include "policy_util.h"

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
#define sl_sc_size_to_class SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _size_to_class)
#define sl_sc_size_to_class_a16 SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _size_to_class_a16)
#define sl_sc_class_to_size SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _class_to_size)
#define sl_sc_class_to_pages SL_POLICY_NAME(sl_sc_, SL_SC_IMPL, _class_to_pages)

/* The contract, checked at compile time for the selected implementation. */
_Static_assert(SL_NUM_CLASSES >= 2 && SL_NUM_CLASSES <= 255, "class count out of range");
_Static_assert(SL_MAX_SMALL >= 32768, "max_small below the large-object threshold");
_Static_assert(SL_SC_ALIGN16 == 0 || SL_SC_ALIGN16 == 1, "align16 is 0 or 1");
_Static_assert(sizeof(sl_sc_class_size) / sizeof(sl_sc_class_size[0]) == SL_NUM_CLASSES,
	       "class_size has num_classes entries");
_Static_assert(sizeof(sl_sc_class_pages) / sizeof(sl_sc_class_pages[0]) == SL_NUM_CLASSES,
	       "class_pages has num_classes entries");
SL_CHECK_SIGNATURE(sl_sc_size_to_class, uint32_t (*)(size_t));
SL_CHECK_SIGNATURE(sl_sc_size_to_class_a16, uint32_t (*)(size_t));
SL_CHECK_SIGNATURE(sl_sc_class_to_size, uint32_t (*)(uint32_t));
SL_CHECK_SIGNATURE(sl_sc_class_to_pages, uint32_t (*)(uint32_t));

#endif
