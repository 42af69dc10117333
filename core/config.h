/*
 * core/config.h — the one configuration point: the variant's policies and its name.
 * The build defines one SPANLAB_<AXIS>_<IMPL> per axis (CMakeLists.txt,
 * spanlab_configure_engine); this header includes the selection header of each policy
 * axis, and core/internal.h includes it before anything of the engine.
 *
 * The fourth axis, the front end, is engine code: its selection header core/frontend.h
 * needs the engine's types, so core/internal.h includes it itself, once, after them.
 * Its name, SL_FE_NAME, is defined there; SPANLAB_VARIANT_NAME expands it where it is
 * used.
 */
#ifndef SPANLAB_CORE_CONFIG_H
#define SPANLAB_CORE_CONFIG_H

#include "../numa/numa.h"
#include "../policies/sizeclass.h"
#include "../policies/sync.h"

/* The variant's name, <sizeclass>-<sync>-<numa>[-<frontend>], which spanlab_variant()
 * returns (CMake names the variant's libraries the same way). The default front end
 * (`freelist`) is not named. */
#if defined(SPANLAB_FRONTEND_FREELIST)
#define SPANLAB_VARIANT_NAME SL_SC_NAME "-" SL_SYNC_NAME "-" SL_NUMA_NAME
#else
#define SPANLAB_VARIANT_NAME SL_SC_NAME "-" SL_SYNC_NAME "-" SL_NUMA_NAME "-" SL_FE_NAME
#endif

#endif
