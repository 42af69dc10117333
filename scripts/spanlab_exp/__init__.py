"""spanlab experiment runner: specs, builds, the run matrix, results, plots.

The command-line entry points are scripts/spanlab-exp and scripts/spanlab-trace;
experiments/README.md is the user documentation. Modules, in the order a run uses
them:

  spec       -- read and validate an experiment spec (TOML) into Spec / Workload
  runner     -- `run` as plan, prepare, execute_plan, finish (cli.py calls them)
  build      -- variant names, baseline allocators, building missing targets with CMake
  machine    -- metadata about the machine, the build, the run and its load
  run        -- cells, their order and shards, results.csv rows, progress
  execute    -- one cell: the launcher (launch.c), its report, the row's status
  apps       -- application workloads: programs, parameters, answer checks
  apps_redis -- the redis server, its load generator and data check
  latency    -- latency histograms (buckets shared with bench/trace/hist.h)
  stats      -- bootstrap intervals, verdicts, --until-ci
  results    -- reading a results folder, aggregating repetitions, series files
  plot       -- matplotlib figures (PNG and SVG)
  report     -- summary.md
  merge      -- joining results folders from shards or machines
  trace      -- allocation trace files (bench/trace/trace_format.h)
"""
