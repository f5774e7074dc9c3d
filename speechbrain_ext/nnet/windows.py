"""Fixed-length windows of feature sequences, and back to utterances.

A window classifier (Cournut & Buldu: an RNN over 25 frames, 250 ms) is
trained on windows cut from the training utterances with a shift of a few
frames, each window labelled with its utterance's class
(:class:`FeatureWindows`). At test time an utterance is cut the same way
(:func:`sliding_windows`) and its prediction comes from the predictions of
its windows (:func:`aggregate_windows`).

The same :func:`window_starts` serves both, so training and test windows are
cut identically: windows start at frames ``0, shift, 2 * shift, ...`` and
end within the utterance (the last ``< shift`` frames may be left out); an
utterance shorter than one window gives one window, completed by repeating
its last frame.

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

import torch

AGGREGATIONS = ("mean_log_prob", "mean_prob")


def window_starts(n_frames, size=25, shift=3):
    """Start frames of the windows of a sequence of ``n_frames`` frames.

    Arguments
    ---------
    n_frames : int
        Length of the sequence.
    size : int
        Frames per window.
    shift : int
        Frames between the starts of consecutive windows.

    Returns
    -------
    list of int
        The start frames; ``[0]`` when the sequence is shorter than a window.

    Example
    -------
    >>> window_starts(31, size=25, shift=3)
    [0, 3, 6]
    >>> window_starts(10, size=25, shift=3)
    [0]
    """
    if size < 1 or shift < 1:
        raise ValueError(f"size and shift must be positive: {size}, {shift}")
    return list(range(0, max(n_frames - size, 0) + 1, shift))


def _windows_of(feats, size, shift):
    """Windows [n_windows, size, dims] of one sequence [frames, dims]."""
    n_frames = feats.shape[0]
    if n_frames == 0:
        raise ValueError("cannot cut windows from an empty sequence")
    if n_frames < size:
        repeat = feats[-1:].expand(size - n_frames, -1)
        feats = torch.cat([feats, repeat])
    starts = window_starts(n_frames, size, shift)
    return torch.stack([feats[s : s + size] for s in starts])


def sliding_windows(feats, lengths=None, size=25, shift=3):
    """Cuts every sequence of a padded batch into windows.

    Arguments
    ---------
    feats : torch.Tensor
        Features [batch, frames, dims].
    lengths : torch.Tensor, optional
        Relative lengths (0..1) of the sequences; padding frames are left
        out. Default: all frames.
    size : int
        Frames per window.
    shift : int
        Frames between the starts of consecutive windows.

    Returns
    -------
    windows : torch.Tensor
        [n_windows, size, dims], the windows of the first sequence first.
    owners : torch.Tensor
        [n_windows], the batch index of the sequence of each window.

    Example
    -------
    >>> feats = torch.arange(2 * 8 * 1.0).view(2, 8, 1)
    >>> windows, owners = sliding_windows(
    ...     feats, torch.tensor([1.0, 0.5]), size=4, shift=2)
    >>> windows[..., 0]
    tensor([[ 0.,  1.,  2.,  3.],
            [ 2.,  3.,  4.,  5.],
            [ 4.,  5.,  6.,  7.],
            [ 8.,  9., 10., 11.]])
    >>> owners
    tensor([0, 0, 0, 1])
    """
    batch, frames = feats.shape[:2]
    if lengths is None:
        n_frames = [frames] * batch
    else:
        n_frames = (lengths * frames).round().long().clamp(1, frames).tolist()
    windows, owners = [], []
    for b, n in enumerate(n_frames):
        cut = _windows_of(feats[b, :n], size, shift)
        windows.append(cut)
        owners.append(torch.full((len(cut),), b, dtype=torch.long))
    return torch.cat(windows), torch.cat(owners).to(feats.device)


def aggregate_windows(log_probs, owners, n_sequences, method="mean_log_prob"):
    """Utterance log-posteriors from the log-posteriors of their windows.

    Arguments
    ---------
    log_probs : torch.Tensor
        Window log-posteriors [n_windows, classes].
    owners : torch.Tensor
        [n_windows], the sequence of each window (0 .. n_sequences - 1);
        every sequence must own at least one window.
    n_sequences : int
        Number of sequences.
    method : str
        ``mean_log_prob`` (default): the mean of the windows'
        log-posteriors, renormalised (a normalised geometric mean of the
        window posteriors: every window votes with its log-probabilities,
        so confident windows weigh more, and one window that rules a class
        out weighs heavily). ``mean_prob``: the log of the mean of the
        window posteriors (an arithmetic mean, more forgiving of outlier
        windows).

    Returns
    -------
    torch.Tensor
        Log-posteriors [n_sequences, classes] that sum to one in the
        probability domain.

    Example
    -------
    >>> p = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    >>> owners = torch.tensor([0, 0, 1])
    >>> out = aggregate_windows(p.log(), owners, 2)
    >>> out.exp().round(decimals=3)
    tensor([[0.7500, 0.2500],
            [0.2000, 0.8000]])
    >>> aggregate_windows(p.log(), owners, 2, "mean_prob").exp()[0]
    tensor([0.7000, 0.3000])
    """
    if method not in AGGREGATIONS:
        raise ValueError(
            f"aggregation must be one of {', '.join(AGGREGATIONS)}, "
            f"not {method!r}"
        )
    classes = log_probs.shape[-1]
    counts = torch.bincount(owners, minlength=n_sequences)
    if bool((counts == 0).any()):
        raise ValueError("every sequence must own at least one window")
    values = log_probs if method == "mean_log_prob" else log_probs.exp()
    sums = values.new_zeros(n_sequences, classes).index_add(0, owners, values)
    means = sums / counts.unsqueeze(1).to(values.dtype)
    if method == "mean_log_prob":
        return torch.log_softmax(means, dim=-1)
    return means.clamp_min(1e-30).log()


class FeatureWindows(torch.utils.data.Dataset):
    """The windows of a set of utterances, as training examples.

    The features of every utterance are computed once (by iterating over
    ``utterances``) and kept in memory; item ``i`` is one window of one
    utterance, with the utterance's label. Use it with a shuffling loader
    and ``collate_fn=speechbrain.dataio.batch.PaddedBatch``: a batch is
    then ``batch_size`` windows from anywhere in the training set.

    Arguments
    ---------
    utterances : iterable of dict
        E.g. a ``DynamicItemDataset`` whose output keys include ``id``,
        ``feats_key`` and ``label_key``.
    size : int
        Frames per window.
    shift : int
        Frames between the starts of consecutive windows.
    feats_key : str
        Key of the features [frames, dims] (not normalised: normalise the
        batches of windows, as the utterances at test time).
    label_key : str
        Key of the label (any object, e.g. an encoded label tensor).

    Example
    -------
    >>> utts = [{"id": "a", "feats": torch.rand(31, 2), "emo": 0},
    ...         {"id": "b", "feats": torch.rand(10, 2), "emo": 1}]
    >>> windows = FeatureWindows(utts, size=25, shift=3, label_key="emo")
    >>> len(windows), windows.windows_per_utterance
    (4, {'a': 3, 'b': 1})
    >>> item = windows[2]
    >>> item["id"], item["feats"].shape, item["emo"]
    ('a', torch.Size([25, 2]), 0)
    >>> torch.equal(item["feats"], utts[0]["feats"][6:31])
    True
    """

    def __init__(
        self,
        utterances,
        size=25,
        shift=3,
        feats_key="feats",
        label_key="emo_encoded",
    ):
        self.size, self.shift = size, shift
        self.feats_key, self.label_key = feats_key, label_key
        self.utterances = []
        self.index = []
        self.windows_per_utterance = {}
        for utt in utterances:
            feats = utt[feats_key].detach()
            if feats.shape[0] == 0:
                raise ValueError(f"utterance {utt['id']!r} has no frame")
            if feats.shape[0] < size:  # one window, last frame repeated
                repeat = feats[-1:].expand(size - feats.shape[0], -1)
                feats = torch.cat([feats, repeat])
            u = len(self.utterances)
            self.utterances.append((utt["id"], feats, utt[label_key]))
            starts = window_starts(feats.shape[0], size, shift)
            self.index += [(u, s) for s in starts]
            self.windows_per_utterance[utt["id"]] = len(starts)
        if not self.index:
            raise ValueError("no utterance to cut windows from")

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        u, start = self.index[i]
        uid, feats, label = self.utterances[u]
        return {
            "id": uid,
            self.feats_key: feats[start : start + self.size],
            self.label_key: label,
        }
