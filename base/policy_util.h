/*
 * base/policy_util.h — helpers shared by the policy selection headers
 * (policies/sizeclass.h, policies/sync.h, numa/numa.h, core/frontend.h): token pasting
 * and contract checks.
 */
#ifndef SPANLAB_BASE_POLICY_UTIL_H
#define SPANLAB_BASE_POLICY_UTIL_H

#define SL_PASTE3_(a, b, c) a##b##c
/* SL_POLICY_NAME(sl_sc_, go, _size_to_class) -> sl_sc_go_size_to_class */
#define SL_POLICY_NAME(prefix, impl, suffix) SL_PASTE3_(prefix, impl, suffix)

/* Fails to compile unless fn has exactly the function-pointer type `type`. */
#define SL_CHECK_SIGNATURE(fn, type)                                                   \
	_Static_assert(_Generic(&(fn), type: 1, default: 0), #fn " does not match the contract")

#endif
