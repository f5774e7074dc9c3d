"""Checkpointable state beyond model and optimizer parameters.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import logging
import os
import random
import shutil

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
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


class ResumableCheckpointer(Checkpointer):
    """A ``Checkpointer`` that never resumes from a half-written checkpoint.

    SpeechBrain's ``Checkpointer`` writes a checkpoint's metadata first and
    its recoverables after, so a run killed while saving leaves a checkpoint
    folder that looks valid but holds truncated files, and the next run fails
    to load it. Here a marker file is written once every recoverable is
    saved; folders without it are ignored (and removed before recovery), so
    the run resumes from the last checkpoint that was saved whole.

    Arguments
    ---------
    *args, **kwargs
        As for ``speechbrain.utils.checkpoints.Checkpointer``.

    Example
    -------
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> ckpt = ResumableCheckpointer(folder, {"net": torch.nn.Linear(2, 2)})
    >>> first = ckpt.save_checkpoint(meta={"error": 1.0})
    >>> second = ckpt.save_checkpoint(meta={"error": 0.5})
    >>> os.remove(os.path.join(second.path, COMPLETE_MARKER))  # interrupted
    >>> ckpt.find_checkpoint().path == first.path
    True
    """

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
        """Lists the checkpoints whose saving completed."""
        complete = []
        for checkpoint in super().list_checkpoints():
            if os.path.exists(os.path.join(checkpoint.path, COMPLETE_MARKER)):
                complete.append(checkpoint)
        return complete

    def recover_if_possible(self, *args, **kwargs):
        """Removes half-written checkpoints, then recovers as usual."""
        if if_main_process():
            for path in self._list_checkpoint_dirs():
                if not os.path.exists(os.path.join(path, COMPLETE_MARKER)):
                    logger.warning("Removing incomplete checkpoint %s", path)
                    shutil.rmtree(path, ignore_errors=True)
        ddp_barrier()
        return super().recover_if_possible(*args, **kwargs)
