"""The residual-BLSTM + E-transformer family, for the shared recipe tests.

:data:`FAMILY` names the recipe and its demo yaml; :func:`train` runs the
demo briefly with noise training and two test conditions (``clean`` and
``noise_5dB``) and returns the run's output folder.
"""

import os
import pathlib

from tests.integration.recipes.helpers import ROOT, train_family

RECIPE = os.path.join(
    ROOT,
    "recipes",
    "IEMOCAP",
    "emotion_recognition",
    "residual_BLSTM_Etransformer",
)
FAMILY = {
    "name": "residual",
    "recipe": RECIPE,
    "yaml": os.path.join(RECIPE, "hparams", "train_demo.yaml"),
    # 300 SynthEmo utterances (train 205 of 7 speakers, test 64 of
    # session 1), 2 epochs, a noisy copy of every training batch
    "flags": [
        "--synthemo_utterances=300",
        "--number_of_epochs=2",
        "--noise_prob=1.0",
    ],
}


def train(work):
    """Trains the demo yaml briefly and tests it under two conditions.

    Arguments
    ---------
    work : str or pathlib.Path
        An empty working folder: receives the generated corpora
        (``synthemo/``), the condition file and the run (``run/``).

    Returns
    -------
    pathlib.Path
        The run's output folder.

    Raises
    ------
    RuntimeError
        If the recipe fails, with the end of its output.
    """
    work = pathlib.Path(work)
    synthemo = f"--synthemo_folder={work / 'synthemo'}"
    return train_family(FAMILY, work, synthemo, timeout=900)
