r"""The robustness benchmark: every system, clean- and noise-trained.

A grid file (:mod:`.grid`) names the systems, training regimes, seeds,
folds and test conditions; each combination is one recipe run in its own
folder. The runs go to an executor (:mod:`.executors`: local, local in
parallel, or ``submitit`` for SLURM), finished runs are skipped on a
re-run, and :mod:`.leaderboard` pools folds and seeds into
``leaderboard.md``, ``leaderboard.json`` and plots::

    python -m speechbrain_ext.benchmark --grid demo \
        --output results/benchmark_demo --workers 2 --threads 1
    python -m speechbrain_ext.benchmark --grid paper \
        --output /scratch/benchmark --executor submitit \
        --partition gpu --gpus_per_node 1 --timeout_min 1440 --dry_run

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

from speechbrain_ext.benchmark.executors import (
    CellJob,
    run_local,
    run_submitit,
    slurm_script,
)
from speechbrain_ext.benchmark.grid import Cell, Grid, find_grid
from speechbrain_ext.benchmark.leaderboard import write_leaderboard

__all__ = [
    "Cell",
    "CellJob",
    "Grid",
    "find_grid",
    "run_local",
    "run_submitit",
    "slurm_script",
    "write_leaderboard",
]
