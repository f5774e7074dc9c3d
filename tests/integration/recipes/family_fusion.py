"""The fusion family (Li, Bell and Lai, 2022) for the shared recipe tests.

:data:`FAMILY` names the recipe, its demo yaml and the flags of a short
noise-trained run; :func:`train` runs it from the command line and returns
its output folder. The small settings (150 SynthEmo utterances, 3 epochs)
put the emotion head above chance but leave the CTC of the from-scratch
encoder on its blank plateau: the hypotheses are empty.
"""

import os
import pathlib

from tests.integration.recipes.helpers import (
    ROOT,
    run_train_py,
    train_family,
)

RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "hierarchical_coattention"
)

FAMILY = {
    "name": "fusion",
    "recipe": RECIPE,
    "yaml": "train_demo.yaml",
    "flags": [
        "--synthemo_utterances=150",
        "--number_of_epochs=3",
        "--noise_prob=1.0",
        # with these the emotion head leaves chance level within the 39
        # updates of 3 epochs (lambda 0.9 and the demo's learning rate
        # need hundreds)
        "--fusion_method=concat",
        "--asr_weight=0.2",
        "--lr=0.005",
        "--lstm_dropout=0.1",
        "--dynamic_batching=False",
        "--batch_size=8",
    ],
}


def run_fusion_recipe(yaml_name, *flags, cwd):
    """Runs the recipe's train.py on one of its yaml files.

    Arguments
    ---------
    yaml_name : str
        A yaml file of the recipe's ``hparams`` folder.
    *flags : str
        Command-line flags.
    cwd : str or pathlib.Path
        Working folder.

    Returns
    -------
    subprocess.CompletedProcess
        The finished run, with its output.
    """
    return run_train_py(RECIPE, yaml_name, *flags, cwd=cwd)


def train(work, synthemo_folder=None):
    """Trains the demo on noise briefly; tests it clean and at 5 dB noise.

    Arguments
    ---------
    work : str or pathlib.Path
        Working folder: receives the conditions file, the run (``run``)
        and, unless ``synthemo_folder`` is given, the corpus.
    synthemo_folder : str or pathlib.Path, optional
        A SynthEmo folder of 150 utterances (seed 1234) to reuse.

    Returns
    -------
    pathlib.Path
        The run's output folder.
    """
    work = pathlib.Path(work)
    synthemo = synthemo_folder or work / "synthemo"
    return train_family(FAMILY, work, f"--synthemo_folder={synthemo}")
