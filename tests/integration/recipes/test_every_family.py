"""The contract every family of the collection meets, tested on each.

Each family's short noise-trained run (``family_<name>.py`` next to this
file, one session fixture ``trained_<name>`` per family in ``conftest.py``;
the joint family's is ``trained_joint``) is evaluated under ``clean`` and
``noise_5dB``. For every family:

* the noisy condition scores noisy audio: the predictions under
  ``noise_5dB`` differ from the clean ones on at least one utterance (a
  recipe whose forward pass bypassed the core's condition mixer would
  score the clean audio twice);
* the predictions file and the metrics agree
  (:func:`tests.integration.recipes.helpers.check_condition_reports`): one
  row per utterance of the run's test manifest, the same ids in both
  conditions, labels from the class list, probabilities that sum to one,
  metrics in range and equal to those the metrics module recomputes from
  the rows;
* the run folder holds SpeechBrain's files (the recipe's own ``train.py``
  copied, ``hyperparams.yaml``, the logs) and the inference export, which
  SpeechBrain's ``foreign_class`` loads and which labels (and transcribes)
  a test wav as the recipe's own test did.
"""

import glob
import importlib
import json
import os

import pytest
from speechbrain.inference.interfaces import foreign_class

from speechbrain_ext.utils.report import read_predictions_csv
from tests.integration.recipes.helpers import RECIPE as JOINT_RECIPE
from tests.integration.recipes.helpers import (
    check_condition_reports,
    run_test_manifest,
)

HERE = os.path.dirname(__file__)
FAMILIES = ["joint"] + sorted(
    os.path.basename(path)[len("family_") : -len(".py")]
    for path in glob.glob(os.path.join(HERE, "family_*.py"))
)


def _run_folder(request, family):
    """The output folder of the family's session run."""
    run = request.getfixturevalue(f"trained_{family}")
    if isinstance(run, dict):
        run = run["out"]
    return str(run)


def _condition(run, name):
    folder = os.path.join(run, "test_results", name)
    rows = read_predictions_csv(os.path.join(folder, "predictions.csv"))
    with open(os.path.join(folder, "metrics.json")) as f:
        metrics = json.load(f)
    return rows, metrics


def test_every_family_is_listed():
    names = {
        importlib.import_module(
            f"tests.integration.recipes.family_{name}"
        ).FAMILY["name"]
        for name in FAMILIES[1:]
    }
    assert names == set(FAMILIES[1:])


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_noisy_condition_scores_noisy_audio(request, family):
    run = _run_folder(request, family)
    clean, _ = _condition(run, "clean")
    noisy, _ = _condition(run, "noise_5dB")
    assert [r["id"] for r in clean] == [r["id"] for r in noisy]
    changed = [
        a["id"]
        for a, b in zip(clean, noisy)
        if a.get("probs") != b.get("probs") or a.get("hyp") != b.get("hyp")
    ]
    assert changed, f"{family}: noise_5dB predictions equal the clean ones"


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_predictions_and_metrics_agree(request, family):
    run = _run_folder(request, family)
    check_condition_reports(
        os.path.join(run, "test_results"),
        ["clean", "noise_5dB"],
        manifest=run_test_manifest(run),
    )


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_run_folder_holds_the_recipe_files(request, family):
    run = _run_folder(request, family)
    recipe = JOINT_RECIPE  # the others' are in family_<name>.FAMILY
    if family != "joint":
        module = f"tests.integration.recipes.family_{family}"
        recipe = importlib.import_module(module).FAMILY["recipe"]
    files = set(os.listdir(run))
    assert {"hyperparams.yaml", "env.log", "log.txt", "train_log.txt"} <= files
    # SpeechBrain copies the script that created the experiment folder
    with open(os.path.join(run, "train.py"), "rb") as copy:
        with open(os.path.join(recipe, "train.py"), "rb") as script:
            assert copy.read() == script.read(), family
    assert {"inference.yaml", "custom_interface.py"} <= files, family


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_export_loads_with_foreign_class_and_labels_a_wav(
    request, family, tmp_path
):
    """SpeechBrain's foreign_class loads the run's export, which labels
    (and transcribes) a test wav as the recipe's own test did."""
    run = _run_folder(request, family)
    rows, _ = _condition(run, "clean")
    manifest = run_test_manifest(run)
    row = rows[0]
    wav = manifest[row["id"]]["wav"]
    model = foreign_class(
        source=run,
        hparams_file="inference.yaml",
        pymodule_file="custom_interface.py",
        classname="RecipeInterface",
        savedir=str(tmp_path / "foreign_class"),
    )
    if "pred" in row:  # an emotion head
        out_prob, score, index, text_lab = model.classify_file(wav)[:4]
        assert text_lab == [row["pred"]], family
        probs = dict(zip(model.labels, out_prob.exp()[0].tolist()))
        assert probs == pytest.approx(row["probs"], abs=1e-2), family
        assert float(score[0]) == float(out_prob[0, index[0]])
    else:  # ASR only
        with pytest.raises(ValueError, match="emotion"):
            model.classify_file(wav)
    if "hyp" in row:  # an ASR head
        assert model.transcribe_file(wav) == row["hyp"], family
