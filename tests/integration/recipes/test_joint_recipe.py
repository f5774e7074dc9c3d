"""End-to-end checks of recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT.

A short training of the joint model on a small SynthEmo corpus is shared by
the tests of this module (and by the inference tests).
"""

import json

import pytest

from tests.integration.recipes.helpers import (
    check_condition_reports,
    read_log_stats,
    run_recipe,
    run_test_manifest,
)


@pytest.mark.slow
def test_joint_training_learns_both_tasks(trained_joint):
    epochs = read_log_stats(trained_joint["out"] / "train_log.txt")
    assert len(epochs) == 10
    first, last = epochs[0], epochs[-1]
    assert last["train loss_ctc"] < 0.7 * first["train loss_ctc"]
    assert last["train loss_ser"] < 0.9 * first["train loss_ser"]
    with open(trained_joint["out"] / "test_results" / "metrics.json") as f:
        metrics = json.load(f)
    clean = metrics["clean"]
    # chance: 25% UA for 4 classes; 100% CER for an untrained CTC model
    assert clean["UA"] > 40.0, clean
    assert clean["CER"] < 60.0, clean


@pytest.mark.slow
def test_results_hold_every_test_utterance(trained_joint):
    """Both conditions score every test utterance of the run's manifest,
    with the metrics of their rows; noise at 5 dB hurts recognition: the
    noisy CER is at least 10 points above the clean one, the noisy WER at
    least 20 (measured, the same in repeated runs: CER 43.6 clean and 69.6
    noisy, WER 75.5 and 121.5)."""
    out = trained_joint["out"]
    results = out / "test_results"
    check_condition_reports(
        results,
        ["clean", "noise_5dB"],
        manifest=run_test_manifest(out),
        labels=["neu", "hap", "sad", "ang"],
        noise_raises={"CER": 10.0, "WER": 20.0},
    )
    pngs = [results / "conditions.png"] + [
        results / cond / "confusion.png" for cond in ("clean", "noise_5dB")
    ]
    for png in pngs:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), png


@pytest.mark.slow
def test_test_only_reproduces_end_of_training_metrics(trained_joint):
    again = trained_joint["work"] / "again"
    proc = run_recipe(
        "joint_demo.yaml",
        f"--output_folder={trained_joint['out']}",
        f"--synthemo_folder={trained_joint['work'] / 'synthemo'}",
        "--synthemo_utterances=600",
        f"--test_conditions={trained_joint['conditions']}",
        f"--results_folder={again}",
        "--test_only",
        cwd=trained_joint["work"],
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    first = json.loads(
        (trained_joint["out"] / "test_results" / "metrics.json").read_text()
    )
    second = json.loads((again / "metrics.json").read_text())
    assert first == second
    for cond in ("clean", "noise_5dB"):
        a = (
            trained_joint["out"] / "test_results" / cond / "predictions.csv"
        ).read_text()
        b = (again / cond / "predictions.csv").read_text()
        assert a == b


@pytest.mark.slow
def test_test_only_without_checkpoint_fails_loudly(trained_joint, tmp_path):
    proc = run_recipe(
        "joint_demo.yaml",
        f"--output_folder={tmp_path / 'empty'}",
        f"--synthemo_folder={trained_joint['work'] / 'synthemo'}",
        "--synthemo_utterances=600",
        "--test_conditions=clean",
        "--test_only",
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "No checkpoint found" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_debug_flag_runs_two_short_epochs(trained_joint, tmp_path):
    proc = run_recipe(
        "joint_demo.yaml",
        f"--output_folder={tmp_path / 'debug'}",
        f"--synthemo_folder={trained_joint['work'] / 'synthemo'}",
        "--synthemo_utterances=600",
        "--test_conditions=clean",
        "--debug",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert log.count("Going into epoch") == 2
    # the debug batches of the test set, scored and reported
    reports = check_condition_reports(
        tmp_path / "debug" / "test_results", ["clean"]
    )
    rows, _ = reports["clean"]
    manifest = run_test_manifest(tmp_path / "debug")
    assert {row["id"] for row in rows} <= set(manifest)
