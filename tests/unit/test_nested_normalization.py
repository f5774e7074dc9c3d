"""Encoders with a nested global normalization move its statistics to the
features' device (a GPU after a checkpoint loaded them on the CPU)."""

import pytest
import torch
from speechbrain.processing.features import InputNormalization

from speechbrain_ext.lobes.models import coattention_fusion, fbank_encoder
from speechbrain_ext.lobes.models.fbank_encoder import normalize_features


def test_statistics_loaded_on_another_device_follow_the_features(tmp_path):
    trained = InputNormalization(norm_type="global")
    trained(torch.randn(2, 10, 4), torch.ones(2))
    trained._save(tmp_path / "norm.ckpt")
    norm = InputNormalization(norm_type="global")
    norm._load(tmp_path / "norm.ckpt")  # as the checkpointer does: on CPU
    norm.eval()
    feats = torch.randn(2, 10, 4, device="meta")
    lens = torch.ones(2, device="meta")
    with pytest.raises(RuntimeError):
        norm(feats, lens)
    assert normalize_features(norm, feats, lens).device.type == "meta"


@pytest.mark.parametrize(
    "module, build",
    [
        (
            coattention_fusion,
            lambda: coattention_fusion.MFCCMaxPool(
                n_mfcc=13,
                n_mels=23,
                normalize=InputNormalization(norm_type="global"),
            ),
        ),
        (
            fbank_encoder,
            lambda: fbank_encoder.FbankEncoder(
                InputNormalization(norm_type="global"),
                n_mels=20,
                cnn_channels=(8,),
                rnn_size=8,
                rnn_layers=1,
            ),
        ),
    ],
)
def test_encoders_normalize_through_the_device_check(
    module, build, monkeypatch
):
    calls = []

    def spy(normalize, feats, lens):
        calls.append(feats.shape)
        return normalize_features(normalize, feats, lens)

    monkeypatch.setattr(module, "normalize_features", spy)
    build()(torch.randn(2, 8000), torch.ones(2))
    assert calls
