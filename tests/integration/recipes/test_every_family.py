"""The contract every family of the collection meets, tested on each.

Each family's short noise-trained run (``family_<name>.py`` next to this
file, one session fixture ``trained_<name>`` per family in ``conftest.py``;
the joint family's is ``trained_joint``) is evaluated under ``clean`` and
``noise_5dB``. For every family:

* the noisy condition scores noisy audio: the predictions under
  ``noise_5dB`` differ from the clean ones on at least one utterance (a
  recipe whose forward pass bypassed the core's condition mixer would
  score the clean audio twice);
* the predictions file and the metrics agree: one row per scored
  utterance, the same ids in both conditions, labels from the class list,
  probabilities that sum to one, metrics in range, recomputed from the
  rows by the metrics module;
* the run folder holds SpeechBrain's files (the recipe's own ``train.py``
  copied, ``hyperparams.yaml``, the logs) and, for a family that hears
  audio only, the inference export.
"""

import glob
import importlib
import json
import math
import os

import pytest

from speechbrain_ext.utils.metrics import compute_metrics
from speechbrain_ext.utils.report import read_predictions_csv
from tests.integration.recipes.helpers import RECIPE as JOINT_RECIPE

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
    for condition in ("clean", "noise_5dB"):
        rows, metrics = _condition(run, condition)
        assert len(rows) == metrics["n"] > 0
        assert len({r["id"] for r in rows}) == len(rows)
        labels = metrics.get("labels")
        for key in ("WA", "UA", "macro_F1", "window_WA"):
            if key in metrics:
                assert 0.0 <= metrics[key] <= 100.0, (family, key)
        for key in ("WER", "CER"):
            if key in metrics:
                assert metrics[key] >= 0.0, (family, key)
        if labels is not None:
            for row in rows:
                assert row["pred"] in labels and row["emo"] in labels
                probs = row["probs"]
                values = probs.values() if isinstance(probs, dict) else probs
                assert math.isclose(sum(values), 1.0, abs_tol=1e-3)
        recomputed = compute_metrics(rows, labels)
        for key in ("WA", "UA", "WER", "CER", "window_WA"):
            if key in metrics:
                assert recomputed[key] == pytest.approx(metrics[key]), key


# the fusion recipe (hierarchical_coattention) exports no inference files
NOT_EXPORTED = {"fusion"}


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
    exported = {"inference.yaml", "custom_interface.py"} <= files
    assert exported == (family not in NOT_EXPORTED), family
