"""Executors of benchmark cells: local, local in parallel, or submitit.

Every executor runs the same thing, :class:`CellJob`: the cell's recipe
command in the recipe's folder, its output appended to
``<cell>/benchmark_log.txt``, and a record of the run (wall time, CPU
time of the recipe and its children, peak resident memory, exit status,
git version of the recipes' code)
written to ``<cell>/benchmark_cell.json``. A finished cell (every file of
its ``done`` list exists) is skipped, so a benchmark can be re-run after
an interruption, and a cell that was interrupted resumes from the
recipe's own SpeechBrain checkpoint in its folder.

* :func:`run_local` runs the cells one after the other, or on ``workers``
  parallel workers (:class:`concurrent.futures.ThreadPoolExecutor`, each
  worker waiting on one recipe process) with ``threads`` torch threads
  each (``OMP_NUM_THREADS``).
* :func:`run_submitit` hands the cells to a ``submitit`` executor: a SLURM
  job array (``cluster="slurm"``), or ``submitit``'s local executor
  (``cluster="local"``), which runs the same pickled jobs as processes on
  this machine. :class:`CellJob` is ``submitit``'s ``Checkpointable``: a
  job that SLURM preempts or times out is requeued, and the recipe resumes
  from its checkpoint.
* :func:`slurm_script` renders the sbatch script of a job array without
  submitting it (``--dry_run``).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import concurrent.futures
import json
import logging
import os
import shlex
import socket
import subprocess
import time

import submitit

from speechbrain_ext.benchmark.grid import CELL_RECORD

logger = logging.getLogger(__name__)
LOG_FILE = "benchmark_log.txt"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def code_version(folder):
    """The git version of the code in ``folder``, or None outside git.

    ``git describe --always --dirty``: the commit, with ``-dirty`` when
    tracked files differ from it. The leaderboard reports the versions of
    its cells, so that results from different code are not pooled unseen.

    Arguments
    ---------
    folder : str
        A folder of the recipes that a cell runs.

    Returns
    -------
    str or None

    Example
    -------
    >>> import tempfile
    >>> code_version(tempfile.mkdtemp()) is None
    True
    """
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return described.stdout.strip() or None


def read_record(cell):
    """The run record of a cell (a dict), or None when it has none."""
    path = os.path.join(cell.folder, CELL_RECORD)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fin:
        return json.load(fin)


class CellJob(submitit.helpers.Checkpointable):
    """Runs one benchmark cell, unless it is finished.

    Arguments
    ---------
    threads : int, optional
        Torch threads of the recipe (``OMP_NUM_THREADS``); None leaves the
        environment as it is.

    Example
    -------
    >>> import sys, tempfile
    >>> from speechbrain_ext.benchmark.grid import Cell
    >>> folder = tempfile.mkdtemp()
    >>> cell = Cell(
    ...     name="toy", folder=folder, cwd=folder, done=["out.txt"],
    ...     command=[sys.executable, "-c",
    ...              "open('out.txt', 'w').write('ok')"])
    >>> record = CellJob(threads=1)(cell)
    >>> record["status"], record["returncode"], cell.finished()
    ('ran', 0, True)
    >>> CellJob()(cell)["status"]
    'skipped'
    """

    def __init__(self, threads=None):
        self.threads = threads

    def __call__(self, cell):
        """Runs ``cell``; returns its record (``status``: ran or skipped).

        Raises
        ------
        RuntimeError
            When the recipe exits with an error, or ends without writing
            the cell's ``done`` files; the message names its log file.
        """
        if cell.finished():
            record = read_record(cell) or {}
            return {**record, "name": cell.name, "status": "skipped"}
        os.makedirs(cell.folder, exist_ok=True)
        env = dict(os.environ)
        if self.threads:
            for variable in THREAD_VARIABLES:
                env[variable] = str(self.threads)
        log_path = os.path.join(cell.folder, LOG_FILE)
        start = time.time()
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"$ {shlex.join(cell.command)}\n")
            log.flush()
            process = subprocess.Popen(
                cell.command,
                cwd=cell.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        record = {
            "name": cell.name,
            "status": "ran",
            "command": cell.command,
            "host": socket.gethostname(),
            "threads": self.threads,
            "code": code_version(cell.cwd),
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start)),
            "wall_s": round(time.time() - start, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "max_rss_gb": round(usage.ru_maxrss / 2**20, 3),
            "returncode": process.returncode,
        }
        previous = read_record(cell)
        if previous and previous.get("status") == "ran":
            record["earlier_attempts"] = previous.get("earlier_attempts", [])
            record["earlier_attempts"].append(
                {k: previous.get(k) for k in ("wall_s", "cpu_s", "returncode")}
            )
        with open(os.path.join(cell.folder, CELL_RECORD), "w") as fout:
            json.dump(record, fout, indent=2)
        if process.returncode != 0:
            raise RuntimeError(
                f"{cell.name} failed with exit status {process.returncode}: "
                f"see {log_path}"
            )
        if not cell.finished():
            raise RuntimeError(
                f"{cell.name} ended without writing {cell.done} in "
                f"{cell.folder}: see {log_path}"
            )
        return record


def _report(cell, future_or_record, failures):
    try:
        record = (
            future_or_record.result()
            if hasattr(future_or_record, "result")
            else future_or_record
        )
    except Exception as error:  # a failed cell does not stop the others
        logger.error("%s", error)
        failures.append({"name": cell.name, "error": str(error)})
        return None
    logger.info(
        "%s: %s%s",
        cell.name,
        record["status"],
        f" in {record['wall_s']} s" if record["status"] == "ran" else "",
    )
    return record


def run_local(cells, workers=1, threads=None):
    """Runs cells on this machine, one after the other or in parallel.

    Arguments
    ---------
    cells : list of Cell
        The cells, in the order they start.
    workers : int
        Recipe processes running at once.
    threads : int, optional
        Torch threads per recipe process.

    Returns
    -------
    tuple
        The records of the cells that ran or were skipped, and the
        failures (``name``, ``error``).
    """
    job = CellJob(threads)
    records, failures = [], []
    if workers <= 1:
        for cell in cells:
            try:
                outcome = job(cell)
            except Exception as error:
                outcome = _Failed(error)
            record = _report(cell, outcome, failures)
            if record:
                records.append(record)
        return records, failures
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(job, cell): cell for cell in cells}
        for future in concurrent.futures.as_completed(futures):
            record = _report(futures[future], future, failures)
            if record:
                records.append(record)
    return records, failures


class _Failed:
    """A failed outcome with the interface of a future."""

    def __init__(self, error):
        self.error = error

    def result(self):
        """Raises the stored error."""
        raise self.error


SLURM_PARAMETERS = {
    "partition": "slurm_partition",
    "gpus_per_node": "gpus_per_node",
    "cpus_per_task": "cpus_per_task",
    "mem_gb": "mem_gb",
    "timeout_min": "timeout_min",
    "array_parallelism": "slurm_array_parallelism",
    "account": "slurm_account",
    "qos": "slurm_qos",
    "constraint": "slurm_constraint",
}


def submitit_parameters(**slurm):
    """``AutoExecutor.update_parameters`` arguments from plain names.

    Arguments
    ---------
    **slurm
        ``partition``, ``gpus_per_node``, ``cpus_per_task``, ``mem_gb``,
        ``timeout_min``, ``array_parallelism``, ``account``, ``qos``,
        ``constraint``; None values are left out.

    Returns
    -------
    dict

    Example
    -------
    >>> submitit_parameters(partition="gpu", gpus_per_node=1, qos=None)
    {'slurm_partition': 'gpu', 'gpus_per_node': 1}
    """
    unknown = sorted(set(slurm) - set(SLURM_PARAMETERS))
    if unknown:
        raise ValueError(
            f"unknown SLURM parameters {unknown}; known: "
            f"{sorted(SLURM_PARAMETERS)}"
        )
    return {SLURM_PARAMETERS[k]: v for k, v in slurm.items() if v is not None}


def run_submitit(cells, folder, cluster=None, threads=None, **slurm):
    """Runs cells as a ``submitit`` job array and waits for them.

    Arguments
    ---------
    cells : list of Cell
        The cells.
    folder : str
        ``submitit``'s folder (job scripts, pickles and logs).
    cluster : str, optional
        ``slurm``, ``local`` or ``debug`` (None: SLURM when ``srun``
        exists, else local).
    threads : int, optional
        Torch threads per recipe process.
    **slurm
        See :func:`submitit_parameters`; ``partition`` etc. only apply to
        SLURM.

    Returns
    -------
    tuple
        Records and failures, as :func:`run_local`.
    """
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    parameters = submitit_parameters(**slurm)
    if executor.cluster != "slurm":
        parameters = {
            k: v
            for k, v in parameters.items()
            if not k.startswith("slurm_") and k != "gpus_per_node"
        }
    executor.update_parameters(name="speechbrain_benchmark", **parameters)
    todo = [cell for cell in cells if not cell.finished()]
    records, failures = [], []
    for cell in cells:
        if cell.finished():
            records.append(_report(cell, CellJob()(cell), failures))
    if not todo:
        return records, failures
    jobs = executor.map_array(CellJob(threads), todo)
    logger.info(
        "Submitted %d cells to %s (%s)",
        len(jobs),
        executor.cluster,
        ", ".join(str(j.job_id) for j in jobs[:3])
        + ("..." if jobs[3:] else ""),
    )
    for cell, job in zip(todo, jobs):
        record = _report(cell, job, failures)
        if record:
            records.append(record)
    return records, failures


def slurm_script(cells, folder, python=None, **slurm):
    """The sbatch script ``run_submitit`` submits for ``cells`` on SLURM.

    Arguments
    ---------
    cells : list of Cell
        The cells of one job array.
    folder : str
        ``submitit``'s folder.
    python : str, optional
        The interpreter of the jobs (default: this one).
    **slurm
        See :func:`submitit_parameters`.

    Returns
    -------
    str
        The sbatch script: one array task per cell.

    Example
    -------
    >>> script = slurm_script(
    ...     [None] * 12, "/tmp/jobs", partition="gpu", gpus_per_node=1,
    ...     timeout_min=600, array_parallelism=4)
    >>> "#SBATCH --array=0-11%4" in script, "#SBATCH --partition=gpu" in script
    (True, True)
    """
    import sys

    from submitit.slurm.slurm import _convert_mem, _make_sbatch_string

    sbatch_names = {"timeout_min": "time", "mem_gb": "mem"}
    parameters = {
        sbatch_names.get(key, key): value
        for key, value in slurm.items()
        if value is not None
    }
    submitit_parameters(**slurm)  # refuses unknown names
    if "mem" in parameters:
        parameters["mem"] = _convert_mem(parameters["mem"])
    parameters.setdefault("job_name", "speechbrain_benchmark")
    python = shlex.quote(python or sys.executable)
    command = f"{python} -u -m submitit.core._submit {shlex.quote(folder)}"
    return _make_sbatch_string(
        command=command, folder=folder, map_count=len(cells), **parameters
    )
