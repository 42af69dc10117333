"""spanlab experiment runner: specs, builds, the run matrix, results, plots.

The command-line entry point is scripts/spanlab-exp; experiments/README.md is the
user documentation. Modules, in the order a run uses them:

  spec     -- read and validate an experiment spec (TOML)
  build    -- variant names, baseline allocators, building missing variants with CMake
  machine  -- metadata about the machine, the build and the run
  run      -- the matrix of cells, running one cell, results.csv, progress, resume
  results  -- reading results.csv and aggregating repetitions
  plot     -- matplotlib figures (PNG and SVG)
  report   -- summary.md
  merge    -- joining results folders from shards or machines
"""
