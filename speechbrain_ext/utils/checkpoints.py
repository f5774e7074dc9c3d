"""Checkpointable state beyond model and optimizer parameters.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import random

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


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
