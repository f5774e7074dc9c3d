"""The heads of the joint forward pass."""

from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from speechbrain.dataio.encoder import CTCTextEncoder
from speechbrain.lobes.models.VanillaNN import VanillaNN
from speechbrain.nnet.activations import Softmax
from speechbrain.nnet.pooling import StatisticsPooling

from speechbrain_ext.lobes.models.joint_asr_ser import (
    joint_asr_ser_forward,
    joint_forward,
)


class Frames(torch.nn.Module):
    """Waveform [batch, 80] -> 10 frames of 8 values."""

    def forward(self, wav, lens):
        return wav.view(wav.shape[0], -1, 8)


def _tokenizer():
    tokenizer = CTCTextEncoder()
    tokenizer.update_from_iterable(list("ab "), sequence_input=False)
    tokenizer.insert_blank(index=0)
    return tokenizer


def _modules(asr_enc=None):
    torch.manual_seed(0)
    modules = {
        "encoder": Frames(),
        "ctc_lin": torch.nn.Linear(8 if asr_enc is None else 16, 4),
        "emo_classifier": torch.nn.Linear(8, 4),
    }
    if asr_enc is not None:
        modules["asr_enc"] = asr_enc
    return modules


def _forward(modules, wavs):
    return joint_asr_ser_forward(
        modules,
        wavs,
        torch.ones(wavs.shape[0]),
        log_softmax=Softmax(apply_log=True),
        pooling=StatisticsPooling(return_std=False),
        tokenizer=_tokenizer(),
    )


def test_asr_enc_feeds_the_ctc_layer_only():
    wavs = torch.rand(3, 80)
    dnn = VanillaNN(input_shape=[None, None, 8], dnn_blocks=2, dnn_neurons=16)
    with_dnn = _modules(dnn)
    out = _forward(with_dnn, wavs)
    frames = Frames()(wavs, None)
    expected = torch.log_softmax(with_dnn["ctc_lin"](dnn(frames)), dim=-1)
    assert torch.allclose(out["p_ctc"], expected, atol=1e-6)
    # the emotion head reads the encoder frames, not the DNN's output
    pooled = frames.mean(dim=1)
    expected_emo = torch.log_softmax(with_dnn["emo_classifier"](pooled), -1)
    # (StatisticsPooling adds noise of about 1e-4 to the mean)
    assert torch.allclose(out["p_emo"], expected_emo, atol=1e-3)
    assert len(out["hyps"]) == 3


def test_without_asr_enc_the_ctc_layer_reads_the_frames():
    wavs = torch.rand(2, 80)
    modules = _modules()
    out = _forward(modules, wavs)
    frames = Frames()(wavs, None)
    expected = torch.log_softmax(modules["ctc_lin"](frames), dim=-1)
    assert torch.allclose(out["p_ctc"], expected, atol=1e-6)


def test_joint_forward_reads_hparams_and_decodes_outside_training():
    """The family's forward function: the recipe's hyperparameters, the
    tokenizer as context, hypotheses in VALID/TEST only."""
    wavs = torch.rand(2, 80)
    modules = _modules()
    hparams = SimpleNamespace(
        log_softmax=Softmax(apply_log=True),
        pooling=StatisticsPooling(return_std=False),
        blank_index=0,
    )
    test = joint_forward(
        modules, hparams, wavs, torch.ones(2), tokenizer=_tokenizer()
    )
    expected = _forward(modules, wavs)
    assert torch.equal(test["p_ctc"], expected["p_ctc"])
    assert torch.allclose(test["p_emo"], expected["p_emo"], atol=1e-3)
    assert test["hyps"] == expected["hyps"]
    with pytest.raises(ValueError, match="pass tokenizer="):
        joint_forward(modules, hparams, wavs, torch.ones(2))
    train = joint_forward(
        modules,
        hparams,
        wavs,
        torch.ones(2),
        sb.Stage.TRAIN,
        tokenizer=_tokenizer(),
    )
    assert "hyps" not in train and "p_ctc" in train
