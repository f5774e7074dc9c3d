"""The residual-BLSTM + E-transformer recipe: a short demo training on a
generated corpus, tested on a held-out session (slow)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RECIPE = os.path.join(
    ROOT,
    "recipes",
    "IEMOCAP",
    "emotion_recognition",
    "residual_BLSTM_Etransformer",
)


@pytest.mark.slow
def test_demo_recipe_learns_on_a_held_out_session(tmp_path):
    """5 epochs on ~420 generated utterances; test on session 1."""
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "train_demo.yaml"),
        f"--output_folder={out}",
        f"--synthemo_folder={tmp_path / 'synthemo'}",
        "--synthemo_utterances=600",
        "--number_of_epochs=5",
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    splits = {}
    for split in ("train", "valid", "test"):
        with open(out / "prepared" / f"{split}.json", encoding="utf-8") as f:
            splits[split] = json.load(f)
    # leave-one-session-out, fold 1: session 1 tests, Ses02F validates
    test_speakers = {e["spk_id"] for e in splits["test"].values()}
    assert test_speakers == {"Ses01F", "Ses01M"}
    assert {e["spk_id"] for e in splits["valid"].values()} == {"Ses02F"}
    train_speakers = {e["spk_id"] for e in splits["train"].values()}
    assert not train_speakers & (test_speakers | {"Ses02F"})
    with open(out / "test_results" / "clean" / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["n"] == len(splits["test"]) > 80
    # chance is 25% UA on the 4 classes (a 600-utterance corpus, 5 epochs:
    # 52% UA measured)
    assert metrics["UA"] > 40, metrics
    assert metrics["WA"] > 40, metrics
    assert (out / "test_results" / "clean" / "predictions.csv").exists()
    assert "Epoch loaded" in (out / "train_log.txt").read_text()
