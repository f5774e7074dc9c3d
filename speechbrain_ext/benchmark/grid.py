"""Benchmark grids: systems x training regimes x seeds x folds.

A grid is a HyperPyYAML file. It names the systems (a recipe's
``train.py``, its yaml and overrides), the training regimes (overrides
such as ``noise_prob: 1.0``), the seeds, the protocol and folds and the
condition set every run is tested on. Each combination is a
:class:`Cell`: one run of the recipe into its own folder,
``<output_folder>/<system>/<regime>/seed<seed>/fold<fold>``, so that the
folds of one (system, regime, seed) pool as cross-validation folds do.

A grid may name ``comparisons`` (a joint system and its single-task
baselines: does the joint one degrade less under noise?) and
``directions`` (a paper's claim that one system is above another in a
metric under a condition), which the leaderboard checks against the seed
spread. It may also list ``prerequisites``: runs that some systems need before
they start (for example the pre-training whose export a fine-tuning
recipe loads). They run into ``<output_folder>/prerequisites/<name>`` and
are finished when their ``done`` file exists.

The grid's keys (``seeds`` etc.) can be overridden like a recipe's; other
top-level keys are variables for ``!ref`` (data folders...), and
``output_folder`` and ``recipes_folder``, where the grid declares them
(``output_folder: !PLACEHOLDER``), are filled by the benchmark command,
so paths in a grid are written as
``!ref <recipes_folder>/recipes/...`` and
``!ref <output_folder>/data/...``.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import dataclasses
import json
import os
import re
import sys

from hyperpyyaml import load_hyperpyyaml

from speechbrain_ext.augment.conditions import conditions_of_set

SYSTEM_KEYS = {"script", "hparams", "overrides", "protocol", "folds", "after"}
PREREQUISITE_KEYS = {"script", "hparams", "overrides", "done"}
CELL_RECORD = "benchmark_cell.json"


def grids_folder():
    """The folder of the grids installed with the package.

    Returns
    -------
    str
        Absolute path of ``hparams/grids``.

    Example
    -------
    >>> {"demo.yaml", "paper.yaml"} <= set(os.listdir(grids_folder()))
    True
    """
    from speechbrain_ext.hparams import hparams_folder

    return os.path.join(hparams_folder(), "grids")


def find_grid(name_or_path):
    """The path of a grid file, given a packaged grid's name or a path.

    Arguments
    ---------
    name_or_path : str
        ``demo``, ``paper``... or the path of a yaml file.

    Returns
    -------
    str
        Absolute path of the grid file.

    Raises
    ------
    FileNotFoundError
        When neither a file nor a packaged grid has that name.

    Example
    -------
    >>> os.path.basename(find_grid("demo"))
    'demo.yaml'
    >>> find_grid("nope")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No grid 'nope': not a file, and not a packaged grid ...
    """
    if os.path.isfile(name_or_path):
        return os.path.abspath(name_or_path)
    path = os.path.join(grids_folder(), f"{name_or_path}.yaml")
    if os.path.isfile(path):
        return path
    names = sorted(
        f[: -len(".yaml")]
        for f in os.listdir(grids_folder())
        if f.endswith(".yaml")
    )
    raise FileNotFoundError(
        f"No grid {name_or_path!r}: not a file, and not a packaged grid "
        f"({', '.join(names)} in {grids_folder()})"
    )


@dataclasses.dataclass
class Cell:
    """One recipe run of a benchmark.

    Arguments
    ---------
    name : str
        ``<system>/<regime>/seed<seed>/fold<fold>``, or
        ``prerequisites/<name>``.
    folder : str
        The run's output folder.
    command : list of str
        The command line (interpreter, script, yaml, overrides).
    cwd : str
        The folder the command runs in (the recipe's).
    done : list of str
        Files, relative to ``folder``, that exist once the run finished.
    system, regime : str
        What the cell measures (None for prerequisites).
    seed, fold : int
        The seed and fold (None for prerequisites).
    """

    name: str
    folder: str
    command: list
    cwd: str
    done: list
    system: str = None
    regime: str = None
    seed: int = None
    fold: int = None

    def finished(self):
        """Whether every ``done`` file of the cell exists."""
        return all(
            os.path.isfile(os.path.join(self.folder, f)) for f in self.done
        )

    def to_dict(self):
        """The cell as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


def _argument(key, value):
    """One ``--key=value`` override; lists and dicts as yaml flow."""
    if isinstance(value, (list, dict, tuple)):
        value = json.dumps(value)
    elif isinstance(value, bool):
        value = str(value)
    return f"--{key}={value}"


def _check_keys(entry, allowed, what, path):
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: {what} must be a mapping, not {entry!r}")
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(
            f"{path}: {what} has unknown keys {unknown}; "
            f"allowed: {sorted(allowed)}"
        )
    for key in ("script", "hparams"):
        if key not in entry:
            raise ValueError(f"{path}: {what} has no {key!r}")
        if not os.path.isfile(entry[key]):
            raise FileNotFoundError(
                f"{path}: {what} {key} {entry[key]} does not exist "
                "(is --recipes_folder the collection's root?)"
            )


class Grid:
    """A loaded benchmark grid.

    Arguments
    ---------
    path : str
        A grid file or the name of a packaged grid.
    output_folder : str
        Where the benchmark writes its runs.
    recipes_folder : str
        The folder holding ``recipes/`` (default: the current directory).
    overrides : dict, optional
        Overrides of the grid's keys (e.g. ``{"seeds": [1986]}``).
    python : str
        The interpreter that runs the recipes.

    Example
    -------
    >>> import tempfile
    >>> root = os.path.dirname(os.path.dirname(grids_folder()))
    >>> grid = Grid("demo", tempfile.mkdtemp(), recipes_folder=root)
    >>> cells = grid.cells()
    >>> len(cells) == len(grid.systems) * 2 * 3
    True
    >>> cells[0].name
    'joint/clean/seed1986/fold1'
    >>> "--noise_prob=1.0" in cells[3].command
    True
    """

    def __init__(
        self,
        path,
        output_folder,
        recipes_folder=".",
        overrides=None,
        python=sys.executable,
    ):
        self.path = find_grid(path)
        self.output_folder = os.path.abspath(output_folder)
        self.recipes_folder = os.path.abspath(recipes_folder)
        self.python = python
        placeholders = {
            "output_folder": self.output_folder,
            "recipes_folder": self.recipes_folder,
        }
        with open(self.path, encoding="utf-8") as fin:
            text = fin.read()
        placeholders = {
            key: value
            for key, value in placeholders.items()
            if re.search(rf"^{key}\s*:", text, re.M)
        }
        data = load_hyperpyyaml(text, {**placeholders, **(overrides or {})})
        for key in ("seeds", "regimes", "systems", "test_conditions"):
            if not data.get(key):
                raise ValueError(f"{self.path}: {key!r} is missing or empty")
        self.name = data.get("name") or os.path.basename(self.path)[:-5]
        self.seeds = [int(s) for s in data["seeds"]]
        self.protocol = data.get("protocol")
        self.folds = [int(f) for f in data.get("folds") or [1]]
        self.test_conditions = data["test_conditions"]
        self.conditions = conditions_of_set(self.test_conditions)
        self.regimes = data["regimes"]
        self.systems = data["systems"]
        self.prerequisites = data.get("prerequisites") or {}
        for name, system in self.systems.items():
            _check_keys(system, SYSTEM_KEYS, f"system {name!r}", self.path)
            for after in system.get("after") or []:
                if after not in self.prerequisites:
                    raise ValueError(
                        f"{self.path}: system {name!r} runs after "
                        f"{after!r}, which is not a prerequisite"
                    )
        for name, entry in self.prerequisites.items():
            _check_keys(
                entry, PREREQUISITE_KEYS, f"prerequisite {name!r}", self.path
            )
        self.tables = data.get("tables") or {self.name: list(self.systems)}
        for table, names in self.tables.items():
            missing = sorted(set(names) - set(self.systems))
            if missing:
                raise ValueError(
                    f"{self.path}: table {table!r} names unknown systems "
                    f"{missing}"
                )
        self.comparisons = data.get("comparisons") or {}
        self.directions = data.get("directions") or []
        for direction in self.directions:
            missing = {"better", "worse", "metric", "condition"} - set(
                direction
            )
            if missing:
                raise ValueError(
                    f"{self.path}: direction {direction} has no "
                    f"{sorted(missing)}"
                )
            for name in (direction["better"], direction["worse"]):
                if name not in self.systems:
                    raise ValueError(
                        f"{self.path}: direction names unknown system {name!r}"
                    )
        for joint, singles in self.comparisons.items():
            for name in [joint, *singles.values()]:
                if name not in self.systems:
                    raise ValueError(
                        f"{self.path}: comparison names unknown system {name!r}"
                    )

    @property
    def condition_names(self):
        """Names of the grid's test conditions, in order."""
        return [c.name for c in self.conditions]

    def select(self, systems=None, regimes=None, seeds=None):
        """Keeps only some systems, regimes or seeds (None keeps all).

        Arguments
        ---------
        systems, regimes : list of str, optional
            Names to keep.
        seeds : list of int, optional
            Seeds to keep.
        """
        for what, chosen, known in (
            ("system", systems, self.systems),
            ("regime", regimes, self.regimes),
        ):
            unknown = sorted(set(chosen or ()) - set(known))
            if unknown:
                raise ValueError(
                    f"unknown {what}s {unknown}; the grid has {list(known)}"
                )
        if systems:
            self.systems = {k: self.systems[k] for k in systems}
            self.tables = {
                t: [s for s in names if s in self.systems]
                for t, names in self.tables.items()
            }
            self.tables = {t: n for t, n in self.tables.items() if n}
        if regimes:
            self.regimes = {k: self.regimes[k] for k in regimes}
        if seeds:
            self.seeds = [s for s in self.seeds if s in seeds] or list(seeds)

    def system_folder(self, system, regime, seed):
        """Parent of the fold folders of one system, regime and seed."""
        return os.path.join(self.output_folder, system, regime, f"seed{seed}")

    def _command(self, entry, overrides):
        """The command line of a system or prerequisite with overrides."""
        return [
            self.python,
            entry["script"],
            entry["hparams"],
            *(_argument(k, v) for k, v in overrides.items()),
        ]

    def prerequisite_cells(self, names=None):
        """The prerequisite runs (all, or those in ``names``)."""
        cells = []
        for name, entry in self.prerequisites.items():
            if names is not None and name not in names:
                continue
            folder = os.path.join(self.output_folder, "prerequisites", name)
            overrides = dict(entry.get("overrides") or {})
            overrides["output_folder"] = folder
            command = self._command(entry, overrides)
            cells.append(
                Cell(
                    name=f"prerequisites/{name}",
                    folder=folder,
                    command=command,
                    cwd=os.path.dirname(entry["script"]),
                    done=[entry["done"]],
                )
            )
        return cells

    def needed_prerequisites(self):
        """Names of the prerequisites the selected systems run after."""
        return sorted(
            {a for s in self.systems.values() for a in s.get("after") or []}
        )

    def cells(self):
        """Every run of the grid: systems x regimes x seeds x folds."""
        cells = []
        done = ["test_results/metrics.json"] + [
            os.path.join("test_results", name, "predictions.csv")
            for name in self.condition_names
        ]
        for system, entry in self.systems.items():
            protocol = entry.get("protocol", self.protocol)
            folds = [int(f) for f in entry.get("folds") or self.folds]
            for regime, regime_overrides in self.regimes.items():
                for seed in self.seeds:
                    for fold in folds:
                        folder = os.path.join(
                            self.system_folder(system, regime, seed),
                            f"fold{fold}",
                        )
                        overrides = {
                            **(entry.get("overrides") or {}),
                            **(regime_overrides or {}),
                            "seed": seed,
                            "fold": fold,
                            "test_conditions": self.test_conditions,
                            "output_folder": folder,
                        }
                        if protocol:
                            overrides["protocol"] = protocol
                        command = self._command(entry, overrides)
                        cells.append(
                            Cell(
                                name=f"{system}/{regime}/seed{seed}/fold{fold}",
                                folder=folder,
                                command=command,
                                cwd=os.path.dirname(entry["script"]),
                                done=done,
                                system=system,
                                regime=regime,
                                seed=seed,
                                fold=fold,
                            )
                        )
        return cells
