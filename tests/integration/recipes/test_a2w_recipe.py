"""The LibriSpeech A2W recipe: a short noise-trained demo run, and the
paper's size."""

import json
import os
import re

import pytest
import torch

from speechbrain_ext.dataio.word_tokens import (
    load_word_vocabulary,
    save_word_vocabulary,
    word_vocabulary,
)
from speechbrain_ext.lobes.models.a2w import PRETRAINED_MODULES
from tests.integration.recipes.family_libri_a2w import (
    EPOCHS,
    N_WORDS,
    SPLITS,
    run_a2w,
)
from tests.integration.recipes.helpers import (
    ROOT,
    check_condition_reports,
    read_log_stats,
    run_test_manifest,
)

SAMPLES = os.path.join(ROOT, "tests", "samples")


@pytest.mark.slow
def test_demo_trains_and_exports_the_pretrained_model(trained_libri_a2w):
    out = trained_libri_a2w
    epochs = read_log_stats(out / "train_log.txt")
    assert len(epochs) == EPOCHS
    losses = [e["train loss"] for e in epochs]
    # from about log(10) (chance) down: the decoder uses the audio
    assert losses[-1] < 0.7 * losses[0], losses
    # every batch got its noisy copy: twice the training audio
    manifest = json.loads((out / "prepared" / "train.json").read_text())
    seconds = sum(float(entry["duration"]) for entry in manifest.values())
    assert epochs[0]["train audio_s"] == pytest.approx(2 * seconds, rel=0.01)

    exported = sorted(os.listdir(out / "pretrained"))
    assert exported == sorted(
        [f"{name}.ckpt" for name in PRETRAINED_MODULES] + ["vocabulary.txt"]
    )
    vocabulary = load_word_vocabulary(out / "pretrained" / "vocabulary.txt")
    words = vocabulary.decode_ndim(range(len(vocabulary)))
    assert words[0] == "<unk>" and words[-1] == "<eos>"
    assert len(vocabulary) == N_WORDS + 2
    seq_lin = torch.load(out / "pretrained" / "seq_lin.ckpt")
    assert seq_lin["w.weight"].shape[0] == len(vocabulary)


@pytest.mark.slow
def test_demo_reports_every_condition(trained_libri_a2w):
    """Both conditions score every test utterance (ASR only), with the
    metrics of their rows; the model recognises words on clean speech.

    Only that the noise reaches the model (some hypothesis changes) is
    asserted, not an order of the clean and noisy error rates: the 16 test
    utterances hold 86 words, and the noisy WER was measured 3 to 7 points
    (3 to 6 words) above the clean one, the CER under 1 point."""
    out = trained_libri_a2w
    results = out / "test_results"
    reports = check_condition_reports(
        results, ["clean", "noise_5dB"], manifest=run_test_manifest(out)
    )
    hyps = {}
    for condition, (rows, values) in reports.items():
        assert values["n"] == SPLITS["test-clean"]
        assert sorted(values) == ["CER", "WER", "n"]  # ASR only
        hyps[condition] = [row["hyp"] for row in rows]
    metrics = {condition: values for condition, (_, values) in reports.items()}
    # the model recognises words: clean WER below 100 (all deletions)
    assert metrics["clean"]["WER"] < 90, metrics
    # the noise reaches the model: some hypothesis changes
    assert hyps["clean"] != hyps["noise_5dB"]
    table = (results / "results.md").read_text()
    assert "| clean |" in table and "| noise_5dB |" in table


def write_full_vocabulary(save_folder, top_n=10000):
    """The vocabulary of a resumed run: 10000 words without a big corpus."""
    words = word_vocabulary([f"W{i}" for i in range(top_n)], eos=True)
    save_word_vocabulary(words, save_folder / "vocabulary.txt")


@pytest.mark.slow
def test_full_size_training_step(tmp_path):
    """train.yaml (5 BLSTM x 320, 10002 words): one training step."""
    out = tmp_path / "run"
    write_full_vocabulary(out / "save")
    annotation = os.path.join(SAMPLES, "annotation", "ASR_train.json")
    proc = run_a2w(
        "train.yaml",
        f"--output_folder={out}",
        f"--data_folder={os.path.join(SAMPLES, 'ASR')}",
        f"--train_annotation={annotation}",
        f"--valid_annotation={annotation}",
        f"--test_annotation={annotation}",
        "--musan_folder=",
        "--test_conditions=clean",
        "--skip_prep=True",
        "--batch_size=2",
        "--test_dataloader_opts={batch_size: 2}",
        "--debug",
        "--debug_epochs=1",
        "--debug_batches=1",
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    count = float(re.search(r"model: ([\d.]+)M trainable", log).group(1))
    # encoder ~11.0M, embedding 3.2M, decoder ~1.6M, output layers ~3.3M;
    # the CTC layer (6.4M) is frozen with ctc_epochs: 0
    assert 17 < count < 21, count
    losses = read_log_stats(out / "train_log.txt")[0]
    assert 0 < losses["train loss"] < 20, losses
    enc = torch.load(out / "pretrained" / "enc.ckpt")
    assert enc["rnn.forward_layers.4.weight_ih_l0"].shape == (4 * 320, 640)
