"""The Emo-DB LSTM recipe: windowing and aggregation, features, encoder,
full-size configurations (its demo's training: recipes/test_emodb_demo.py)."""

import os

import pytest
import torch
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_ext.lobes.models.window_rnn import (
    RecurrentWindowEncoder,
    SpectralFeatures,
    feature_size,
)
from speechbrain_ext.nnet.windows import (
    AudioWindows,
    aggregate_windows,
    sliding_windows,
    window_starts,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RECIPE = os.path.join(ROOT, "recipes", "EmoDB", "emotion_recognition", "LSTM")


# ----------------------------------------------------------------------
# Windows and aggregation
# ----------------------------------------------------------------------
@pytest.mark.parametrize("n_frames", [24, 25, 26, 27, 28, 100, 301])
def test_window_count_and_coverage(n_frames):
    starts = window_starts(n_frames, size=25, shift=3)
    expected = 1 if n_frames <= 25 else (n_frames - 25) // 3 + 1
    assert len(starts) == expected
    assert starts[0] == 0 and all(
        b - a == 3 for a, b in zip(starts, starts[1:])
    )
    if n_frames >= 25:
        # every window inside the sequence; fewer than 3 frames left over
        assert starts[-1] + 25 <= n_frames < starts[-1] + 25 + 3


@pytest.mark.parametrize("kind, delta_order", [("mspec", 2), ("mfcc", 1)])
def test_training_windows_of_audio_give_the_test_windows(kind, delta_order):
    """The features of AudioWindows' windows of audio (training), cropped
    as the forward pass crops them, are the windows that sliding_windows
    cuts from the features of the utterances (test): first and last windows
    of an utterance and a short utterance included."""
    torch.manual_seed(0)
    features = SpectralFeatures(kind, delta_order)
    # 45 frames, 8 frames (shorter than a window: one window), 78 frames
    lengths = [7040, 1200, 12345]
    utts = [
        {"id": f"u{i}", "sig": torch.randn(n), "emo": torch.tensor([i])}
        for i, n in enumerate(lengths)
    ]
    windows = AudioWindows(
        utts, 25, 3, features.hop_length, features.context, label_key="emo"
    )
    items = PaddedBatch([windows[i] for i in range(len(windows))])
    assert items.sig.data.shape == (7 + 1 + 18, windows.n_samples)
    start = features.context
    trained = features(items.sig.data, items.frame_range.data)
    trained = trained[:, start : start + 25]
    batch = PaddedBatch(utts)
    wavs, lens = batch.sig
    frames = features.utterance_frames(lens, wavs.shape[1])
    assert frames[:, 1].tolist() == [44, 7, 77]
    feats = features(wavs, frames)
    cut, owners = sliding_windows(
        feats, (frames[:, 1] + 1) / feats.shape[1], size=25, shift=3
    )
    assert trained.shape == cut.shape == (26, 25, features.output_size)
    assert torch.allclose(trained, cut, atol=1e-4)
    assert items.emo.data[:, 0].tolist() == owners.tolist()
    assert items.id == [f"u{int(o)}" for o in owners]
    # In the padded batch, each utterance has its features computed alone
    # (derivatives at its last frames included)
    for i, utt in enumerate(utts):
        alone = features(utt["sig"][None])[0]
        assert torch.allclose(feats[i, : len(alone)], alone, atol=1e-4)
    # A short utterance: one window, its last frame repeated
    short = cut[owners == 1][0]
    assert torch.equal(short[8:], short[7:8].expand(17, -1))
    with pytest.raises(ValueError, match="utterance 'e': expected a non-"):
        AudioWindows([{"id": "e", "sig": torch.zeros(0), "emo_encoded": 0}])


def test_aggregation():
    torch.manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(7, 4), dim=-1)
    owners = torch.tensor([0, 0, 0, 1, 2, 2, 2])
    out = aggregate_windows(log_probs, owners, 3)
    assert out.shape == (3, 4)
    assert torch.allclose(out.exp().sum(-1), torch.ones(3))
    for seq in range(3):
        mean = log_probs[owners == seq].mean(0)
        assert torch.allclose(out[seq], torch.log_softmax(mean, -1))
    # one window: its own posterior
    assert torch.allclose(out[1], log_probs[3])
    # the arithmetic mean of the posteriors
    out = aggregate_windows(log_probs, owners, 3, method="mean_prob")
    assert torch.allclose(out[2].exp(), log_probs[4:].exp().mean(0))
    # a confident window against two hesitant ones
    p = torch.tensor([[0.98, 0.02], [0.4, 0.6], [0.4, 0.6]])
    owners = torch.zeros(3, dtype=torch.long)
    assert aggregate_windows(p.log(), owners, 1).argmax() == 0
    assert aggregate_windows(p.log(), owners, 1, "mean_prob").argmax() == 0
    with pytest.raises(ValueError, match="at least one window"):
        aggregate_windows(p.log(), owners, 2)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        aggregate_windows(p.log(), owners, 1, "vote")


