"""The inference interface reproduces the joint recipe's own evaluation.

On the shared run of the joint family (``trained_joint``): its export
(``inference.yaml`` naming ``joint_forward``), loaded by ``load_model``,
SpeechBrain's ``foreign_class`` and the command line.
"""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from speechbrain.inference.interfaces import foreign_class

from speechbrain_ext.inference import load_model


def _clean_predictions(run):
    path = run / "test_results" / "clean" / "predictions.csv"
    with open(path, newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def _test_wavs(run):
    with open(run / "prepared" / "test.json") as f:
        manifest = json.load(f)
    return {utt: entry["wav"] for utt, entry in manifest.items()}


@pytest.fixture(scope="module")
def joint_model(trained_joint):
    """The interface of the shared joint run, loaded once."""
    return load_model(str(trained_joint["out"]))


@pytest.mark.slow
def test_interface_matches_recipe_evaluation(trained_joint, joint_model):
    run = trained_joint["out"]
    expected = _clean_predictions(run)
    wavs = _test_wavs(run)
    model = joint_model
    ids = sorted(wavs)
    results = model.classify_files([wavs[i] for i in ids], batch_size=7)
    assert len(results) == len(ids) == len(expected)
    for utt, result in zip(ids, results):
        row = expected[utt]
        assert result["transcript"] == row["hyp"], utt
        assert result["emotion"] == row["pred"], utt
        for label, p in result["probabilities"].items():
            assert abs(p - float(row[f"prob_{label}"])) < 1e-2, (utt, label)
        assert abs(sum(result["probabilities"].values()) - 1) < 1e-4


@pytest.mark.slow
def test_any_rate_and_stereo_input(trained_joint, joint_model, tmp_path):
    """Stereo is mixed down and other rates are resampled to 16 kHz."""
    from scipy.signal import resample_poly

    run = trained_joint["out"]
    utt, wav = sorted(_test_wavs(run).items())[0]
    audio, rate = sf.read(wav, dtype="float32")
    stereo = tmp_path / "stereo16k.wav"
    sf.write(stereo, np.stack([audio, audio], axis=1), rate, subtype="FLOAT")
    other = tmp_path / "stereo44k.wav"
    sf.write(
        other,
        resample_poly(
            np.stack([audio, np.zeros_like(audio)], axis=1), 441, 160, axis=0
        ),
        44100,
    )
    model = joint_model
    original, from_stereo = model.classify_files([wav, str(stereo)])
    assert from_stereo["transcript"] == original["transcript"]
    assert from_stereo["emotion"] == original["emotion"]
    loaded = model.load_audio(str(other)).cpu().numpy()
    assert abs(len(loaded) - len(audio)) <= 2
    n = min(len(loaded), len(audio))
    # the left channel only: the mix-down halves it
    correlation = np.corrcoef(loaded[:n], audio[:n])[0, 1]
    assert correlation > 0.99


@pytest.mark.slow
def test_foreign_class_and_cli(trained_joint, tmp_path):
    run = trained_joint["out"]
    text = (run / "inference.yaml").read_text()
    assert (
        "\nforward: !name:speechbrain_ext.lobes.models.joint_asr_ser."
        "joint_forward\n" in text
    )
    expected = _clean_predictions(run)
    utt, wav = sorted(_test_wavs(run).items())[1]
    row = expected[utt]
    model = foreign_class(
        source=str(run),
        hparams_file="inference.yaml",
        pymodule_file="custom_interface.py",
        classname="RecipeInterface",
        savedir=str(tmp_path / "fc"),
    )
    out_prob, score, index, text_lab, transcripts = model.classify_file(wav)
    assert text_lab == [row["pred"]]
    assert transcripts == [row["hyp"]]
    assert model.labels == ["neu", "hap", "sad", "ang"]
    for label, p in zip(model.labels, out_prob.exp()[0].tolist()):
        assert abs(p - float(row[f"prob_{label}"])) < 1e-2, label
    assert float(score[0]) == float(out_prob[0, index[0]])
    assert model.transcribe_file(wav) == row["hyp"]
    out = tmp_path / "cli.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "speechbrain_ext.inference",
            "--model",
            str(run),
            "--output",
            str(out),
            wav,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["transcript"] == expected[utt]["hyp"]
    assert row["emotion"] == expected[utt]["pred"]
