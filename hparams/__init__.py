"""The collection's shared yaml files, installed as ``speechbrain_ext.hparams``.

* ``condition_sets/``: the noise-condition sets of every recipe's
  evaluation (``paper7``, ``clean``, ``snr_sweep``), selected by name with
  ``--test_conditions=<name>``;
* ``grids/``: the benchmark grids (``demo``, ``paper``...), selected by
  name with ``python -m speechbrain_ext.benchmark --grid <name>``.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import os


def hparams_folder():
    """The folder of the shared yaml files.

    Returns
    -------
    str
        Absolute path of the folder holding ``condition_sets/`` and
        ``grids/``.

    Example
    -------
    >>> sorted(os.listdir(hparams_folder()))[:2]
    ['__init__.py', 'condition_sets']
    """
    return os.path.dirname(os.path.abspath(__file__))