# ----------------------------------------------------------------------
# Features and encoder
# ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mfcc", "mspec"])
def test_features_and_their_derivatives(kind):
    torch.manual_seed(0)
    wav = torch.randn(1, 8000)
    raw = SpectralFeatures(kind, delta_order=0)(wav)
    full = SpectralFeatures(kind, delta_order=2)(wav)
    base = raw.shape[-1]
    assert base == {"mfcc": 13, "mspec": 40}[kind]
    assert full.shape[-1] == feature_size(kind, 2) == 3 * base
    assert torch.allclose(full[..., :base], raw)
    # equation (1): N = 1 for the first derivative, N = 2 for the second
    c = raw[0]
    delta = (c[2:] - c[:-2]) / 2
    assert torch.allclose(full[0, 1:-1, base : 2 * base], delta, atol=1e-4)
    d = full[0, :, base : 2 * base]
    dd = (d[3:-1] - d[1:-3] + 2 * (d[4:] - d[:-4])) / 10
    assert torch.allclose(full[0, 2:-2, 2 * base :], dd, atol=1e-4)


def test_encoder_returns_the_final_states():
    torch.manual_seed(0)
    x = torch.randn(5, 25, 6)
    for cell in ("rnn", "lstm", "gru"):
        enc = RecurrentWindowEncoder(6, cell, 8, bidirectional=True).eval()
        outputs, _ = enc.rnn(x)
        state = enc(x)
        assert state.shape == (5, 16)
        # forward direction after the last frame, backward after the first
        assert torch.allclose(state[:, :8], outputs[:, -1, :8], atol=1e-6)
        assert torch.allclose(state[:, 8:], outputs[:, 0, 8:], atol=1e-6)
    enc = RecurrentWindowEncoder(6, "lstm", 8).eval()
    outputs, _ = enc.rnn(x)
    assert torch.allclose(enc(x), outputs[:, -1], atol=1e-6)
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentWindowEncoder(6, "transformer")


@pytest.mark.parametrize(
    "yaml_name, cell, hidden, directions",
    [
        ("lstm.yaml", "lstm", 128, 1),
        ("rnn.yaml", "rnn", 128, 1),
        ("bilstm.yaml", "lstm", 64, 2),
    ],
)
def test_full_size_configurations_have_the_papers_dimensions(
    yaml_name, cell, hidden, directions
):
    """Table 4's networks on MSPEC + delta + delta-delta (120 inputs)."""
    from hyperpyyaml import load_hyperpyyaml

    with open(os.path.join(RECIPE, "hparams", yaml_name)) as f:
        hparams = load_hyperpyyaml(
            f, {"data_folder": "emodb", "musan_folder": "musan"}
        )
    encoder, classifier = hparams["encoder"], hparams["classifier"]
    assert hparams["n_features"] == 3 * 40
    assert (hparams["window_size"], hparams["window_shift"]) == (25, 3)
    assert encoder.cell == cell and encoder.directions == directions
    assert encoder.output_size == hidden * directions == 128
    assert classifier.w.out_features == 7
    # weights and biases of two stacked layers (input 120, then 128)
    gates = {"lstm": 4, "rnn": 1}[cell]
    expected = 0
    for layer_input in (120, hidden * directions):
        per_direction = gates * hidden * (layer_input + hidden + 2)
        expected += directions * per_direction
    n_params = sum(p.numel() for p in encoder.parameters())
    assert n_params == expected
    assert hparams["l2_weight"] == 1e-4 and hparams["number_of_epochs"] == 10
    # clean training by default, tested under the seven noise conditions
    assert hparams["noise_prob"] == 0.0
    assert hparams["test_conditions"] == "paper7"
    assert hparams["train_augment"] == [hparams["noise_augment"]]
