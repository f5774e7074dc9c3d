"""The Emo-DB LSTM demo trained with noise and tested under two conditions
(the session's ``trained_emodb`` run, slow)."""

import csv
import json
import math
import re

import pytest

EMOTIONS = ["ang", "bor", "dis", "fea", "hap", "sad", "neu"]
CONDITIONS = ["clean", "noise_5dB"]


def _predictions(out, condition):
    path = out / "test_results" / condition / "predictions.csv"
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _metrics(out):
    with open(out / "test_results" / "metrics.json", encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
def test_learns_on_held_out_speakers(trained_emodb):
    """3 epochs on 93 utterances; test on speakers 15 and 16 (31)."""
    out = trained_emodb
    with open(out / "prepared" / "test.json", encoding="utf-8") as f:
        test = json.load(f)
    assert {entry["spk_id"] for entry in test.values()} == {"15", "16"}
    clean = _metrics(out)["clean"]
    assert clean["n"] == len(test) == 31
    # chance is 1/7 (14%); the most frequent class, anger, is 23%
    assert clean["WA"] > 35, clean
    assert clean["UA"] > 25, clean
    log = (out / "train_log.txt").read_text(encoding="utf-8")
    # the last epoch's model is tested (test_last_epoch), under each
    # condition, with the core's metrics
    for condition in CONDITIONS:
        assert f"Epoch loaded: 3, condition: {condition} - test" in log
    for name in ("WA", "UA", "macro_F1", "window_WA"):
        assert f"valid {name}: " in log and f"test {name}: " in log


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.slow
def test_predictions_agree_with_the_metrics(trained_emodb, condition):
    out = trained_emodb
    metrics = _metrics(out)[condition]
    rows = _predictions(out, condition)
    with open(out / "prepared" / "test.json", encoding="utf-8") as f:
        test = json.load(f)
    assert sorted(row["id"] for row in rows) == sorted(test)
    assert len(rows) == metrics["n"]
    n_windows = correct = right = 0
    for row in rows:
        assert row["emo"] == test[row["id"]]["emo"]
        probs = [float(row[f"prob_{label}"]) for label in EMOTIONS]
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert math.isclose(sum(probs), 1.0, abs_tol=1e-4)
        assert row["pred"] == EMOTIONS[probs.index(max(probs))]
        windows, hits = int(row["n_windows"]), int(row["windows_correct"])
        assert 1 <= windows and 0 <= hits <= windows
        n_windows, correct = n_windows + windows, correct + hits
        right += row["pred"] == row["emo"]
    assert metrics["n_windows"] == n_windows > len(rows)
    assert math.isclose(metrics["window_WA"], 100 * correct / n_windows)
    assert math.isclose(metrics["WA"], 100 * right / len(rows))


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
