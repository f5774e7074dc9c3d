"""End-to-end checks of recipes/IEMOCAP/ASR_SER/hierarchical_coattention.

* the demo yaml trains for 3 epochs on a small SynthEmo corpus and its
  losses go down;
* the full-size yaml (wav2vec2-base and BERT-base dimensions, random
  weights, no download) builds and does one training step on a CPU.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import soundfile as sf

from speechbrain_ext.synthetic.espeak import EspeakSynthesizer, Prosody
from speechbrain_ext.synthetic.offline_models import build_bert, build_wav2vec2
from tests.integration.recipes.helpers import ROOT, read_log_stats

RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "hierarchical_coattention"
)


def run_fusion_recipe(yaml_name, *flags, cwd):
    """Runs this recipe's train.py on one of its yaml files."""
    cmd = [
        sys.executable,
        os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", yaml_name),
        *flags,
    ]
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.mark.slow
def test_demo_training_lowers_the_losses(tmp_path, synthemo_150):
    out = tmp_path / "run"
    proc = run_fusion_recipe(
        "train_demo.yaml",
        f"--output_folder={out}",
        f"--synthemo_folder={synthemo_150}",
        "--synthemo_utterances=150",
        "--number_of_epochs=3",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    epochs = read_log_stats(out / "train_log.txt")
    assert len(epochs) == 3
    first, last = epochs[0], epochs[-1]
    assert last["train loss"] < first["train loss"], epochs
    assert last["train loss_ctc"] < first["train loss_ctc"], epochs
    metrics = json.loads((out / "test_results" / "metrics.json").read_text())
    clean = metrics["clean"]
    for key in ("WA", "UA", "macro_F1", "WER"):
        assert key in clean, clean
    assert (out / "test_results" / "clean" / "predictions.csv").exists()


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
    """wav2vec2-base and BERT-base dimensions, one step on two utterances."""
    ann = _two_utterances(tmp_path)
    w2v = build_wav2vec2(str(tmp_path / "w2v_base"), preset="base")
    bert = build_bert(str(tmp_path / "bert_base"), preset="base")
    proc = run_fusion_recipe(
        "train.yaml",
        f"--output_folder={tmp_path / 'out'}",
        f"--data_folder={tmp_path}",
        f"--train_annotation={ann}",
        f"--valid_annotation={ann}",
        f"--test_annotation={ann}",
        "--skip_prep=True",
        f"--wav2vec2_hub={w2v}",
        f"--bert_source={bert}",
        "--num_workers=0",
        "--debug",
        "--debug_epochs=1",
        "--debug_batches=1",
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    counts = dict(re.findall(r"(model|pretrained): ([\d.]+)M trainable", log))
    # wav2vec2-base without its frozen convolutional front-end (~90M);
    # BERT-base is a frozen feature extractor
    assert 85 < float(counts["pretrained"]) < 95, counts
    # stream encoders, fusion, CTC and output layers trained from scratch
    assert 0.2 < float(counts["model"]) < 2, counts
    losses = re.findall(r"train loss: ([\d.e+-]+)", log)
    assert losses and all(float(x) == float(x) for x in losses), log[-3000:]
    assert "| clean |" in log
