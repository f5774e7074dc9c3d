"""Library calls give the numbers of the code they replaced.

Each test holds the replaced computation as a reference and checks the
library call against it on inputs that reach its edge cases; the pooling
test shows why ``StatisticsPooling`` does not replace ``masked_mean``.
"""

import numpy as np
import pytest
import torch
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.nnet.pooling import StatisticsPooling

from speechbrain_ext.nnet.coattention import masked_mean
from speechbrain_ext.nnet.windows import (
    FixedLengthFrames,
    sliding_windows,
    window_starts,
)


def _arange_mask(counts, n_frames):
    """The mask the modules wrote by hand."""
    index = torch.arange(n_frames, device=counts.device)
    return index.unsqueeze(0) < counts.unsqueeze(1)


@pytest.mark.parametrize(
    "counts",
    [
        torch.tensor([0, 1, 5, 9]),
        torch.tensor([3.0, 0.0, 9.0, 4.5]),  # float frame counts
    ],
)
def test_length_to_mask_is_the_arange_mask(counts):
    expected = _arange_mask(counts, 9)
    assert torch.equal(length_to_mask(counts, 9, dtype=torch.bool), expected)
    as_float = length_to_mask(counts, 9, dtype=torch.float32)
    assert torch.equal(as_float, expected.float())


def _fixed_length(feats, lengths, n_frames):
    """The residual family's former cut-or-pad of features."""
    time = feats.shape[1]
    frames = torch.round(lengths * time).long().clamp(max=n_frames)
    mask = _arange_mask(frames, n_frames)
    if time >= n_frames:
        feats = feats[:, :n_frames]
    else:
        feats = torch.nn.functional.pad(feats, (0, 0, 0, n_frames - time))
    return feats * mask.unsqueeze(-1).to(feats.dtype), frames


@pytest.mark.parametrize("time", [7, 40, 41, 90])
def test_fixed_length_frames_is_the_residual_cut(time):
    torch.manual_seed(0)
    feats = torch.randn(4, time, 3)
    lengths = torch.tensor([1.0, 0.77, 0.5, 0.1])
    expected, frames = _fixed_length(feats, lengths, 40)
    out, lens = FixedLengthFrames(max_duration=0.4, frame_rate=100)(
        feats, lengths
    )
    assert torch.equal(out, expected)
    assert torch.equal(torch.round(lens * 40).long(), frames)


def _windows_of(feats, size, shift):
    """The former windows of one sequence: one slice per start frame."""
    n_frames = feats.shape[0]
    if n_frames < size:
        repeat = feats[-1:].expand(size - n_frames, -1)
        feats = torch.cat([feats, repeat])
    starts = window_starts(n_frames, size, shift)
    return torch.stack([feats[s : s + size] for s in starts])


@pytest.mark.parametrize(("size", "shift"), [(25, 3), (4, 4), (5, 1), (1, 2)])
def test_sliding_windows_are_the_sliced_windows(size, shift):
    torch.manual_seed(0)
    feats = torch.randn(3, 40, 2)
    lengths = torch.tensor([1.0, 0.55, 0.05])  # 40, 22 and 2 frames
    windows, owners = sliding_windows(feats, lengths, size, shift)
    expected = [
        _windows_of(feats[b, :n], size, shift)
        for b, n in enumerate([40, 22, 2])
    ]
    assert torch.equal(windows, torch.cat(expected))
    assert owners.tolist() == [
        b for b, cut in enumerate(expected) for _ in range(len(cut))
    ]


def test_statistics_pooling_is_not_the_masked_mean():
    """``StatisticsPooling(return_std=False)`` adds 1e-5 to 9e-5 of noise
    from torch's global generator; ``masked_mean`` is exact, draws nothing
    and takes any mask (here one with a gap, as a hierarchical level's)."""
    torch.manual_seed(0)
    x = torch.randn(2, 10, 6)
    lengths = torch.tensor([1.0, 0.6])
    mask = _arange_mask(torch.tensor([10, 6]), 10)
    state = torch.get_rng_state()
    ours = masked_mean(x, mask)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.allclose(ours[1], x[1, :6].mean(0), atol=1e-7)
    pooled = StatisticsPooling(return_std=False)(x, lengths).squeeze(1)
    assert not torch.equal(torch.get_rng_state(), state)
    noise = pooled - ours
    assert bool((noise >= 0.99e-5).all()) and bool((noise <= 9.01e-5).all())
    gap = mask.clone()
    gap[0, 2:5] = False
    kept = torch.cat([x[0, :2], x[0, 5:]])
    assert torch.allclose(masked_mean(x, gap)[0], kept.mean(0), atol=1e-7)


def test_modality_check_scores_are_the_hand_written_ones():
    """``cross_val_predict`` over ``LeaveOneGroupOut`` and sklearn's
    accuracy and balanced accuracy give the former predictions, WA and
    UA."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from speechbrain_ext.synthetic.modality_check import _scores

    rng = np.random.default_rng(0)
    features = rng.standard_normal((90, 5))
    labels = np.array(["ang", "hap", "sad"])[rng.integers(0, 3, 90)]
    groups = rng.integers(0, 5, 90)

    def make_model():
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)
        )

    expected = np.empty(len(labels), dtype=object)
    for group in sorted(set(groups)):
        test = groups == group
        model = make_model().fit(features[~test], labels[~test])
        expected[test] = model.predict(features[test])
    predictions = cross_val_predict(
        make_model(), features, labels, groups=groups, cv=LeaveOneGroupOut()
    )
    assert (predictions == expected).all()
    recalls = [np.mean(expected[labels == c] == c) for c in set(labels)]
    assert _scores(labels, predictions) == {
        "WA": round(100 * float(np.mean(labels == expected)), 2),
        "UA": round(100 * float(np.mean(recalls)), 2),
    }
