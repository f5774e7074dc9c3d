"""Cross-validation over folds of the joint demo recipe, end to end."""

import csv
import os
import subprocess
import sys

import pytest

from speechbrain_ext.utils.report import markdown_table
from tests.integration.recipes.helpers import (
    RECIPE,
    TRAIN,
    check_condition_reports,
    run_test_manifest,
)


def _cv(output, synth, *extra):
    cmd = [
        sys.executable,
        "-m",
        "speechbrain_ext.utils.cross_validation",
        "--script",
        TRAIN,
        "--hparams",
        os.path.join(RECIPE, "hparams", "joint_demo.yaml"),
        "--output_folder",
        str(output),
        "--protocol",
        "session",
        "--labels",
        "neu,hap,sad,ang",
        *extra,
        "--",
        f"--synthemo_folder={synth}",
        "--synthemo_utterances=150",
        "--number_of_epochs=1",
        "--test_conditions=clean",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=900
    )


@pytest.mark.slow
def test_folds_run_skip_and_pool(tmp_path):
    out, synth = tmp_path / "cv", tmp_path / "synth"
    first = _cv(out, synth, "--folds", "1,2")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert sorted(os.listdir(out)) == ["cv_results", "fold1", "fold2"]
    stamp = os.path.getmtime(out / "fold1" / "test_results" / "metrics.json")

    again = _cv(out, synth, "--folds", "1,2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Fold 1 is finished" in again.stderr + again.stdout
    assert (
        os.path.getmtime(out / "fold1" / "test_results" / "metrics.json")
        == stamp
    )

    # pooled numbers equal those recomputed by hand from the prediction files
    rows = []
    for fold in ("fold1", "fold2"):
        path = out / fold / "test_results" / "clean" / "predictions.csv"
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    test_speakers = {r["id"][:5] + r["id"].rsplit("_", 1)[1][0] for r in rows}
    assert test_speakers == {"Ses01F", "Ses01M", "Ses02F", "Ses02M"}
    import json

    with open(out / "cv_results" / "metrics.json") as f:
        cv = json.load(f)
    pooled = cv["pooled"]["clean"]
    correct = sum(r["emo"] == r["pred"] for r in rows)
    assert pooled["n"] == len(rows)
    assert abs(pooled["WA"] - 100 * correct / len(rows)) < 1e-9
    recalls = []
    for label in {r["emo"] for r in rows}:
        of_label = [r for r in rows if r["emo"] == label]
        recalls.append(
            sum(r["pred"] == label for r in of_label) / len(of_label)
        )
    assert abs(pooled["UA"] - 100 * sum(recalls) / len(recalls)) < 1e-9
    per_fold = cv["per_fold"]["clean"]
    mean_wa = sum(m["WA"] for m in per_fold.values()) / 2
    assert abs(cv["spread"]["clean"]["WA"]["mean"] - mean_wa) < 1e-9
    # each fold's reports: every test utterance of its manifest, the
    # metrics of its rows
    for fold in ("fold1", "fold2"):
        check_condition_reports(
            out / fold / "test_results",
            ["clean"],
            manifest=run_test_manifest(out / fold),
        )
    for name in ("folds.png", "confusion_clean.png"):
        png = (out / "cv_results" / name).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
    table = (out / "cv_results" / "results.md").read_text()
    assert markdown_table(cv["pooled"]) in table
