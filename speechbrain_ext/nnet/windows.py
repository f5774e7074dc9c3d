"""Fixed-length windows of feature sequences, and back to utterances.

:class:`FixedLengthFrames` cuts or zero-pads every sequence of a batch to
one window of a fixed duration from its start (the input of a classifier
that reads a fixed number of frames).

A window classifier (Cournut & Buldu: an RNN over 25 frames, 250 ms) is
trained on windows cut from the training utterances with a shift of a few
frames, each window labelled with its utterance's class. At test time an
utterance's features are cut into windows (:func:`sliding_windows`) and its
prediction comes from the predictions of its windows
(:func:`aggregate_windows`). In training, the examples are windows of
audio (:class:`AudioWindows`), so that training-time augmentation changes
the audio of each window before its features are computed.

The same :func:`window_starts` serves both, so training and test windows are
cut identically: windows start at frames ``0, shift, 2 * shift, ...`` and
end within the utterance (the last ``< shift`` frames may be left out); an
utterance shorter than one window gives one window, completed by repeating
its last frame.

Authors
 * SpeechBrain Emo-DB recipe contributors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch
from speechbrain.dataio.dataio import length_to_mask

from speechbrain_ext.nnet.coattention import frame_counts, relative_lengths

AGGREGATIONS = ("mean_log_prob", "mean_prob")


class FixedLengthFrames(torch.nn.Module):
    """Cuts or zero-pads feature frames to a fixed duration.

    Every sequence keeps its first ``max_duration * frame_rate`` frames;
    shorter ones are padded with zeros (the global mean of normalised
    features). Feng et al. (2020), following Li et al. (2019), cut
    utterances at 7.5 s; Zhao et al.'s residual BLSTM reads 4 s. The
    relative lengths returned mark the real frames, so that a model that
    masks padding (a BiLSTM, attention) never reads the padding frames; a
    model that reads the whole window (the residual BLSTM) reads them as
    part of its input.

    Arguments
    ---------
    max_duration : float
        Duration in seconds.
    frame_rate : float
        Frames per second of the features (100 for a 10 ms hop).
    pad : bool
        Pad every batch to ``max_duration``; ``False`` only cuts (the same
        outputs once padding is masked, with less computation).

    Example
    -------
    >>> cut = FixedLengthFrames(max_duration=0.5, frame_rate=100)
    >>> feats, lens = cut(torch.ones(2, 80, 40), torch.tensor([1.0, 0.25]))
    >>> feats.shape, (lens * 50).round().tolist()
    (torch.Size([2, 50, 40]), [50.0, 20.0])
    >>> feats[1, 20:].abs().sum().item()
    0.0
    >>> feats, lens = cut(torch.ones(2, 30, 40), torch.tensor([1.0, 0.5]))
    >>> feats.shape, (lens * 50).round().tolist()
    (torch.Size([2, 50, 40]), [30.0, 15.0])
    """

    def __init__(self, max_duration=7.5, frame_rate=100, pad=True):
        super().__init__()
        self.max_frames = int(round(max_duration * frame_rate))
        self.pad = pad

    def forward(self, feats, lengths):
        """Features [batch, max_frames, dim] and their relative lengths.

        Arguments
        ---------
        feats : torch.Tensor
            Features [batch, time, dim].
        lengths : torch.Tensor
            Relative lengths.

        Returns
        -------
        feats : torch.Tensor
            Cut or padded features, zero past each utterance's end.
        lengths : torch.Tensor
            Relative lengths of the real frames.
        """
        counts = frame_counts(lengths, feats.shape[1])
        counts = counts.clamp(max=self.max_frames)
        n_out = self.max_frames if self.pad else int(counts.max())
        feats = feats[:, :n_out]
        if feats.shape[1] < n_out:
            feats = torch.nn.functional.pad(
                feats, (0, 0, 0, n_out - feats.shape[1])
            )
        mask = length_to_mask(counts, n_out, dtype=feats.dtype)
        feats = feats * mask.unsqueeze(-1)
        return feats, relative_lengths(counts, n_out)


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
    _check_window(size, shift)
    return list(range(0, max(n_frames - size, 0) + 1, shift))


def _check_window(size, shift):
    if size < 1 or shift < 1:
        raise ValueError(f"size and shift must be positive: {size}, {shift}")


def _windows_of(feats, size, shift):
    """Windows [n_windows, size, dims] of one sequence [frames, dims]."""
    n_frames = feats.shape[0]
    if n_frames == 0:
        raise ValueError("cannot cut windows from an empty sequence")
    _check_window(size, shift)
    if n_frames < size:
        repeat = feats[-1:].expand(size - n_frames, -1)
        feats = torch.cat([feats, repeat])
    # the windows of window_starts: one every shift frames, inside feats
    return feats.unfold(0, size, shift).transpose(1, 2)


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


class AudioWindows(torch.utils.data.Dataset):
    """The windows of a set of utterances, as audio training examples.

    Item ``i`` is one window of one utterance, with the utterance's label:
    the samples from which a features module that computes one frame every
    ``hop_length`` samples (frame ``t`` centred on sample ``t * hop_length``,
    as SpeechBrain's ``STFT`` with ``center=True``) computes the window's
    ``size`` frames and ``context`` more frames on each side, the utterance
    being zero outside its samples. ``frame_range`` gives the first and
    last of those frames that belong to the utterance; the features module
    repeats them outside (see
    :class:`speechbrain_ext.lobes.models.window_rnn.SpectralFeatures`). With
    a ``context`` that covers the reach of its frames and derivatives,
    frames ``context .. context + size - 1`` of the features of item ``i``
    are those that :func:`sliding_windows` cuts from the features of the
    whole utterance.

    The audio of every utterance is read once (by iterating over
    ``utterances``) and kept in memory. Use it with a shuffling loader and
    ``collate_fn=speechbrain.dataio.batch.PaddedBatch``: a batch is then
    ``batch_size`` windows from anywhere in the training set, all of
    :attr:`n_samples` samples.

    Arguments
    ---------
    utterances : iterable of dict
        E.g. a ``DynamicItemDataset`` whose output keys include ``id``,
        ``audio_key`` and ``label_key``.
    size : int
        Frames per window.
    shift : int
        Frames between the starts of consecutive windows.
    hop_length : int
        Samples between consecutive frames.
    context : int
        Frames cut on each side of the window.
    audio_key : str
        Key of the waveform [samples] (also the key of the items' audio).
    label_key : str
        Key of the label (any object, e.g. an encoded label tensor).

    Example
    -------
    >>> utts = [{"id": "a", "sig": torch.rand(4800), "emo": 0},
    ...         {"id": "b", "sig": torch.rand(1600), "emo": 1}]
    >>> windows = AudioWindows(utts, size=25, shift=3, hop_length=160,
    ...                        context=2, label_key="emo")
    >>> len(windows), windows.windows_per_utterance, windows.n_samples
    (4, {'a': 3, 'b': 1}, 4480)
    >>> item = windows[2]  # frames 4 .. 32 of "a" (6 .. 30 and context)
    >>> item["id"], item["emo"], item["frame_range"].tolist()
    ('a', 0, [0, 26])
    >>> torch.equal(item["sig"][: 4160], utts[0]["sig"][640:])
    True
    """

    def __init__(
        self,
        utterances,
        size=25,
        shift=3,
        hop_length=160,
        context=0,
        audio_key="sig",
        label_key="emo_encoded",
    ):
        if hop_length < 1 or context < 0:
            raise ValueError(
                "hop_length must be positive and context not negative: "
                f"{hop_length}, {context}"
            )
        self.size, self.shift = size, shift
        self.hop_length, self.context = hop_length, context
        self.audio_key, self.label_key = audio_key, label_key
        self.n_samples = (size + 2 * context - 1) * hop_length
        self.utterances = []
        self.index = []
        self.windows_per_utterance = {}
        for utt in utterances:
            wav = utt[audio_key].detach()
            if wav.dim() != 1 or wav.shape[0] == 0:
                raise ValueError(
                    f"utterance {utt['id']!r}: expected a non-empty waveform "
                    f"[samples], got shape {tuple(wav.shape)}"
                )
            n_frames = 1 + wav.shape[0] // hop_length
            padding = (context * hop_length, (size + context) * hop_length)
            wav = torch.nn.functional.pad(wav, padding)
            u = len(self.utterances)
            self.utterances.append((utt["id"], wav, n_frames, utt[label_key]))
            starts = window_starts(n_frames, size, shift)
            self.index += [(u, s) for s in starts]
            self.windows_per_utterance[utt["id"]] = len(starts)
        if not self.index:
            raise ValueError("no utterance to cut windows from")

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        u, start = self.index[i]
        uid, wav, n_frames, label = self.utterances[u]
        first = start * self.hop_length
        # Frame j of the item is frame start - context + j of the utterance
        frame_range = torch.tensor(
            [
                max(0, self.context - start),
                min(
                    self.size + 2 * self.context - 1,
                    self.context + n_frames - 1 - start,
                ),
            ]
        )
        return {
            "id": uid,
            self.audio_key: wav[first : first + self.n_samples],
            "frame_range": frame_range,
            self.label_key: label,
        }
