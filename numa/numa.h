/*
 * NUMA placement policy: the one selection point. See numa/README.md for the contract.
 * The build defines exactly one SPANLAB_NUMA_<IMPL>.
 */
#ifndef SPANLAB_POLICY_NUMA_H
#define SPANLAB_POLICY_NUMA_H

#include "../base/policy_util.h"

#if defined(SPANLAB_NUMA_FLAT)
#include "flat.h"
#define SL_NUMA_IMPL flat
#define SL_NUMA_NAME "flat"
#elif defined(SPANLAB_NUMA_NODE)
#include "node.h"
#define SL_NUMA_IMPL node
#define SL_NUMA_NAME "node"
#else
#error "no NUMA policy selected: define SPANLAB_NUMA_<IMPL> (see numa/README.md)"
#endif

#define SL_NUMA_MAX_NODES SL_POLICY_NAME(sl_numa_, SL_NUMA_IMPL, _max_nodes)
#define sl_numa_init SL_POLICY_NAME(sl_numa_, SL_NUMA_IMPL, _init)
#define sl_numa_current_node SL_POLICY_NAME(sl_numa_, SL_NUMA_IMPL, _current_node)
#define sl_numa_bind SL_POLICY_NAME(sl_numa_, SL_NUMA_IMPL, _bind)

_Static_assert(SL_NUMA_MAX_NODES >= 1, "at least one heap");
SL_CHECK_SIGNATURE(sl_numa_init, unsigned (*)(void));
SL_CHECK_SIGNATURE(sl_numa_current_node, unsigned (*)(void));
SL_CHECK_SIGNATURE(sl_numa_bind, void (*)(void *, size_t, unsigned));

#endif
