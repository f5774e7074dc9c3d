"""The Emo-DB LSTM family, for the tests shared by every recipe family.

``FAMILY`` names the recipe folder, its demo yaml and the flags of a short
run; :func:`train` runs it from the command line on a small generated
corpus, with noise training and the test conditions ``clean`` and
``noise_5dB``.
"""

import os
import pathlib

from tests.integration.recipes.helpers import ROOT, train_family

RECIPE = os.path.join(ROOT, "recipes", "EmoDB", "emotion_recognition", "LSTM")

FAMILY = {
    "name": "emodb",
    "recipe": RECIPE,
    "yaml": "lstm_demo.yaml",
    # 140 SynthEmoDB utterances: train speakers 03 to 13 (93), validation
    # 14 (16), test 15 and 16 (31); every batch of windows also noisy
    "flags": [
        "--synthemodb_utterances=140",
        "--synthnoise_files=5",
        "--number_of_epochs=3",
        "--valid_speakers=[14]",
        "--test_speakers=[15,16]",
        "--noise_prob=1.0",
    ],
}


def train(work):
    """Runs the family's demo yaml briefly; returns its output folder.

    Arguments
    ---------
    work : str or pathlib.Path
        A working folder: it receives the generated corpus and noise
        (``synthemodb/``), the test conditions file and the run (``run/``).

    Returns
    -------
    pathlib.Path
        The run's output folder.
    """
    work = pathlib.Path(work)
    synthemodb = f"--synthemodb_folder={work / 'synthemodb'}"
    return train_family(FAMILY, work, synthemodb, timeout=900)
