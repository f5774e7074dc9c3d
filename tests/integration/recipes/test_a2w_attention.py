"""End-to-end checks of recipes/IEMOCAP/ASR_SER/A2W_attention.

* the ASR-SER demo, noise-trained on a small SynthEmo corpus from a
  (random) A2W export (``family_a2w.train``, the session's
  ``trained_a2w``): its losses go down, and the reports of both test
  conditions hold every test utterance with valid probabilities;
* the combined baseline reads the A2W model's transcripts at test time
  (the pipeline rows of Table 1) and reports their WER;
* the full-size yaml (paper dimensions, random weights) does one step.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import soundfile as sf

from speechbrain_ext.synthetic.espeak import EspeakSynthesizer, Prosody
from speechbrain_ext.synthetic.random_a2w import build_random_a2w, corpus_words
from tests.integration.recipes.helpers import (
    CONDITIONS,
    ROOT,
    check_condition_reports,
    read_log_stats,
    run_test_manifest,
)

RECIPE = os.path.join(ROOT, "recipes", "IEMOCAP", "ASR_SER", "A2W_attention")
EMOTIONS = ["neu", "hap", "sad", "ang"]


def run_a2w_recipe(yaml_name, *flags, cwd):
    """Runs this recipe's train.py on one of its yaml files."""
    cmd = [
        sys.executable,
        os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", yaml_name),
        *flags,
    ]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=1500
    )


@pytest.fixture(scope="module")
def demo_export(synthemo_150, tmp_path_factory):
    """A random A2W export of the demo's dimensions, SynthEmo's words."""
    folder = tmp_path_factory.mktemp("a2w_demo") / "pretrained"
    words = corpus_words(str(synthemo_150 / "IEMOCAP_full_release"))
    hparams = os.path.join(RECIPE, "hparams", "train_demo.yaml")
    return build_random_a2w(hparams, str(folder), words)


def _demo_flags(tmp_path, synthemo, epochs):
    conditions = tmp_path / "two_conditions.yaml"
    conditions.write_text(CONDITIONS)
    return [
        f"--output_folder={tmp_path / 'run'}",
        f"--synthemo_folder={synthemo}",
        "--synthemo_utterances=150",
        f"--number_of_epochs={epochs}",
        f"--test_conditions={conditions}",
    ]


@pytest.mark.slow
def test_demo_finetuning_lowers_the_losses(trained_a2w):
    epochs = read_log_stats(trained_a2w / "train_log.txt")
    assert len(epochs) == 3
    first, last = epochs[0], epochs[-1]
    assert last["train loss"] < first["train loss"], epochs
    assert last["train loss_asr"] < first["train loss_asr"], epochs
    assert last["train loss_ser"] < first["train loss_ser"], epochs


@pytest.mark.slow
def test_demo_reports_every_test_utterance_under_both_conditions(
    trained_a2w,
):
    """Both conditions score every test utterance, with valid
    probabilities and the metrics of their rows; the bounded decoder keeps
    the WER in check.

    No order of the clean and noisy WER is asserted: this short
    fine-tuning of a random A2W model leaves its hypotheses empty (WER and
    CER measured at 100 under both conditions)."""
    reports = check_condition_reports(
        trained_a2w / "test_results",
        ["clean", "noise_5dB"],
        manifest=run_test_manifest(trained_a2w),
        labels=EMOTIONS,
    )
    for condition, (rows, values) in reports.items():
        # the bounded decoder: at most 5.4 words per second of audio, so
        # the WER stays far from the former thousands of percent
        assert values["WER"] < 300, (condition, values)
        assert all(row["ref"] for row in rows)


@pytest.mark.slow
def test_combined_baseline_on_asr_transcripts(
    tmp_path, synthemo_150, demo_export
):
    proc = run_a2w_recipe(
        "combined_baseline_demo.yaml",
        *_demo_flags(tmp_path, synthemo_150, 2),
        "--test_text=asr",
        f"--pretrained_path={demo_export}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = tmp_path / "run"
    epochs = read_log_stats(out / "train_log.txt")
    assert epochs[-1]["train loss"] < epochs[0]["train loss"], epochs
    reports = check_condition_reports(
        out / "test_results",
        ["clean", "noise_5dB"],
        manifest=run_test_manifest(out),
        labels=EMOTIONS,
    )
    # the transcripts of a random A2W model are wrong
    clean = reports["clean"][1]
    assert clean["WER"] > 50, clean


def _two_utterances(tmp_path):
    tts = EspeakSynthesizer()
    manifest = {}
    for i, (text, emo) in enumerate(
        [("i love this garden", "hap"), ("leave me alone", "ang")]
    ):
        path = tmp_path / f"utt{i}.wav"
        sf.write(path, tts.synthesize(text, "en-us+f1", Prosody()), 16000)
        manifest[f"utt{i}"] = {
            "wav": str(path),
            "duration": sf.info(path).duration,
            "wrd": text.upper(),
            "emo": emo,
        }
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(manifest))
    return ann


@pytest.mark.slow
def test_train_yaml_full_size_training_step(tmp_path):
    """5 x 320 BLSTM A2W, 2 x 256 BiLSTM, 8 heads, FC 2048: one step."""
    ann = _two_utterances(tmp_path)
    export = build_random_a2w(
        os.path.join(RECIPE, "hparams", "train.yaml"),
        str(tmp_path / "pretrained"),
        words=["I", "LOVE", "THIS", "GARDEN", "LEAVE", "ME", "ALONE"],
    )
    proc = run_a2w_recipe(
        "train.yaml",
        f"--output_folder={tmp_path / 'out'}",
        f"--data_folder={tmp_path}",
        "--musan_folder=",
        "--test_conditions=clean",
        f"--train_annotation={ann}",
        f"--valid_annotation={ann}",
        f"--test_annotation={ann}",
        "--skip_prep=True",
        f"--pretrained_path={export}",
        "--num_workers=0",
        "--emotions=[hap,ang]",  # the two classes of the manifest
        "--debug",
        "--debug_epochs=1",
        "--debug_batches=1",
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    count = float(re.search(r"model: ([\d.]+)M trainable", log).group(1))
    # A2W: encoder 5 x 320 BLSTM (~12.6M), 10002-word embedding and output
    # layer (~5.8M), decoder (~1.5M); SER: 2 BiLSTM branches (~2 x 2.7M),
    # attention (~2 x 0.3M), FC 8192 x 2048 (~16.8M)
    assert 40 < count < 45, count
    losses = re.findall(r"train loss: ([\d.e+-]+)", log)
    assert losses and all(float(x) == float(x) for x in losses), log[-3000:]
    # both utterances scored (one test batch), the metrics of the rows
    check_condition_reports(
        tmp_path / "out" / "test_results",
        ["clean"],
        manifest=run_test_manifest(tmp_path / "out"),
        labels=["hap", "ang"],
    )
