"""Shared fixtures of the recipe tests.

One short training of the joint demo recipe serves the end-to-end,
inference and reproducibility tests; one small SynthEmo corpus serves the
short demo runs of the other recipes; one short noise-trained run of each
family (``family_<name>.train``) serves that family's tests and the
contract test over every family (``test_every_family.py``) as
``trained_<name>``.
"""

import pytest

from speechbrain_ext.synthetic.synthemo import ensure_synthemo
from tests.integration.recipes import (
    family_a2w,
    family_emodb,
    family_fusion,
    family_libri_a2w,
    family_residual,
)
from tests.integration.recipes.helpers import CONDITIONS, run_recipe


@pytest.fixture(scope="session")
def synthemo_150(tmp_path_factory):
    """SynthEmo and SynthNoise of 150 utterances (the demo yamls' seed).

    Pass it as ``--synthemo_folder`` with ``--synthemo_utterances=150``:
    the recipes find it generated with their options and reuse it.
    """
    folder = tmp_path_factory.mktemp("synthemo_150") / "synthemo"
    ensure_synthemo(str(folder), n_utterances=150, seed=1234)
    return folder


@pytest.fixture(scope="session")
def trained_joint(tmp_path_factory):
    """Trains joint_demo.yaml briefly on 600 SynthEmo utterances.

    10 epochs: the DNN before the CTC layer and the augmentation of the
    demo leave the CTC on its blank plateau for the first 5 or 6 epochs.
    """
    work = tmp_path_factory.mktemp("joint")
    conditions = work / "two_conditions.yaml"
    conditions.write_text(CONDITIONS)
    out = work / "run"
    proc = run_recipe(
        "joint_demo.yaml",
        f"--output_folder={out}",
        f"--synthemo_folder={work / 'synthemo'}",
        "--synthemo_utterances=600",
        "--number_of_epochs=10",
        f"--test_conditions={conditions}",
        cwd=work,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"out": out, "work": work, "conditions": conditions}


@pytest.fixture(scope="session")
def trained_residual(tmp_path_factory):
    """The residual-BLSTM + E-transformer demo, noise-trained briefly and
    tested under clean and noise_5dB (see ``family_residual``)."""
    return family_residual.train(tmp_path_factory.mktemp("residual"))


@pytest.fixture(scope="session")
def trained_fusion(tmp_path_factory, synthemo_150):
    """The fusion family's demo, noise-trained briefly (3 epochs).

    ``family_fusion.train`` on the shared 150-utterance SynthEmo corpus:
    returns the run's output folder (tested clean and at 5 dB noise).
    """
    work = tmp_path_factory.mktemp("fusion")
    return family_fusion.train(work, synthemo_folder=synthemo_150)


@pytest.fixture(scope="session")
def trained_libri_a2w(tmp_path_factory):
    """The LibriSpeech A2W family's run (:mod:`family_libri_a2w`)."""
    return family_libri_a2w.train(tmp_path_factory.mktemp("libri_a2w"))


@pytest.fixture(scope="session")
def trained_emodb(tmp_path_factory):
    """The Emo-DB LSTM demo trained briefly with noise training
    (:func:`tests.integration.recipes.family_emodb.train`): its output
    folder, tested under ``clean`` and ``noise_5dB``."""
    return family_emodb.train(tmp_path_factory.mktemp("emodb"))


@pytest.fixture(scope="session")
def trained_a2w(tmp_path_factory):
    """The A2W ASR-SER demo trained briefly (``family_a2w.train``).

    Returns
    -------
    pathlib.Path
        The run's output folder.
    """
    return family_a2w.train(tmp_path_factory.mktemp("a2w"))
