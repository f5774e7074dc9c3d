"""Shared fixtures of the recipe tests.

One short training of the joint demo recipe serves the end-to-end,
inference and reproducibility tests, one of the A2W ASR-SER demo
(``family_a2w.train``) that family's tests; one small SynthEmo corpus
serves the short demo runs of the other recipes.
"""

import pytest

from speechbrain_ext.synthetic.synthemo import ensure_synthemo
from tests.integration.recipes import family_a2w
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
def trained_a2w(tmp_path_factory):
    """The A2W ASR-SER demo trained briefly (``family_a2w.train``).

    Returns
    -------
    pathlib.Path
        The run's output folder.
    """
    return family_a2w.train(tmp_path_factory.mktemp("a2w"))
