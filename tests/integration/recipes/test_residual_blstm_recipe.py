"""The residual-BLSTM + E-transformer recipe: the family's short
noise-trained demo run (``trained_residual``), tested on a held-out session
under clean speech and noise at 5 dB (slow)."""

import csv
import json

import pytest

from tests.integration.recipes.helpers import (
    check_condition_reports,
    read_log_stats,
    run_test_manifest,
)

EMOTIONS = ["neu", "hap", "sad", "ang"]
CONDITIONS = ["clean", "noise_5dB"]


def _split(out, split):
    with open(out / "prepared" / f"{split}.json", encoding="utf-8") as f:
        return json.load(f)


def _predictions(out, condition):
    path = out / "test_results" / condition / "predictions.csv"
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _metrics(out, condition):
    path = out / "test_results" / condition / "metrics.json"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
def test_demo_splits_a_held_out_session(trained_residual):
    """Leave-one-session-out, fold 1: session 1 tests, Ses02F validates."""
    out = trained_residual
    splits = {s: _split(out, s) for s in ("train", "valid", "test")}
    test_speakers = {e["spk_id"] for e in splits["test"].values()}
    assert test_speakers == {"Ses01F", "Ses01M"}
    assert {e["spk_id"] for e in splits["valid"].values()} == {"Ses02F"}
    train_speakers = {e["spk_id"] for e in splits["train"].values()}
    assert not train_speakers & (test_speakers | {"Ses02F"})


@pytest.mark.slow
def test_demo_predictions_and_metrics(trained_residual):
    """One prediction row per test utterance under each condition,
    probabilities that sum to one, and metrics that are those of the
    rows."""
    out = trained_residual
    reports = check_condition_reports(
        out / "test_results",
        CONDITIONS,
        manifest=run_test_manifest(out),
        labels=EMOTIONS,
    )
    for _, metrics in reports.values():
        assert metrics["n"] > 50


@pytest.mark.slow
def test_demo_learns_and_hears_the_test_noise(trained_residual):
    """Above chance (25% UA) on clean speech; noise at 5 dB changes the
    predictions."""
    out = trained_residual
    clean = _metrics(out, "clean")
    # 300 utterances, 2 noise-trained epochs: 47.1% UA measured
    assert clean["UA"] > 35, clean
    noisy = {row["id"]: row for row in _predictions(out, "noise_5dB")}
    changed = [
        row["id"]
        for row in _predictions(out, "clean")
        if row["prob_neu"] != noisy[row["id"]]["prob_neu"]
    ]
    assert changed
    # the tested checkpoint is the epoch of the best validation UA
    valid_ua = [e["valid UA"] for e in read_log_stats(out / "train_log.txt")]
    best = 1 + valid_ua.index(max(valid_ua))
    log = (out / "train_log.txt").read_text()
    for condition in CONDITIONS:
        assert f"Epoch loaded: {best}, condition: {condition}" in log


@pytest.mark.slow
def test_demo_trains_on_noisy_copies(trained_residual):
    """noise_prob 1.0: every epoch reads each training utterance twice
    (clean and noisy), cut at max_duration."""
    out = trained_residual
    train = _split(out, "train")
    seconds = sum(min(e["duration"], 3.0) for e in train.values())
    epochs = read_log_stats(out / "train_log.txt")
    assert len(epochs) == 2
    for stats in epochs:
        assert stats["train audio_s"] == pytest.approx(2 * seconds, rel=1e-2)
    # the noise of training and test comes from disjoint pools
    for category in ("noise", "music", "speech"):
        pools = []
        for pool in ("train", "test"):
            path = out / "noise_pools" / f"{category}_{pool}.csv"
            with open(path, encoding="utf-8", newline="") as f:
                pools.append({row["wav"] for row in csv.DictReader(f)})
        assert pools[0] and pools[1] and not pools[0] & pools[1]
