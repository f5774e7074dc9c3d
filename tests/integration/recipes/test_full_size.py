"""The full-size configuration of joint.yaml builds and trains on a CPU.

wav2vec2 and BERT are built with the dimensions of
facebook/wav2vec2-large-960h-lv60-self and bert-base-uncased (random
weights, no download), then the recipe does one training step on two short
utterances.
"""

import re

import pytest
import soundfile as sf

from speechbrain_ext.synthetic.espeak import EspeakSynthesizer, Prosody
from speechbrain_ext.synthetic.offline_models import build_bert, build_wav2vec2
from tests.integration.recipes.helpers import run_joint_yaml


@pytest.mark.slow
def test_joint_yaml_full_size_training_step(tmp_path):
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
    w2v = build_wav2vec2(str(tmp_path / "w2v_large"), preset="large")
    bert = build_bert(str(tmp_path / "bert_base"), preset="base")
    proc = run_joint_yaml(
        tmp_path,
        manifest,
        w2v,
        bert,
        "--debug",
        "--debug_epochs=1",
        "--debug_batches=1",
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    counts = dict(re.findall(r"(model|pretrained): ([\d.]+)M trainable", log))
    # wav2vec2-large without its frozen conv front-end (~311M) + BERT-base
    # (~109M); fusion, CTC and emotion layers trained from scratch
    assert 400 < float(counts["pretrained"]) < 440, counts
    assert 0.5 < float(counts["model"]) < 5, counts
    losses = re.findall(r"train loss: ([\d.e+-]+)", log)
    assert losses and all(float(x) == float(x) for x in losses), log[-3000:]
