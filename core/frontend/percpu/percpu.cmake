# Front end `percpu`: its fallback (and its NUMA remote lists) are front end
# `freelist`'s, whose slow paths it compiles too. Read by spanlab_policy_settings.
list(APPEND SPANLAB_POLICY_SOURCES core/frontend/freelist/freelist.c)
