"""Checkpointable state beyond model and optimizer parameters.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import logging
import os
import pathlib
import random
import zipfile

import numpy as np
import torch
import yaml
from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    PARAMFILE_EXT,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import ddp_barrier, if_main_process

logger = logging.getLogger(__name__)


@register_checkpoint_hooks
class RandomStates:
    """Saves and restores the global random generators with a checkpoint.

    Python's ``random`` (used by SpeechBrain's ``Augmenter`` to decide
    whether and which augmentation to apply), NumPy's global generator and
    torch's CPU and CUDA generators (noise, speed, masks, dropout). With it
    among the checkpointer's recoverables, a run interrupted in the middle of
    an epoch and resumed draws the same random numbers as a run that was not
    interrupted. SpeechBrain's ``SaveableGenerator`` covers torch's
    generators only.

    Example
    -------
    >>> import tempfile, os
    >>> state = RandomStates()
    >>> path = os.path.join(tempfile.mkdtemp(), "rng.ckpt")
    >>> state.save(path)
    >>> first = (random.random(), np.random.rand(), torch.rand(1).item())
    >>> state.load(path)
    >>> (random.random(), np.random.rand(), torch.rand(1).item()) == first
    True
    """

    @mark_as_saver
    def save(self, path):
        """Writes the states of all global generators to ``path``."""
        state = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=False):
        """Restores the generators saved in ``path``."""
        del end_of_epoch
        state = torch.load(path, weights_only=False)
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


COMPLETE_MARKER = "SAVED"

# How files written by torch.save start: a zip archive (the default format)
# or a pickle (the legacy format).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = b"\x80"


def is_marked(path):
    """Whether a checkpoint folder was saved whole by this collection.

    Arguments
    ---------
    path : str or pathlib.Path
        A checkpoint folder.

    Returns
    -------
    bool
        Whether the folder holds the :data:`COMPLETE_MARKER`.

    Example
    -------
    >>> import tempfile
    >>> is_marked(tempfile.mkdtemp())
    False
    """
    return os.path.isfile(os.path.join(path, COMPLETE_MARKER))


def _param_file_problem(path):
    """Why a recoverable's file cannot be read, or ``None`` when it can.

    Files of ``torch.save`` must load with ``torch.load`` (a zip archive is
    memory-mapped, not read); the savers of SpeechBrain that write text
    (epoch counter, data loader, ``Brain``) leave a non-empty UTF-8 file.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(_ZIP_MAGIC))
    except OSError as e:
        return f"{name} cannot be read ({e})"
    if not head:
        return f"{name} is empty"
    is_zip = zipfile.is_zipfile(path)
    if is_zip or head.startswith(_PICKLE_PROTOCOL):
        try:
            torch.load(
                path, map_location="cpu", weights_only=False, mmap=is_zip
            )
        except Exception as e:  # any failure of the loader means unusable
            return f"{name} cannot be loaded by torch.load ({e})"
        return None
    if head == _ZIP_MAGIC:
        return f"{name} is a torch file cut short"
    try:
        with open(path, encoding="utf-8") as f:
            f.read()
    except UnicodeDecodeError:
        return f"{name} is neither a torch file nor text"
    return None


def checkpoint_problem(path, expected=(), min_files=1):
    """Why a checkpoint folder cannot be loaded, or ``None`` when it can.

    A folder with the :data:`COMPLETE_MARKER` was saved whole by
    :class:`ResumableCheckpointer`. A folder without it was written by
    SpeechBrain's own ``Checkpointer``, by a version of this collection
    older than the marker, or is still being written (or was interrupted).
    It is usable when SpeechBrain's loader can read it: a ``CKPT.yaml``
    with SpeechBrain's metadata (``unixtime``, ``end-of-epoch``), the file
    of every ``expected`` recoverable, and every ``.ckpt`` file readable
    (``torch.load`` for files of ``torch.save``, UTF-8 text for the text
    savers).

    Arguments
    ---------
    path : str or pathlib.Path
        A checkpoint folder (``CKPT+...``).
    expected : iterable of str
        Recoverables whose ``<name>.ckpt`` an unmarked folder must hold.
    min_files : int
        Fewest ``.ckpt`` files an unmarked folder must hold (a save
        interrupted after its ``CKPT.yaml`` holds none).

    Returns
    -------
    str or None
        The problem, in words.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = tempfile.mkdtemp()
    >>> plain = Checkpointer(folder, {"net": torch.nn.Linear(2, 2)})
    >>> checkpoint = plain.save_checkpoint()  # no marker
    >>> checkpoint_problem(checkpoint.path, expected=["net"]) is None
    True
    >>> checkpoint_problem(checkpoint.path, expected=["net", "counter"])
    'no SAVED marker, and counter.ckpt is missing'
    >>> with open(checkpoint.path / "net.ckpt", "r+b") as f:
    ...     _ = f.truncate(100)  # a save interrupted while writing
    >>> checkpoint_problem(checkpoint.path)
    'no SAVED marker, and net.ckpt is a torch file cut short'
    """
    path = pathlib.Path(path)
    if is_marked(path):
        return None
    meta_path = path / METAFNAME
    if not meta_path.is_file():
        return f"no {METAFNAME}"
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return f"{METAFNAME} cannot be read ({e})"
    missing_meta = [
        key
        for key in ("unixtime", "end-of-epoch")
        if not isinstance(meta, dict) or key not in meta
    ]
    if missing_meta:
        return f"{METAFNAME} lacks {', '.join(missing_meta)}"
    prefix = f"no {COMPLETE_MARKER} marker, and "
    for name in expected:
        if not (path / f"{name}{PARAMFILE_EXT}").is_file():
            return f"{prefix}{name}{PARAMFILE_EXT} is missing"
    files = sorted(path.glob(f"*{PARAMFILE_EXT}"))
    if len(files) < min_files:
        return f"{prefix}it holds no {PARAMFILE_EXT} file"
    for file in files:
        problem = _param_file_problem(file)
        if problem is not None:
            return prefix + problem
    return None


