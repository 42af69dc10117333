# `rcu` central-sync policy: liburcu's bulletproof flavour and its data structures.
list(APPEND SPANLAB_POLICY_LIBS urcu-bp urcu-cds)
