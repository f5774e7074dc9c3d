r"""SpeechBrain's own checks, run in a checkout that holds the export.

Each check runs the checkout's tools (``tests/consistency``,
``tests/utils/check_yaml.py``, ``tests/utils/check_docstrings.py``,
``tests/utils/recipe_tests.py``) with a Python that imports the checkout's
``speechbrain``, from the checkout's root, as SpeechBrain's CI does::

    python -m speechbrain_ext.upstream.checks \
        --speechbrain_folder ../speechbrain --python /venv/bin/python

* ``consistency``: ``pytest tests/consistency``;
* ``check_yaml``: ``check_yaml_vs_script`` for every exported csv row;
* ``check_docstrings``: on every exported Python file;
* ``doctests``: ``pytest --doctest-modules`` on the exported modules
  (``__main__.py`` files excepted, as in a run on a folder);
* ``recipe_tests``: ``run_recipe_tests`` on the exported rows (filtered by
  ``Hparam_file``), on upstream's ``tests/samples``, with the checks of
  ``test_debug_checks``; the setup scripts run first, one at a time, then
  the recipes in parallel groups (the rows of one recipe stay together).

:func:`checkout_python` makes a Python that imports ``speechbrain`` from a
checkout (a virtual environment over the installed packages).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time

from speechbrain_ext.upstream.export import (
    ExportError,
    plan_export,
    setup_script_path,
)

OUTPUT_FOLDER = "tests/tmp/upstream_export_checks"
"""Where the recipe tests write (emptied before each run)."""
ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "MPLBACKEND": "Agg",
}


@dataclasses.dataclass
class CheckResult:
    """The outcome of one check.

    Arguments
    ---------
    name : str
        The check (``consistency``, ``check_yaml``...).
    passed : bool
        Whether it passed.
    summary : str
        Counts, e.g. ``188 passed``.
    output : str
        The end of its output (for a failure).
    seconds : float
        How long it ran.
    """

    name: str
    passed: bool
    summary: str
    output: str = ""
    seconds: float = 0.0


def checkout_python(speechbrain_folder, venv_folder):
    """A Python that imports ``speechbrain`` from a checkout.

    A virtual environment over the installed packages
    (``--system-site-packages``) whose ``.pth`` file puts the checkout
    before them; nothing is installed.

    Arguments
    ---------
    speechbrain_folder : str
        The checkout.
    venv_folder : str
        Where to create the environment.

    Returns
    -------
    str
        The environment's ``python``.
    """
    subprocess.run(
        [
            sys.executable,
            "-m",
            "venv",
            "--system-site-packages",
            "--without-pip",
            venv_folder,
        ],
        check=True,
    )
    python = os.path.join(venv_folder, "bin", "python")
    site = subprocess.run(
        [
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(site, "speechbrain_checkout.pth"), "w") as f:
        f.write(os.path.abspath(speechbrain_folder) + "\n")
    return python


def _environment(python):
    env = dict(os.environ, **ENVIRONMENT)
    env.pop("PYTHONPATH", None)
    # "python" in the harness and the setup scripts: this interpreter
    env["PATH"] = os.path.dirname(python) + os.pathsep + env["PATH"]
    return env


def _run(command, folder, python, timeout=None):
    done = subprocess.run(
        command,
        cwd=folder,
        env=_environment(python),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout + done.stderr


def _pytest_counts(output):
    """``3 passed, 1 failed``-style summary of a pytest output.

    Arguments
    ---------
    output : str
        pytest's output.

    Returns
    -------
    str
        The counts of its last summary line.

    Example
    -------
    >>> _pytest_counts("6 passed, 1 warning in 44.00s")
    '6 passed, 1 warning'
    """
    found = re.findall(
        r"(\d+ (?:passed|failed|errors?|skipped|warnings?|xfailed))", output
    )
    last = output.strip().splitlines()[-1] if output.strip() else ""
    counts = [c for c in found if c in last]
    return ", ".join(counts) if counts else last[-200:]


def _python_check(name, code, folder, python, timeout=None):
    """Runs ``code`` (which prints a JSON list of failures) in the checkout."""
    status, output = _run([python, "-c", code], folder, python, timeout)
    match = re.search(r"^FAILURES (.*)$", output, re.MULTILINE)
    if status != 0 or match is None:
        return CheckResult(name, False, f"exit status {status}", output[-6000:])
    failures = json.loads(match.group(1))
    checked = re.search(r"^CHECKED (\d+)$", output, re.MULTILINE).group(1)
    summary = f"{int(checked) - len(failures)} of {checked} passed"
    if failures:
        summary += ": failed " + ", ".join(failures)
    return CheckResult(name, not failures, summary, output[-6000:])


def check_consistency(folder, python, timeout=None):
    """``pytest tests/consistency`` in the checkout.

    Arguments
    ---------
    folder : str
        The checkout.
    python : str
        A Python that imports the checkout's ``speechbrain``.
    timeout : float, optional
        Seconds before the check is stopped.

    Returns
    -------
    CheckResult
        With pytest's counts.
    """
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    status, output = _run(
        command + ["tests/consistency"], folder, python, timeout
    )
    return CheckResult(
        "consistency", status == 0, _pytest_counts(output), output[-6000:]
    )


def check_yaml(folder, python, rows, timeout=None):
    """``check_yaml_vs_script`` for each row.

    Arguments
    ---------
    folder : str
        The checkout.
    python : str
        A Python that imports the checkout's ``speechbrain``.
    rows : list of dict
        csv rows (``Hparam_file``, ``Script_file``).
    timeout : float, optional
        Seconds before the check is stopped.

    Returns
    -------
    CheckResult
        With the count of rows that pass.
    """
    pairs = [(r["Hparam_file"].strip(), r["Script_file"].strip()) for r in rows]
    code = (
        "import json\n"
        "from tests.utils.check_yaml import check_yaml_vs_script\n"
        f"pairs = {pairs!r}\n"
        "failed = [h for h, s in pairs if not check_yaml_vs_script(h, s)]\n"
        "print('CHECKED', len(pairs))\n"
        "print('FAILURES', json.dumps(failed))\n"
    )
    return _python_check("check_yaml", code, folder, python, timeout)


def check_docstrings(folder, python, files, timeout=None):
    """``check_docstrings`` on the given Python files.

    Arguments
    ---------
    folder : str
        The checkout.
    python : str
        A Python that imports the checkout's ``speechbrain``.
    files : list of str
        Python files, relative to the checkout.
    timeout : float, optional
        Seconds before the check is stopped.

    Returns
    -------
    CheckResult
        With the count of files that pass.
    """
    code = (
        "import json\n"
        "from tests.utils.check_docstrings import check_docstrings\n"
        f"files = {sorted(files)!r}\n"
        "failed = [f for f in files if not check_docstrings('.', [f])]\n"
        "print('CHECKED', len(files))\n"
        "print('FAILURES', json.dumps(failed))\n"
    )
    return _python_check("check_docstrings", code, folder, python, timeout)


def check_doctests(folder, python, files, timeout=None):
    """``pytest --doctest-modules`` on the given modules.

    Arguments
    ---------
    folder : str
        The checkout.
    python : str
        A Python that imports the checkout's ``speechbrain``.
    files : list of str
        Python files, relative to the checkout.
    timeout : float, optional
        Seconds before the check is stopped.

    Returns
    -------
    CheckResult
        With pytest's counts.
    """
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    status, output = _run(
        command + ["--doctest-modules"] + sorted(files),
        folder,
        python,
        timeout,
    )
    return CheckResult(
        "doctests", status == 0, _pytest_counts(output), output[-6000:]
    )


def check_recipes(folder, python, rows, groups=2, timeout=None):
    """``run_recipe_tests`` on the given rows, in parallel groups.

    Arguments
    ---------
    folder : str
        The checkout.
    python : str
        A Python that imports the checkout's ``speechbrain``.
    rows : list of dict
        csv rows (``Hparam_file``, ``Script_file``).
    groups : int
        Harness calls run side by side; the rows of one recipe share one.
    timeout : float, optional
        Seconds before each harness call is stopped.

    Returns
    -------
    CheckResult
        With the count of rows that pass, and the end of the logs of the
        rows that fail.
    """
    output_folder = os.path.join(folder, OUTPUT_FOLDER)
    shutil.rmtree(output_folder, ignore_errors=True)
    os.makedirs(output_folder)
    env = _environment(python)
    # setup scripts first, one at a time: rows of several recipes build the
    # same tiny models
    for row in rows:
        script = setup_script_path(
            row["Script_file"].strip(), row["Hparam_file"].strip()
        )
        if os.path.exists(os.path.join(folder, script)):
            done = subprocess.run(
                [os.path.join(".", script)],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if done.returncode != 0:
                return CheckResult(
                    "recipe_tests",
                    False,
                    f"setup script {script} failed",
                    (done.stdout + done.stderr)[-6000:],
                )
    by_script = {}
    for row in rows:
        by_script.setdefault(row["Script_file"].strip(), []).append(
            row["Hparam_file"].strip()
        )
    batches = [[] for _ in range(max(1, min(groups, len(by_script))))]
    for script in sorted(by_script, key=lambda s: -len(by_script[s])):
        min(batches, key=len).extend(by_script[script])
    calls = []
    for batch in batches:
        code = (
            "import sys\n"
            "from tests.utils.recipe_tests import run_recipe_tests\n"
            "ok = run_recipe_tests(filters_fields=['Hparam_file'], "
            f"filters=[{batch!r}], run_opts='--device=cpu', "
            f"output_folder={OUTPUT_FOLDER!r}, do_checks=True)\n"
            "sys.exit(0 if ok else 1)\n"
        )
        calls.append(
            subprocess.Popen(
                [python, "-c", code],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = []
    for call in calls:
        try:
            logs.append(call.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            call.kill()
            logs.append(call.communicate()[0] + "\n(timed out)")
    ran = sorted(
        d
        for d in os.listdir(output_folder)
        if os.path.isfile(os.path.join(output_folder, d, "stdout.txt"))
    )
    passed = [
        d
        for d in ran
        if os.path.exists(os.path.join(output_folder, d, ".passed"))
    ]
    failed = [d for d in ran if d not in passed]
    details = "\n".join(logs)[-3000:]
    for recipe_id in failed:
        for name in ("stderr.txt", "stdout.txt"):
            path = os.path.join(output_folder, recipe_id, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                details += (
                    f"\n===== {recipe_id}/{name} =====\n" + f.read()[-3000:]
                )
    ok = (
        all(call.returncode == 0 for call in calls)
        and len(passed) == len(rows)
        and not failed
    )
    summary = f"{len(passed)} of {len(rows)} rows passed"
    if failed:
        summary += ": failed " + ", ".join(failed)
    return CheckResult("recipe_tests", ok, summary, details)


def one_row_per_recipe(rows):
    """The first row of each recipe (``Script_file``).

    Arguments
    ---------
    rows : list of dict
        csv rows.

    Returns
    -------
    list of dict
        One row per script, in the order given.

    Example
    -------
    >>> rows = [{"Script_file": "a.py", "Hparam_file": "x.yaml"},
    ...         {"Script_file": "a.py", "Hparam_file": "y.yaml"},
    ...         {"Script_file": "b.py", "Hparam_file": "z.yaml"}]
    >>> [r["Hparam_file"] for r in one_row_per_recipe(rows)]
    ['x.yaml', 'z.yaml']
    """
    seen, chosen = set(), []
    for row in rows:
        if row["Script_file"].strip() not in seen:
            seen.add(row["Script_file"].strip())
            chosen.append(row)
    return chosen


def run_checks(
    speechbrain_folder,
    plan,
    python=sys.executable,
    rows=None,
    doctest_files=None,
    groups=2,
    timeout=None,
):
    """All the checks, on a checkout that holds the export of ``plan``.

    Arguments
    ---------
    speechbrain_folder : str
        The checkout.
    plan : speechbrain_ext.upstream.export.ExportPlan
        The export (:func:`~speechbrain_ext.upstream.export.plan_export` on
        the checkout, before or after writing it).
    python : str
        A Python that imports the checkout's ``speechbrain``
        (:func:`checkout_python`).
    rows : list of dict, optional
        The rows for the recipe tests (default: every exported row; ``[]``
        skips them).
    doctest_files : list of str, optional
        The modules to doctest (default: every exported module).
    groups : int
        Recipe-test harness calls run side by side.
    timeout : float, optional
        Seconds before each check is stopped.

    Returns
    -------
    list of CheckResult
        One per check, in the order of the module docstring.
    """
    folder = os.path.abspath(speechbrain_folder)
    all_rows = [r for table in plan.exported_rows.values() for r in table]
    python_files = sorted(t for t in plan.exported if t.endswith(".py"))
    if doctest_files is None:
        doctest_files = [
            f
            for f in python_files
            if not f.startswith("recipes/")
            and os.path.basename(f) != "__main__.py"
        ]
    rows = all_rows if rows is None else rows
    checks = [
        lambda: check_consistency(folder, python, timeout),
        lambda: check_yaml(folder, python, all_rows, timeout),
        lambda: check_docstrings(folder, python, python_files, timeout),
        lambda: check_doctests(folder, python, doctest_files, timeout),
    ]
    if rows:
        checks.append(
            lambda: check_recipes(folder, python, rows, groups, timeout)
        )
    results = []
    for check in checks:
        start = time.time()
        result = check()
        result.seconds = time.time() - start
        results.append(result)
    return results


def report(results):
    """A markdown table of check results.

    Arguments
    ---------
    results : list of CheckResult
        From :func:`run_checks`.

    Returns
    -------
    str
        One row per check.

    Example
    -------
    >>> print(report([CheckResult("doctests", True, "5 passed", "", 9.5)]))
    | check | result | counts | seconds |
    |---|---|---|---:|
    | doctests | passed | 5 passed | 10 |
    """
    lines = ["| check | result | counts | seconds |", "|---|---|---|---:|"]
    for r in results:
        state = "passed" if r.passed else "FAILED"
        lines.append(f"| {r.name} | {state} | {r.summary} | {r.seconds:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    """Runs the checks on a checkout that holds the export.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every check passes, 1 otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_ext.upstream.checks",
        description="Run SpeechBrain's checks on the exported collection.",
    )
    parser.add_argument("--speechbrain_folder", required=True)
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="a Python that imports the checkout's speechbrain",
    )
    parser.add_argument(
        "--rows",
        choices=["all", "one_per_recipe", "none"],
        default="all",
        help="exported rows for the recipe tests",
    )
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument(
        "--no_format",
        action="store_true",
        help="the export was made with --no_format",
    )
    args = parser.parse_args(argv)
    try:
        plan = plan_export(
            args.speechbrain_folder, format_code=not args.no_format
        )
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if plan.files or plan.links or plan.rows:
        print(
            "error: the checkout does not hold the whole export; run "
            "python -m speechbrain_ext.upstream first",
            file=sys.stderr,
        )
        return 1
    all_rows = [r for table in plan.exported_rows.values() for r in table]
    rows = {
        "all": all_rows,
        "one_per_recipe": one_row_per_recipe(all_rows),
        "none": [],
    }[args.rows]
    results = run_checks(
        args.speechbrain_folder, plan, args.python, rows, groups=args.groups
    )
    for result in results:
        if not result.passed:
            print(f"===== {result.name} =====\n{result.output}")
    print(report(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