class ResumableCheckpointer(Checkpointer):
    """A ``Checkpointer`` that never resumes from a half-written checkpoint.

    SpeechBrain's ``Checkpointer`` writes a checkpoint's metadata first and
    its recoverables after, so a run killed while saving leaves a checkpoint
    folder that looks valid but holds truncated files, and the next run fails
    to load it. Here a marker file is written once every recoverable is
    saved. A folder without the marker (written by SpeechBrain's own
    ``Checkpointer``, by an older version of this collection, or still being
    written by another process) is used only when SpeechBrain's loader can
    read it (see :func:`checkpoint_problem`), so the run resumes from the
    last checkpoint that was saved whole.

    Nothing that cannot be proved to be an abandoned save of this collection
    is deleted: recovery leaves unusable folders in place (with a warning
    naming them), and keeping the best checkpoints deletes only marked ones.

    Arguments
    ---------
    checkpoints_dir : str or pathlib.Path
        As for ``speechbrain.utils.checkpoints.Checkpointer``.
    *args
        As for ``speechbrain.utils.checkpoints.Checkpointer``.
    expected : list of str, optional
        Recoverables whose files a folder without the marker must hold to be
        used. By default, those that SpeechBrain's loader requires: every
        recoverable but the optional ones and the data loaders (none with
        ``allow_partial_load``). Without any, such a folder must hold at
        least one ``.ckpt`` file.
    **kwargs
        As for ``speechbrain.utils.checkpoints.Checkpointer``.

    Example
    -------
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> ckpt = ResumableCheckpointer(folder, {"net": torch.nn.Linear(2, 2)})
    >>> first = ckpt.save_checkpoint(meta={"error": 1.0})
    >>> second = ckpt.save_checkpoint(meta={"error": 0.5})
    >>> os.remove(os.path.join(second.path, "net.ckpt"))  # interrupted
    >>> os.remove(os.path.join(second.path, COMPLETE_MARKER))
    >>> ckpt.find_checkpoint().path == first.path
    True
    >>> [problem for _, problem in ckpt.checkpoint_folders()]
    [None, 'no SAVED marker, and net.ckpt is missing']
    """

    def __init__(self, checkpoints_dir, *args, expected=None, **kwargs):
        super().__init__(checkpoints_dir, *args, **kwargs)
        self.expected = expected
        self._problems = {}
        self._warned = set()

    def _expected(self):
        if self.expected is not None:
            return list(self.expected)
        if self.allow_partial_load:
            return []
        return [
            name
            for name in self.recoverables
            if "dataloader" not in name
            and not self.optional_recoverables.get(name, False)
        ]

    def problem(self, path):
        """Why a checkpoint folder cannot be loaded, or ``None``.

        See :func:`checkpoint_problem`; the answer is kept until a file of
        the folder changes.

        Arguments
        ---------
        path : str or pathlib.Path
            A checkpoint folder.

        Returns
        -------
        str or None
            The problem, in words.
        """
        path = pathlib.Path(path)
        if is_marked(path):
            return None
        try:
            state = tuple(
                sorted(
                    (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
                    for entry in path.iterdir()
                )
            )
        except OSError as e:
            return f"cannot be listed ({e})"
        expected = self._expected()
        key = (str(path), state, tuple(expected))
        if key not in self._problems:
            self._problems[key] = checkpoint_problem(
                path, expected, min_files=0 if expected else 1
            )
        return self._problems[key]

    def checkpoint_folders(self):
        """Every checkpoint folder, and why it cannot be loaded.

        Returns
        -------
        list of (pathlib.Path, str or None)
            The ``CKPT+...`` folders of the checkpoint folder, oldest name
            first, each with its problem (``None`` when it can be loaded).
        """
        if not self.checkpoints_dir.is_dir():
            return []
        folders = sorted(
            path
            for path in self.checkpoints_dir.iterdir()
            if path.is_dir() and path.name.startswith(CKPT_PREFIX)
        )
        return [(path, self.problem(path)) for path in folders]

    def save_checkpoint(self, *args, **kwargs):
        """Saves as usual, then marks the checkpoint as complete.

        The main process writes the marker; every process waits for it, so
        that all of them list the same checkpoints afterwards (the deletion
        that follows in ``save_and_keep_only`` makes one collective call per
        deleted checkpoint, and differing lists would deadlock DDP).
        """
        checkpoint = super().save_checkpoint(*args, **kwargs)
        if checkpoint is not None and if_main_process():
            marker = os.path.join(checkpoint.path, COMPLETE_MARKER)
            with open(marker, "w", encoding="utf-8") as f:
                f.write("complete\n")
        ddp_barrier()
        return checkpoint

    def list_checkpoints(self):
        """Lists the checkpoints that can be loaded.

        Those saved whole by this class, and those without the marker that
        SpeechBrain's loader can read (see :func:`checkpoint_problem`).
        """
        return self._construct_checkpoint_objects(
            [
                path
                for path in self._list_checkpoint_dirs()
                if self.problem(path) is None
            ]
        )

    def delete_checkpoints(self, *, ckpt_predicate=None, **kwargs):
        """Deletes as SpeechBrain does, among the marked checkpoints only.

        A checkpoint without the marker (SpeechBrain's own, an older
        version's) is never deleted, only left out of the choice.
        """

        def deletable(checkpoint):
            """Only marked checkpoints that the caller would delete."""
            return is_marked(checkpoint.path) and (
                ckpt_predicate is None or ckpt_predicate(checkpoint)
            )

        super().delete_checkpoints(ckpt_predicate=deletable, **kwargs)

    def recover_if_possible(self, *args, **kwargs):
        """Recovers as usual from the checkpoints that can be loaded.

        The others are left in place, with a warning naming each folder
        and its problem (once per folder): they may be another process's
        save in progress, or files the user wants to inspect.
        """
        if if_main_process():
            for path, problem in self.checkpoint_folders():
                if problem is not None and path not in self._warned:
                    self._warned.add(path)
                    logger.warning(
                        "Not loading the checkpoint %s (%s); it is left in "
                        "place: remove it once no process is writing it",
                        path,
                        problem,
                    )
        return super().recover_if_possible(*args, **kwargs)


def why_no_checkpoint(checkpointer, key=None):
    """Says which checkpoint folders exist and why none can be chosen.

    Arguments
    ---------
    checkpointer : ResumableCheckpointer
        The checkpointer that found no checkpoint.
    key : str, optional
        The metadata key the choice needed (``min_key`` or ``max_key``).

    Returns
    -------
    str
        One sentence: the folder is missing or holds no checkpoint folder,
        or each ``CKPT+...`` folder with its problem.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> ckpt = ResumableCheckpointer(folder, {"net": torch.nn.Linear(2, 2)})
    >>> why_no_checkpoint(ckpt).endswith("holds no checkpoint folder (CKPT+*)")
    True
    >>> _ = ckpt.save_checkpoint(name="a", end_of_epoch=False)
    >>> print(os.path.basename(why_no_checkpoint(ckpt, key="error")))
    CKPT+a: no 'error' in its CKPT.yaml (saved in the middle of an epoch)
    """
    folder = checkpointer.checkpoints_dir
    if not folder.is_dir():
        return f"{folder} does not exist"
    found = checkpointer.checkpoint_folders()
    if not found:
        return f"{folder} holds no checkpoint folder ({CKPT_PREFIX}+*)"
    reasons = []
    for path, problem in found:
        if problem is None and key is not None:
            (checkpoint,) = checkpointer._construct_checkpoint_objects([path])
            if key not in checkpoint.meta:
                problem = f"no {key!r} in its {METAFNAME}"
                if not checkpoint.meta.get("end-of-epoch", True):
                    problem += " (saved in the middle of an epoch)"
        reasons.append(f"{path}: {problem or 'usable'}")
    return "; ".join(reasons)
