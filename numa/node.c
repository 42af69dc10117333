/*
 * numa/node.c — NUMA policy `node`: topology discovery with hwloc and arena binding
 * with mbind(2). See numa/node.h and numa/README.md; the engine's overview is in
 * core/malloc.c.
 *
 * Compiled only into the variants whose NUMA policy is `node` (CMakeLists.txt,
 * spanlab_variant_sources).
 *
 * Discovery. sl_numa_node_init runs once, from the engine's initialisation, with the
 * engine able to serve allocations without a thread cache: hwloc's own malloc calls
 * (topology objects, bitmaps, its plugins' dlopen) re-enter the engine there and are
 * served by the uncached path. It loads the topology, copies what the hot path needs
 * into plain tables (CPU -> heap, heap -> OS node index), and destroys the topology:
 * nothing of hwloc survives the call. hwloc itself honours HWLOC_SYNTHETIC,
 * HWLOC_XMLFILE (and HWLOC_FSROOT, HWLOC_CPUID_PATH) in hwloc_topology_load, so an
 * experiment can give this one-node machine two nodes.
 *
 * Heaps. Heap i serves hwloc's NUMA node of logical index i (i % max_nodes beyond
 * the array). A CPU that belongs to several nodes (a CPU-less memory node sharing its
 * CPUs with a DRAM node) is served by the first of them; a CPU of no node, by heap 0.
 *
 * Binding. Each new arena is bound with a raw mbind(2) system call (no libnuma) to
 * its heap's node: MPOL_PREFERRED by default (pages come from that node while it has
 * memory, from others after: a full node never makes malloc fail), MPOL_BIND with
 * -DSPANLAB_NUMA_NODE_STRICT. No binding is attempted when there is one node (nothing
 * to choose) or when the topology is not this machine's (hwloc_topology_is_thissystem
 * is false for synthetic and XML topologies unless HWLOC_THISSYSTEM=1): node numbers
 * of a made-up topology mean nothing to the kernel. Either case, and every failed
 * mbind, is reported once with SPANLAB_VERBOSE=1; the memory stays unbound and usable.
 * Arenas reserved while hwloc runs (its own allocations) are recorded and bound when
 * the topology is known; pages already touched by then stay where they are.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <hwloc.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../base/log.h"
#include "node.h"

#ifndef MPOL_PREFERRED
#define MPOL_PREFERRED 1
#endif
#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif
#ifdef SPANLAB_NUMA_NODE_STRICT
#define SL_NUMA_NODE_MPOL MPOL_BIND
#define SL_NUMA_NODE_MPOL_NAME "MPOL_BIND"
#else
#define SL_NUMA_NODE_MPOL MPOL_PREFERRED
#define SL_NUMA_NODE_MPOL_NAME "MPOL_PREFERRED"
#endif

/* OS node numbers that mbind can name (bits of the node mask). */
#define SL_NUMA_NODE_OS_MAX 1024

uint8_t sl_numa_node_cpu_heap[SPANLAB_NUMA_NODE_MAX_CPUS];

/* Written once by init (engine's initialisation lock), read-only afterwards. */
static int sl_numa_node_os_index[SPANLAB_NUMA_NODE_MAX_NODES]; /* heap -> OS node, -1: none */
static unsigned sl_numa_node_count = 1;			     /* heaps in use */
static bool sl_numa_node_can_bind;
static atomic_flag sl_numa_node_bind_reported = ATOMIC_FLAG_INIT;

/* Arenas reserved before the topology is known (hwloc's own allocations during init):
 * bound when init ends. Engine's initialisation lock. */
#define SL_NUMA_NODE_EARLY 8
static struct {
	void *addr;
	size_t len;
	unsigned node;
} sl_numa_node_early[SL_NUMA_NODE_EARLY];
static unsigned sl_numa_node_nearly;
static bool sl_numa_node_ready;

static void sl_numa_node_mbind(void *addr, size_t len, unsigned node);

/* Heap serving CPU `cpu`; heap 0 for a CPU outside the table. */
static unsigned sl_numa_node_heap_of_cpu(long cpu)
{
	return cpu >= 0 && cpu < SPANLAB_NUMA_NODE_MAX_CPUS ? sl_numa_node_cpu_heap[cpu] : 0;
}

unsigned sl_numa_node_fallback_node(void)
{
	/* sched_getaffinity without glibc's cpu_set_t helpers: the raw mask, on the stack. */
	unsigned long mask[SPANLAB_NUMA_NODE_MAX_CPUS / (8 * sizeof(unsigned long))];
	long n = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
	if (n <= 0)
		return 0;
	for (long w = 0; w < n / (long)sizeof(unsigned long); w++)
		if (mask[w])
			return sl_numa_node_heap_of_cpu(w * (long)(8 * sizeof(unsigned long)) + __builtin_ctzl(mask[w]));
	return 0;
}

static void sl_numa_node_filters(hwloc_topology_t topo)
{
	/* Only NUMA nodes and PUs matter here: skip the cache and I/O discovery work.
	 * (Cores are kept: filtering them out leaves synthetic nodes with wrong cpusets.) */
	hwloc_topology_set_cache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
	hwloc_topology_set_icache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
	hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
	/* The x86 backend runs cpuid on every PU by migrating this thread to each in turn:
	 * on a loaded machine each migration waits for a turn on that CPU (tens of ms).
	 * The OS backend (Linux: sysfs) knows the NUMA nodes and their CPUs. */
	hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
}

