"""The Emo-DB LSTM demo trained with noise and tested under two conditions
(the session's ``trained_emodb`` run, slow)."""

import csv
import json
import math
import re

import pytest

from tests.integration.recipes.helpers import (
    check_condition_reports,
    read_log_stats,
    run_test_manifest,
)

EMOTIONS = ["ang", "bor", "dis", "fea", "hap", "sad", "neu"]
CONDITIONS = ["clean", "noise_5dB"]


def _predictions(out, condition):
    path = out / "test_results" / condition / "predictions.csv"
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _metrics(out):
    with open(out / "test_results" / "metrics.json", encoding="utf-8") as f:
        return json.load(f)


def _as_logged(value):
    """A metric as SpeechBrain's FileTrainLogger writes it (precision 2)."""
    return f"{value:.2f}" if 1.0 < value < 100.0 else f"{value:.2e}"


@pytest.mark.slow
def test_learns_on_held_out_speakers(trained_emodb):
    """3 epochs on 93 utterances; test on speakers 15 and 16 (31)."""
    out = trained_emodb
    with open(out / "prepared" / "test.json", encoding="utf-8") as f:
        test = json.load(f)
    assert {entry["spk_id"] for entry in test.values()} == {"15", "16"}
    metrics = _metrics(out)
    clean = metrics["clean"]
    assert clean["n"] == len(test) == 31
    # chance is 1/7 (14%); the most frequent class, anger, is 23%
    assert clean["WA"] > 35, clean
    assert clean["UA"] > 25, clean
    names = ("WA", "UA", "macro_F1", "window_WA")
    # every validation logs the core's metrics
    epochs = read_log_stats(out / "train_log.txt")
    for stats in epochs:
        for name in names:
            assert 0.0 <= stats[f"valid {name}"] <= 100.0, stats
    # the last epoch's model is tested (test_last_epoch), under each
    # condition: the log shows the reported metrics
    log = (out / "train_log.txt").read_text(encoding="utf-8")
    for condition in CONDITIONS:
        line = re.search(
            rf"^Epoch loaded: 3, condition: {condition} - test .*$", log, re.M
        )
        assert line, f"no test line for {condition}"
        logged = dict(re.findall(r"test (\w+): ([\d.e+-]+)", line[0]))
        for name in names:
            value = metrics[condition][name]
            assert logged[name] == _as_logged(value), (condition, name)


@pytest.mark.slow
def test_predictions_agree_with_the_metrics(trained_emodb):
    """Every test utterance has one row per condition, its windows counted:
    the metrics (window WA included) are those of the rows."""
    out = trained_emodb
    reports = check_condition_reports(
        out / "test_results",
        CONDITIONS,
        manifest=run_test_manifest(out),
        labels=EMOTIONS,
    )
    for rows, metrics in reports.values():
        # several windows per utterance on average
        assert metrics["n_windows"] > len(rows)


@pytest.mark.slow
def test_noise_reaches_training_and_test(trained_emodb):
    """Noise training doubles every batch of windows; the test noise
    changes the posteriors; train and test noise pools are disjoint."""
    out = trained_emodb
    log = (out / "log.txt").read_text(encoding="utf-8")
    windows = int(re.search(r"(\d+) training windows from 93", log)[1])
    train_log = (out / "train_log.txt").read_text(encoding="utf-8")
    audio = [
        float(s) for s in re.findall(r"train audio_s: ([\d.e+]+)", train_log)
    ]
    # windows of 25 frames with 5 frames of context on each side
    seconds = windows * (25 + 2 * 5 - 1) * 160 / 16000
    assert len(audio) == 3
    assert all(math.isclose(a, 2 * seconds, rel_tol=1e-3) for a in audio)
    clean, noisy = (
        {row["id"]: row for row in _predictions(out, c)} for c in CONDITIONS
    )
    assert any(
        clean[uid][f"prob_{label}"] != noisy[uid][f"prob_{label}"]
        for uid in clean
        for label in EMOTIONS
    )
    for category in ("noise", "music", "speech"):
        pools = []
        for pool in ("train", "test"):
            path = out / "noise_pools" / f"{category}_{pool}.csv"
            with open(path, encoding="utf-8") as f:
                pools.append({row["wav"] for row in csv.DictReader(f)})
        assert pools[0] and pools[1] and not pools[0] & pools[1]
