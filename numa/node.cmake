# NUMA policy `node` (numa/node.c): topology from hwloc, binding with the raw mbind(2)
# system call (no libnuma). Read by the top-level CMakeLists.txt
# (spanlab_policy_settings) for variants whose NUMA part is `node`.
find_library(SPANLAB_HWLOC_LIBRARY NAMES hwloc)
find_path(SPANLAB_HWLOC_INCLUDE_DIR NAMES hwloc.h)
if(NOT SPANLAB_HWLOC_LIBRARY OR NOT SPANLAB_HWLOC_INCLUDE_DIR)
  message(FATAL_ERROR "spanlab: variant '${V}' (NUMA policy node) needs hwloc: install libhwloc-dev")
endif()
list(APPEND SPANLAB_POLICY_INCLUDES ${SPANLAB_HWLOC_INCLUDE_DIR})
list(APPEND SPANLAB_POLICY_LIBS hwloc)