unsigned sl_numa_node_init(void)
{
	hwloc_topology_t topo;
	if (hwloc_topology_init(&topo) != 0) {
		sl_verbose("numa node: hwloc_topology_init failed (%s); one heap", strerror(errno));
		return 1;
	}
	sl_numa_node_filters(topo);
	if (hwloc_topology_load(topo) != 0) {
		sl_verbose("numa node: hwloc_topology_load failed (%s); one heap", strerror(errno));
		hwloc_topology_destroy(topo);
		return 1;
	}
	int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	if (nodes < 1)
		nodes = 1; /* hwloc always reports at least one; be safe */
	unsigned heaps = (unsigned)nodes < SPANLAB_NUMA_NODE_MAX_NODES ? (unsigned)nodes : SPANLAB_NUMA_NODE_MAX_NODES;

	/* Built aside and copied at the end: this thread's own re-entrant allocations keep
	 * seeing the all-zero table meanwhile. */
	static uint8_t table[SPANLAB_NUMA_NODE_MAX_CPUS]; /* init lock */
	static bool assigned[SPANLAB_NUMA_NODE_MAX_CPUS];
	memset(table, 0, sizeof table);
	memset(assigned, 0, sizeof assigned);
	for (unsigned h = 0; h < SPANLAB_NUMA_NODE_MAX_NODES; h++)
		sl_numa_node_os_index[h] = -1;
	unsigned cpus = 0;
	for (int i = 0; i < nodes; i++) {
		hwloc_obj_t obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
		if (!obj)
			continue;
		unsigned h = (unsigned)i % SPANLAB_NUMA_NODE_MAX_NODES;
		if (sl_numa_node_os_index[h] < 0)
			sl_numa_node_os_index[h] = (int)obj->os_index;
		if (!obj->cpuset)
			continue;
		for (int cpu = hwloc_bitmap_first(obj->cpuset); cpu >= 0; cpu = hwloc_bitmap_next(obj->cpuset, cpu)) {
			if (cpu >= SPANLAB_NUMA_NODE_MAX_CPUS)
				break;
			if (!assigned[cpu]) {
				assigned[cpu] = true;
				table[cpu] = (uint8_t)h;
				cpus++;
			}
		}
	}
	bool thissystem = hwloc_topology_is_thissystem(topo) != 0;
	hwloc_topology_destroy(topo);

	memcpy(sl_numa_node_cpu_heap, table, sizeof table);
	sl_numa_node_count = heaps;
	sl_numa_node_can_bind = thissystem && heaps > 1;
	sl_verbose("numa node: %d NUMA node(s), %u heap(s), %u CPU(s) mapped; arenas %s", nodes, heaps, cpus,
		   sl_numa_node_can_bind ? "bound with " SL_NUMA_NODE_MPOL_NAME
		   : heaps == 1	     ? "not bound (one node)"
				     : "not bound: the topology is not this machine's (synthetic or XML; "
				       "HWLOC_THISSYSTEM=1 asserts it is)");
	sl_numa_node_ready = true;
	for (unsigned i = 0; i < sl_numa_node_nearly; i++)
		sl_numa_node_mbind(sl_numa_node_early[i].addr, sl_numa_node_early[i].len, sl_numa_node_early[i].node);
	return heaps;
}

static void sl_numa_node_report(void *addr, size_t len, unsigned node, int os, const char *why)
{
	if (!atomic_flag_test_and_set_explicit(&sl_numa_node_bind_reported, memory_order_relaxed))
		sl_verbose("numa node: cannot bind %zu bytes at %p to heap %u (OS node %d): %s; memory stays "
			   "unbound (reported once)",
			   len, addr, node, os, why);
}

void sl_numa_node_bind(void *addr, size_t len, unsigned node)
{
	if (!sl_numa_node_ready) {
		if (sl_numa_node_nearly < SL_NUMA_NODE_EARLY)
			sl_numa_node_early[sl_numa_node_nearly++] = (__typeof__(sl_numa_node_early[0])){addr, len, node};
		return;
	}
	sl_numa_node_mbind(addr, len, node);
}

static void sl_numa_node_mbind(void *addr, size_t len, unsigned node)
{
	if (!sl_numa_node_can_bind || node >= sl_numa_node_count)
		return;
	int os = sl_numa_node_os_index[node];
	if (os < 0 || os >= SL_NUMA_NODE_OS_MAX) {
		sl_numa_node_report(addr, len, node, os, "OS node number out of range");
		return;
	}
	unsigned long mask[SL_NUMA_NODE_OS_MAX / (8 * sizeof(unsigned long))] = {0};
	mask[(unsigned)os / (8 * sizeof(unsigned long))] = 1ul << ((unsigned)os % (8 * sizeof(unsigned long)));
	/* The kernel reads maxnode - 1 bits of the mask. */
	if (syscall(SYS_mbind, addr, len, SL_NUMA_NODE_MPOL, mask, (unsigned long)SL_NUMA_NODE_OS_MAX + 1, 0u) != 0)
		sl_numa_node_report(addr, len, node, os, strerror(errno));
}
