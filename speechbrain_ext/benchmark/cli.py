"""Command line of the benchmark: run a grid's cells, then the leaderboard.

Example::

    python -m speechbrain_ext.benchmark --grid demo \
        --output results/benchmark_demo --workers 2 --threads 1

runs every cell of ``hparams/grids/demo.yaml`` that is not finished yet
(two recipe processes at a time, one torch thread each) and writes
``results/benchmark_demo/leaderboard.md``. ``--executor submitit`` sends
the cells to SLURM as a job array (``--partition``, ``--gpus_per_node``,
``--timeout_min``, ``--array_parallelism``...), ``--dry_run`` prints the
runs and the sbatch scripts without starting anything, and
``--aggregate_only`` only rewrites the leaderboard from finished cells.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import json
import logging
import os
import shlex
import sys

import yaml

from speechbrain_ext.benchmark.executors import (
    SLURM_PARAMETERS,
    read_record,
    run_local,
    run_submitit,
    slurm_script,
)
from speechbrain_ext.benchmark.grid import Grid
from speechbrain_ext.benchmark.leaderboard import write_leaderboard
from speechbrain_ext.utils.cross_validation import split_overrides

logger = logging.getLogger(__name__)


def _names(text, kind=str):
    return [kind(x) for x in text.split(",") if x] if text else None


def parse_arguments(argv=None):
    """The benchmark's command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_ext.benchmark",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--grid",
        required=True,
        help="a packaged grid (demo, paper...) or a file",
    )
    parser.add_argument(
        "--output", required=True, help="folder of the runs and leaderboard"
    )
    parser.add_argument(
        "--recipes_folder",
        default=".",
        help="the collection's root, which holds recipes/ (default: .)",
    )
    parser.add_argument("--systems", help="comma-separated subset of systems")
    parser.add_argument("--regimes", help="comma-separated subset of regimes")
    parser.add_argument("--seeds", help="comma-separated subset of seeds")
    parser.add_argument(
        "--executor", choices=("local", "submitit"), default="local"
    )
    parser.add_argument(
        "--cluster",
        choices=("slurm", "local", "debug"),
        default=None,
        help="submitit cluster (default: slurm where srun exists, else local)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="local executor: runs at once"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads per run"
    )
    for name in SLURM_PARAMETERS:
        kind = (
            str
            if name in ("partition", "account", "qos", "constraint")
            else int
        )
        if name == "mem_gb":
            kind = float
        parser.add_argument(f"--{name}", type=kind, default=None)
    parser.add_argument(
        "--dry_run",
        action="store_true",
        help="print the runs (and sbatch scripts) without starting them",
    )
    parser.add_argument(
        "--aggregate_only",
        action="store_true",
        help="only write the leaderboard from the finished cells",
    )
    return parser.parse_args(argv)


def waves(grid, prerequisites, cells):
    """The runs in two waves: what needs nothing, then the rest.

    The second wave holds the runs of systems that need a prerequisite
    (the A2W fine-tuning after its pre-training...).
    """
    after = {c.name for c in cells if grid.systems[c.system].get("after")}
    first = prerequisites + [c for c in cells if c.name not in after]
    second = [c for c in cells if c.name in after]
    return [("first wave", first), ("after the prerequisites", second)]


def dry_run(grid, args, prerequisites, cells):
    """Prints the runs and, for ``submitit``, the sbatch scripts."""
    slurm = {k: getattr(args, k) for k in SLURM_PARAMETERS}
    for wave, todo in waves(grid, prerequisites, cells):
        if not todo:
            continue
        print(f"# {wave}: {len(todo)} runs")
        for cell in todo:
            state = "finished" if cell.finished() else "to run"
            print(f"# {cell.name} ({state})")
            print(f"cd {shlex.quote(cell.cwd)} && {shlex.join(cell.command)}")
        if args.executor == "submitit":
            folder = os.path.join(grid.output_folder, "submitit")
            print(f"# sbatch script of the {wave} job array:")
            print(slurm_script(todo, folder, python=grid.python, **slurm))


def grid_overrides(arguments):
    """``--key=value`` arguments (after ``--``) as grid overrides.

    Values are read as yaml, as SpeechBrain reads a recipe's overrides.

    Example
    -------
    >>> grid_overrides(["--seeds=[1986, 1987]", "--musan_folder=/data/m"])
    {'seeds': [1986, 1987], 'musan_folder': '/data/m'}
    """
    overrides = {}
    for argument in arguments:
        if not argument.startswith("--") or "=" not in argument:
            raise ValueError(
                f"grid override {argument!r}: expected --key=value"
            )
        key, value = argument[2:].split("=", 1)
        overrides[key] = yaml.safe_load(value)
    return overrides


def main(argv=None):
    """Runs the benchmark; returns the leaderboard (None on a dry run)."""
    argv, overrides = split_overrides(sys.argv[1:] if argv is None else argv)
    args = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    grid = Grid(
        args.grid,
        args.output,
        recipes_folder=args.recipes_folder,
        overrides=grid_overrides(overrides),
    )
    grid.select(
        systems=_names(args.systems),
        regimes=_names(args.regimes),
        seeds=_names(args.seeds, int),
    )
    prerequisites = grid.prerequisite_cells(grid.needed_prerequisites())
    cells = grid.cells()
    if args.dry_run:
        dry_run(grid, args, prerequisites, cells)
        return None
    os.makedirs(grid.output_folder, exist_ok=True)
    failures = []
    if not args.aggregate_only:
        slurm = {k: getattr(args, k) for k in SLURM_PARAMETERS}
        for wave, todo in waves(grid, prerequisites, cells):
            if not todo:
                continue
            if wave != "first wave" and any(
                not c.finished() for c in prerequisites
            ):
                failures += [
                    {"name": c.name, "error": "a prerequisite failed"}
                    for c in todo
                ]
                break
            if args.executor == "submitit":
                _, failed = run_submitit(
                    todo,
                    os.path.join(grid.output_folder, "submitit"),
                    cluster=args.cluster,
                    threads=args.threads,
                    **slurm,
                )
            else:
                _, failed = run_local(todo, args.workers, args.threads)
            failures += failed
    board = None
    try:
        board = write_leaderboard(
            grid, [read_record(c) or {} for c in prerequisites]
        )
    except FileNotFoundError as error:
        logger.warning("%s", error)
    if failures:
        with open(os.path.join(grid.output_folder, "failures.json"), "w") as f:
            json.dump(failures, f, indent=2)
        sys.exit(
            f"{len(failures)} runs failed (see their benchmark_log.txt): "
            + ", ".join(f["name"] for f in failures)
        )
    return board
