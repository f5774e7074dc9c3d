"""SpeechBrain's own consistency checks and recipe-test harness, on this repo.

The tools are verbatim copies of SpeechBrain's (``tests/speechbrain_upstream``,
see its README); they are called here with this repository's folders, from
the repository root as upstream's CI does:

* ``check_yaml_vs_script`` for every row of ``tests/recipes/*.csv``;
* ``check_docstrings`` on ``speechbrain_ext/`` and ``recipes/``;
* ``test_recipe_list``, ``test_recipe_files``, ``test_mandatory_files`` and
  ``test_README_links`` (``tests/consistency/test_recipe.py`` upstream);
* ``run_recipe_tests``: each row's ``test_debug_flags`` with ``--debug``,
  its setup script under ``tests/recipes/setup/`` and its
  ``test_debug_checks`` (slow), in a temporary copy of the repository,
  the recipes split over two single-threaded harness calls that run side
  by side. Every full-size yaml and every demo yaml is run, except the
  demo yamls that ``tests/integration/recipes/test_every_family.py``
  already trains, tests and exports end to end (one per family).
"""

import concurrent.futures
import csv
import glob
import importlib
import os
import shutil
import subprocess
import sys

import pytest

from tests.speechbrain_upstream import check_docstrings as upstream_docstrings
from tests.speechbrain_upstream import check_yaml as upstream_yaml
from tests.speechbrain_upstream import recipe_tests as upstream_harness
from tests.speechbrain_upstream import test_recipe as upstream_recipe

ROOT = os.path.abspath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
)
RECIPE_FOLDER = "tests/recipes"  # one csv per dataset, and setup/
SEARCH_FOLDER = "recipes"
# Folders whose Python files need docstrings (prefixes of the paths that
# upstream's check lists from "."; a bare "recipes" would also match
# tests/integration/recipes)
DOCSTRING_FOLDERS = ["./speechbrain_ext/", "./recipes/"]
# What the recipe-test run needs, copied into a temporary folder
MIRRORED = ["recipes", "tests/recipes", "tests/samples"]


def _rows():
    rows = []
    for table in sorted(glob.glob(os.path.join(ROOT, RECIPE_FOLDER, "*.csv"))):
        with open(table, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, skipinitialspace=True)
            for row in reader:
                row["csv"] = os.path.basename(table)
                rows.append(row)
    return rows


ROWS = _rows()


def _trained_end_to_end():
    """The demo yamls of the families' session runs (absolute paths).

    ``tests/integration/recipes/family_<name>.py`` names each family's
    yaml; the joint family's run (``trained_joint``) trains
    ``joint_demo.yaml``.
    """
    from tests.integration.recipes.helpers import RECIPE as JOINT_RECIPE

    yamls = {os.path.join(JOINT_RECIPE, "hparams", "joint_demo.yaml")}
    pattern = os.path.join(ROOT, "tests", "integration", "recipes", "family_*")
    for path in glob.glob(pattern + ".py"):
        name = os.path.basename(path)[: -len(".py")]
        family = importlib.import_module(
            f"tests.integration.recipes.{name}"
        ).FAMILY
        yaml = os.path.basename(family["yaml"])
        yamls.add(os.path.join(family["recipe"], "hparams", yaml))
    return yamls


def _harness_rows():
    """The rows whose ``--debug`` run the harness test makes."""
    trained = _trained_end_to_end()
    return [
        row
        for row in ROWS
        if os.path.join(ROOT, row["Hparam_file"].strip()) not in trained
    ]


def _row_id(row):
    return f"{row['csv']}:{os.path.basename(row['Hparam_file'])}"


