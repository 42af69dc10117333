# Front end `tiny` is built on the bitmap core (core/frontend/bitmap/bmcore.[ch]), whose
# slow paths it compiles too. Read by spanlab_policy_settings (CMakeLists.txt).
list(APPEND SPANLAB_POLICY_SOURCES core/frontend/bitmap/bmcore.c)
