"""The LibriSpeech A2W family: a short noise-trained run of its demo yaml.

``train(work)`` runs ``train_demo.yaml`` from the command line on a small
spoken corpus in the LibriSpeech layout (8 words, eSpeak NG voices) with
``--noise_prob=1.0`` and the conditions ``clean`` and ``noise_5dB``, the
noise drawn from a small MUSAN-layout folder of generated noise. The family
is ASR only: its predictions are the hypotheses (``hyp`` column of
``predictions.csv``).
"""

import os

import numpy as np
import soundfile as sf

from tests.integration.recipes.helpers import (
    ROOT,
    run_train_py,
    train_family,
)
from tests.integration.recipes.spoken_librispeech import (
    make_spoken_librispeech,
)

RECIPE = os.path.join(ROOT, "recipes", "LibriSpeech", "ASR", "A2W")

SPLITS = {"train-clean-100": 160, "dev-clean": 16, "test-clean": 16}
"""Utterances per split of the spoken corpus."""
N_WORDS = 8
"""Words of the spoken corpus, all of them in the vocabulary."""
EPOCHS = 8
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

FAMILY = {
    "name": "libri_a2w",
    "recipe": RECIPE,
    "yaml": "train_demo.yaml",
    "flags": [
        f"--vocab_top_n={N_WORDS}",
        f"--number_of_epochs={EPOCHS}",
        "--enc_layers=2",
        "--dynamic_batching=False",
        "--batch_size=8",
        "--noise_prob=1.0",
    ],
}


def run_a2w(yaml_name, *flags, cwd):
    """Runs the recipe's ``train.py`` on one of its yamls (one thread)."""
    return run_train_py(
        RECIPE, yaml_name, *flags, cwd=cwd, env=ONE_THREAD, timeout=900
    )


def prepare_flags(data_folder, prep, musan=None, noise_folder=None):
    """The real LibriSpeech (and MUSAN) preparation, as the yaml's steps."""
    steps = (
        "!name:speechbrain_ext.dataio.librispeech_prepare.prepare_librispeech"
        f" {{data_folder: {data_folder}, save_folder: {prep}, splits: "
        "[train-clean-100, dev-clean, test-clean]}"
    )
    flags = [f"--data_folder={data_folder}", f"--prep_folder={prep}"]
    if musan is not None:
        steps += (
            ", !name:speechbrain_ext.dataio.musan_prepare.prepare_musan"
            f" {{data_folder: {musan}, save_folder: {noise_folder}}}"
        )
        flags += [f"--musan_folder={musan}", f"--noise_folder={noise_folder}"]
    return flags + [f"--data_preparation=[{steps}]"]


def write_noise_corpus(folder, n_files=2, seconds=3.0, seed=0):
    """A MUSAN-layout folder of generated noise, music and babble-like audio.

    Arguments
    ---------
    folder : str or pathlib.Path
        The ``musan`` folder to write.
    n_files : int
        Files per category (``prepare_musan`` needs 2 for disjoint pools).
    seconds : float
        Length of every file.
    seed : int
        Seed of the audio.

    Returns
    -------
    str
        The folder.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    for category in ("noise", "music", "speech"):
        for i in range(n_files):
            if category == "noise":
                audio = rng.normal(size=n)
            elif category == "music":
                f0 = rng.uniform(110, 440)
                audio = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2))
            else:  # syllable-rate modulated noise
                rate = rng.uniform(3, 6)
                audio = rng.normal(size=n) * (1 + np.sin(2 * np.pi * rate * t))
            audio = 0.5 * audio / np.abs(audio).max()
            path = os.path.join(str(folder), category, "gen", f"{i}.wav")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            sf.write(path, audio.astype(np.float32), 16000)
    return str(folder)


def train(work):
    """Trains the family's demo yaml briefly, with noise, in ``work``.

    Arguments
    ---------
    work : pathlib.Path
        An empty working folder.

    Returns
    -------
    pathlib.Path
        The run's output folder (``test_results/clean`` and
        ``test_results/noise_5dB``, ``pretrained/``).
    """
    data_folder = make_spoken_librispeech(work, SPLITS, n_words=N_WORDS)
    musan = write_noise_corpus(work / "musan")
    prep = work / "run"  # the preparation writes into the run's folder
    return train_family(
        FAMILY,
        work,
        *prepare_flags(
            data_folder, prep / "prepared", musan, prep / "noise_pools"
        ),
        env=ONE_THREAD,
        timeout=900,
    )