@pytest.fixture
def in_root(monkeypatch):
    """Runs a test from the repository root (upstream's paths are relative)."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_yaml_keys_used_by_script(row, in_root):
    hparams, script = row["Hparam_file"].strip(), row["Script_file"].strip()
    assert upstream_yaml.check_yaml_vs_script(hparams, script), (
        f"{hparams}: a top-level key is used neither in the yaml nor in "
        f"{script} (see the captured stdout)"
    )


def test_docstrings(in_root):
    assert upstream_docstrings.check_docstrings(".", DOCSTRING_FOLDERS), (
        "a function or class has no docstring (see the captured stdout)"
    )


def test_every_yaml_is_listed(in_root):
    upstream_recipe.test_recipe_list(
        search_folder=SEARCH_FOLDER, recipe_folder=RECIPE_FOLDER
    )


def test_listed_files_exist(in_root):
    upstream_recipe.test_recipe_files(recipe_folder=RECIPE_FOLDER)


def test_mandatory_files(in_root):
    upstream_recipe.test_mandatory_files(recipe_folder=RECIPE_FOLDER)


def test_readme_links(in_root):
    upstream_recipe.test_README_links(recipe_folder=RECIPE_FOLDER)


def test_family_runs_cover_the_rows_left_out():
    """The demo yamls left to the families' end-to-end runs are csv rows
    (a renamed yaml would otherwise leave both tests)."""
    listed = {os.path.join(ROOT, r["Hparam_file"].strip()) for r in ROWS}
    trained = _trained_end_to_end()
    assert trained <= listed, sorted(trained - listed)
    assert len(_harness_rows()) == len(ROWS) - len(trained)


def test_recipe_folder_holds_only_tables():
    """Upstream's harness reads every entry but README.md/setup as a csv."""
    entries = set(os.listdir(os.path.join(ROOT, RECIPE_FOLDER)))
    extra = sorted(
        e for e in entries - {"README.md", "setup"} if not e.endswith(".csv")
    )
    assert not extra, f"{RECIPE_FOLDER} must hold csv files only: {extra}"


def _mirror(dest):
    """Copies what the recipe tests read into ``dest`` (nothing else)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for path in MIRRORED:
        shutil.copytree(
            os.path.join(ROOT, path), os.path.join(dest, path), ignore=skip
        )


def _tail(path, n_chars=6000):
    if not os.path.exists(path):
        return f"({path} missing)"
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-n_chars:]


@pytest.mark.slow
def test_recipe_debug_runs(tmp_path, monkeypatch):
    """Every csv row, run by upstream's harness as its CI does."""
    mirror = tmp_path / "repo"
    _mirror(mirror)
    output_folder = mirror / "tests" / "tmp"
    monkeypatch.chdir(mirror)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # "python" in the harness and the setup scripts: this interpreter
    bindir = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ["PATH"])

    # The harness replaces PYTHONPATH by the recipe folder: the collection
    # must be importable from the installed package alone
    probe = subprocess.run(
        ["python", "-c", "import speechbrain_ext"],
        env=dict(os.environ, PYTHONPATH=str(mirror / SEARCH_FOLDER)),
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, (
        "speechbrain_ext is not installed (pip install -e .): "
        + probe.stderr[-2000:]
    )

    # One thread per run: the two harness calls share the two cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rows = _harness_rows()
    hparams = [r["Hparam_file"] for r in rows]
    # The rows of one recipe stay together (their setup scripts share
    # files); the recipes are split over two harness calls that run side
    # by side, one per core.
    scripts = sorted({r["Script_file"] for r in rows})
    counts = {s: sum(r["Script_file"] == s for r in rows) for s in scripts}
    groups = [[], []]
    for script in sorted(scripts, key=counts.get, reverse=True):
        lighter = min(groups, key=lambda g: sum(counts[s] for s in g))
        lighter.append(script)

    def harness(group):
        return upstream_harness.run_recipe_tests(
            recipe_folder=RECIPE_FOLDER,
            run_opts="--device=cpu",
            output_folder=str(output_folder),
            filters_fields=["Script_file", "Hparam_file"],
            filters=[group, hparams],
        )

    with concurrent.futures.ThreadPoolExecutor(len(groups)) as pool:
        passed = all(pool.map(harness, groups))

    failed = sorted(
        d
        for d in os.listdir(output_folder)
        if os.path.isfile(output_folder / d / "stdout.txt")
        and not os.path.exists(output_folder / d / ".passed")
    )
    for recipe_id in failed:
        print(f"===== {recipe_id}: stderr.txt (end) =====")
        print(_tail(output_folder / recipe_id / "stderr.txt"))
        print(f"===== {recipe_id}: stdout.txt (end) =====")
        print(_tail(output_folder / recipe_id / "stdout.txt"))
    assert passed, f"recipe rows failed: {failed or 'see the captured log'}"
    n_passed = sum(
        os.path.exists(output_folder / d / ".passed")
        for d in os.listdir(output_folder)
    )
    assert n_passed == sum(bool(r["test_debug_flags"].strip()) for r in rows)
