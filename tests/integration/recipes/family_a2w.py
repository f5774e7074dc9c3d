"""The A2W ASR-SER family for the tests shared by every family.

``FAMILY`` names the recipe, its demo yaml and the small settings of
``train``, which runs the demo from the command line: 300 SynthEmo
utterances, 3 epochs, a noisy copy of every training batch
(``--noise_prob=1.0``) and the test conditions ``clean`` and
``noise_5dB``. The A2W model it fine-tunes is a random export of the
demo's dimensions whose vocabulary holds SynthEmo's words (pre-training
the A2W demo takes minutes).
"""

import os

from speechbrain_ext.synthetic.random_a2w import build_random_a2w, corpus_words
from speechbrain_ext.synthetic.synthemo import ensure_synthemo
from tests.integration.recipes.helpers import ROOT, train_family

RECIPE = os.path.join(ROOT, "recipes", "IEMOCAP", "ASR_SER", "A2W_attention")
UTTERANCES = 300
FAMILY = {
    "name": "a2w",
    "recipe": RECIPE,
    "yaml": os.path.join(RECIPE, "hparams", "train_demo.yaml"),
    "flags": [
        f"--synthemo_utterances={UTTERANCES}",
        "--number_of_epochs=3",
        "--noise_prob=1.0",
    ],
}


def train(work):
    """Trains the family's demo briefly; returns the run's output folder.

    Arguments
    ---------
    work : pathlib.Path
        Working folder: the corpora, the random A2W export, the
        conditions file and the run (``work / "run"``) go there.

    Returns
    -------
    pathlib.Path
        The output folder of the finished run.
    """
    synthemo = work / "synthemo"
    ensure_synthemo(str(synthemo), n_utterances=UTTERANCES, seed=1234)
    export = build_random_a2w(
        FAMILY["yaml"],
        str(work / "a2w" / "pretrained"),
        corpus_words(str(synthemo / "IEMOCAP_full_release")),
    )
    corpora = [f"--synthemo_folder={synthemo}", f"--pretrained_path={export}"]
    return train_family(FAMILY, work, *corpora)
