"""The recipe and the inference interface on a CUDA device.

Skipped without a GPU. ``joint.yaml`` with small randomly initialised
wav2vec2 and BERT models trains one step on the GPU in bf16, then the
inference interface loads the run on the GPU and classifies files.
"""

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_ext.synthetic.offline_models import build_bert, build_wav2vec2
from tests.integration.recipes.helpers import run_joint_yaml


def train_and_classify(tmp_path, device, precision):
    """One training step of joint.yaml and one inference call on ``device``.

    Returns the inference results of the two training files.
    """
    from speechbrain_ext.inference import load_model

    rng = np.random.default_rng(0)
    manifest = {}
    for i, (text, emo) in enumerate(
        [("I LOVE THIS GARDEN", "hap"), ("LEAVE ME ALONE", "ang")]
    ):
        path = tmp_path / f"utt{i}.wav"
        sf.write(path, 0.1 * rng.standard_normal(24000), 16000)
        manifest[f"utt{i}"] = {
            "wav": str(path),
            "duration": 1.5,
            "wrd": text,
            "emo": emo,
        }
    w2v = build_wav2vec2(str(tmp_path / "w2v"), preset="tiny")
    bert = build_bert(str(tmp_path / "bert"), preset="tiny")
    proc = run_joint_yaml(
        tmp_path,
        manifest,
        w2v,
        bert,
        f"--device={device}",
        f"--precision={precision}",
        "--encoder_dim=96",
        "--bert_dim=64",
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    out = tmp_path / "out"
    model = load_model(str(out), device=device)
    assert next(model.mods.parameters()).device.type == device.split(":")[0]
    return model.classify_files(
        [e["wav"] for e in manifest.values()], batch_size=2, progress=False
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_training_step_and_inference_on_cuda(tmp_path):
    results = train_and_classify(tmp_path, "cuda", "bf16")
    assert len(results) == 2
    for result in results:
        assert "error" not in result, result
        assert result["emotion"] in ("neu", "hap", "sad", "ang")
        assert abs(sum(result["probabilities"].values()) - 1.0) < 1e-3
