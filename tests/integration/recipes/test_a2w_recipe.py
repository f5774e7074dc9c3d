"""The LibriSpeech A2W recipe: a short demo training, and the paper's size."""

import os
import re
import subprocess
import sys

import pytest
import torch

from speechbrain_ext.dataio.librispeech_prepare import load_word_vocabulary
from speechbrain_ext.lobes.models.a2w import PRETRAINED_MODULES
from tests.integration.recipes.helpers import ROOT, read_log_stats
from tests.integration.recipes.spoken_librispeech import (
    make_spoken_librispeech,
)

RECIPE = os.path.join(ROOT, "recipes", "LibriSpeech", "ASR", "A2W")
SAMPLES = os.path.join(ROOT, "tests", "samples")


def run_a2w(yaml_name, *flags, cwd):
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    cmd = [
        sys.executable,
        os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", yaml_name),
    ]
    return subprocess.run(
        cmd + list(flags),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def prepare_flags(data_folder, prep):
    """Runs the real LibriSpeech preparation, as the yaml's prep step."""
    return [
        f"--data_folder={data_folder}",
        "--data_preparation=[!name:speechbrain_ext.dataio.librispeech_prepare"
        f".prepare_librispeech {{data_folder: {data_folder}, "
        f"save_folder: {prep}, splits: [train-clean-100, dev-clean, "
        "test-clean]}]",
        f"--prep_folder={prep}",
    ]


@pytest.mark.slow
def test_demo_trains_and_exports_the_pretrained_model(tmp_path):
    data_folder = make_spoken_librispeech(
        tmp_path,
        {"train-clean-100": 48, "dev-clean": 8, "test-clean": 8},
        n_words=16,
    )
    out = tmp_path / "run"
    proc = run_a2w(
        "train_demo.yaml",
        f"--output_folder={out}",
        *prepare_flags(data_folder, out / "prepared"),
        "--vocab_top_n=12",
        "--number_of_epochs=6",
        "--enc_layers=2",
        "--dynamic_batching=False",
        "--batch_size=8",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    epochs = read_log_stats(out / "train_log.txt")
    assert len(epochs) == 6
    losses = [e["train loss"] for e in epochs]
    # from about log(14) (chance) down: the decoder uses the audio
    assert losses[-1] < 0.88 * losses[0], losses

    exported = sorted(os.listdir(out / "pretrained"))
    assert exported == sorted(
        [f"{name}.ckpt" for name in PRETRAINED_MODULES] + ["vocabulary.txt"]
    )
    vocabulary = load_word_vocabulary(out / "pretrained" / "vocabulary.txt")
    assert vocabulary[0] == "<unk>" and vocabulary[-1] == "<eos>"
    assert len(vocabulary) == 12 + 2
    seq_lin = torch.load(out / "pretrained" / "seq_lin.ckpt")
    assert seq_lin["w.weight"].shape[0] == len(vocabulary)
    assert (out / "test_results" / "clean" / "predictions.csv").exists()
    assert "WER" in (out / "test_results" / "results.md").read_text()


def write_full_vocabulary(save_folder, top_n=10000):
    """The vocabulary of a resumed run: 10000 words without a big corpus."""
    os.makedirs(save_folder, exist_ok=True)
    words = ["<unk>"] + [f"W{i}" for i in range(top_n)] + ["<eos>"]
    with open(save_folder / "vocabulary.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(words) + "\n")


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
