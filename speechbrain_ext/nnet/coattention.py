"""Fusion of encoded streams: concatenation, co-attention, hierarchical.

The fusion methods of Li, Bell and Lai (2022), *Fusing ASR outputs in
joint training for speech emotion recognition*, Figure 1:

* :class:`ConcatFusion` -- (a) the fixed vectors of the streams,
  concatenated;
* :class:`CoAttentionFusion` -- (b) every pair of streams exchanges keys and
  values (:class:`CoAttention`, equations 1-4): each stream is the query
  over the keys and values of the other, the two results are pooled and
  concatenated;
* :class:`HierarchicalCoAttentionFusion` -- (c) the streams are fused from
  low to high level (MFCC frames, then wav2vec2, then BERT) by one
  co-attention per level.

A stream is an :class:`EncodedStream`: a sequence [batch, time, dim], a mask
of its real frames and its fixed vector. :class:`StreamFusion` picks one of
the methods by name, so that a yaml file chooses it with a string.

The mean over the real frames (:func:`masked_mean`) is not SpeechBrain's
``StatisticsPooling(return_std=False)``: that one adds noise of 1e-5 to
9e-5 to every mean, in training and in evaluation, drawn from torch's
global random generator (which shifts every later random draw, dropout
included), and it reads relative lengths, which cannot describe the mask
of a hierarchical level (two streams joined along time, each with its own
padding).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

from typing import NamedTuple

import torch
from speechbrain.nnet.attention import MultiheadAttention

FUSION_METHODS = ("concat", "coattention", "hierarchical")


class EncodedStream(NamedTuple):
    """One encoded input stream.

    Attributes
    ----------
    sequence : torch.Tensor
        Encoded frames [batch, time, dim]; zero past each utterance's end.
    mask : torch.Tensor
        Boolean [batch, time], True at the real frames.
    vector : torch.Tensor
        Fixed-length encoding [batch, dim] (mean of the real frames).
    """

    sequence: torch.Tensor
    mask: torch.Tensor
    vector: torch.Tensor


def frame_counts(lengths, n_frames):
    """Number of real frames from relative lengths (at least one).

    Arguments
    ---------
    lengths : torch.Tensor
        Relative lengths (0..1) [batch].
    n_frames : int
        Frames of the padded batch.

    Returns
    -------
    torch.LongTensor
        ``round(lengths * n_frames)``, clamped to ``[1, n_frames]``.

    Example
    -------
    >>> frame_counts(torch.tensor([1.0, 0.7, 0.0]), 10)
    tensor([10,  7,  1])
    """
    counts = torch.round(lengths.float() * n_frames).long()
    return counts.clamp(min=1, max=n_frames)


def relative_lengths(counts, n_frames):
    """Relative lengths that give back ``counts`` frames.

    ``counts / n_frames`` times ``n_frames`` can truncate to one frame less
    (SpeechBrain's RNNs cast it to an integer); these lengths round and
    truncate to ``counts``.

    Arguments
    ---------
    counts : torch.Tensor
        Frames of each utterance.
    n_frames : int
        Frames of the padded batch.

    Returns
    -------
    torch.Tensor
        Relative lengths.

    Example
    -------
    >>> lens = relative_lengths(torch.tensor([7, 10]), 10)
    >>> (lens * 10).long().tolist()
    [7, 10]
    """
    return torch.clamp((counts.float() + 0.25) / n_frames, max=1.0)


def masked_mean(x, mask):
    """Mean over time of the frames where ``mask`` is True.

    Arguments
    ---------
    x : torch.Tensor
        Frames [batch, time, dim].
    mask : torch.Tensor
        Boolean [batch, time].

    Returns
    -------
    torch.Tensor
        [batch, dim].

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_mean(x, torch.tensor([[True, True, False]]))
    tensor([[2.]])
    """
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class CoAttention(torch.nn.Module):
    """Two streams exchange keys and values (Li et al., 2022, eqs. 1-4).

    ``H_C1 = MultiHead(Q_A, K_B, V_B)`` and ``H_C2 = MultiHead(Q_B, K_A,
    V_A)``: each stream queries the other, with its own projections
    ``W^Q_i, W^K_i, W^V_i`` and ``W^O`` (SpeechBrain's
    ``MultiheadAttention``). Padded key frames are masked.

    Arguments
    ---------
    d_model : int
        Size of the frames of both streams.
    nhead : int
        Attention heads (16 in the paper).
    dropout : float
        Dropout on the attention weights.

    Example
    -------
    >>> coatt = CoAttention(d_model=8, nhead=2)
    >>> a, b = torch.rand(2, 5, 8), torch.rand(2, 3, 8)
    >>> mask_a = torch.ones(2, 5, dtype=torch.bool)
    >>> mask_b = torch.ones(2, 3, dtype=torch.bool)
    >>> h_a, h_b = coatt(a, mask_a, b, mask_b)
    >>> h_a.shape, h_b.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 3, 8]))
    """

    def __init__(self, d_model, nhead=16, dropout=0.0):
        super().__init__()
        self.a_to_b = MultiheadAttention(nhead, d_model, dropout=dropout)
        self.b_to_a = MultiheadAttention(nhead, d_model, dropout=dropout)

    def forward(self, a, mask_a, b, mask_b):
        """Stream ``a`` attends to ``b`` and ``b`` to ``a``.

        Arguments
        ---------
        a, b : torch.Tensor
            Frames [batch, time_a, d_model] and [batch, time_b, d_model].
        mask_a, mask_b : torch.Tensor
            Boolean masks of their real frames.

        Returns
        -------
        h_a : torch.Tensor
            [batch, time_a, d_model]: ``a``'s queries over ``b``; zero at
            ``a``'s padding.
        h_b : torch.Tensor
            [batch, time_b, d_model]: ``b``'s queries over ``a``.
        """
        h_a = self.a_to_b(
            a, b, b, key_padding_mask=~mask_b, return_attn_weights=False
        )
        h_b = self.b_to_a(
            b, a, a, key_padding_mask=~mask_a, return_attn_weights=False
        )
        h_a = h_a * mask_a.unsqueeze(-1).to(h_a.dtype)
        h_b = h_b * mask_b.unsqueeze(-1).to(h_b.dtype)
        return h_a, h_b

    def pooled(self, a, mask_a, b, mask_b):
        """``H_C = Concat(H_C1, H_C2)`` as a fixed vector [batch, 2 d_model].

        Each attended sequence is averaged over its real frames, and the two
        averages are concatenated (equation 1).

        Arguments
        ---------
        a, b : torch.Tensor
            Frames of the two streams.
        mask_a, mask_b : torch.Tensor
            Boolean masks of their real frames.

        Returns
        -------
        torch.Tensor
            [batch, 2 * d_model].
        """
        h_a, h_b = self.forward(a, mask_a, b, mask_b)
        return torch.cat(
            [masked_mean(h_a, mask_a), masked_mean(h_b, mask_b)], dim=-1
        )


class ConcatFusion(torch.nn.Module):
    """Concatenation of the fixed vectors of the streams (Figure 1a).

    With one stream it returns that stream's vector (the single-feature
    rows of Table 4).

    Arguments
    ---------
    n_streams : int
        Number of streams.
    d_model : int
        Size of each stream's vector.

    Example
    -------
    >>> fusion = ConcatFusion(n_streams=2, d_model=4)
    >>> s = EncodedStream(torch.rand(3, 5, 4), torch.ones(3, 5).bool(),
    ...                   torch.rand(3, 4))
    >>> fusion([s, s]).shape
    torch.Size([3, 8])
    """

    def __init__(self, n_streams, d_model):
        super().__init__()
        self.n_streams = n_streams
        self.output_size = n_streams * d_model

    def forward(self, streams):
        """Concatenates the ``vector`` of every :class:`EncodedStream`."""
        _check_count(streams, self.n_streams)
        return torch.cat([s.vector for s in streams], dim=-1)


class CoAttentionFusion(torch.nn.Module):
    """Co-attention of every pair of streams, concatenated (Figure 1b).

    Two streams give one :class:`CoAttention` (``[H_C1, H_C2]``, 2 d_model
    values); three streams give one per pair (MFCC-hidden, MFCC-text,
    hidden-text), whose pooled outputs are concatenated.

    Arguments
    ---------
    n_streams : int
        Number of streams (at least 2).
    d_model : int
        Size of the frames of every stream.
    nhead : int
        Attention heads.
    dropout : float
        Dropout on the attention weights.

    Example
    -------
    >>> fusion = CoAttentionFusion(n_streams=3, d_model=8, nhead=2)
    >>> mask = torch.ones(2, 4, dtype=torch.bool)
    >>> s = EncodedStream(torch.rand(2, 4, 8), mask, torch.rand(2, 8))
    >>> fusion([s, s, s]).shape, fusion.output_size
    (torch.Size([2, 48]), 48)
    """

    def __init__(self, n_streams, d_model, nhead=16, dropout=0.0):
        super().__init__()
        if n_streams < 2:
            raise ValueError(
                "co-attention fuses at least 2 streams; use the concat "
                "fusion for a single stream"
            )
        self.n_streams = n_streams
        self.pairs = [
            (i, j) for i in range(n_streams) for j in range(i + 1, n_streams)
        ]
        self.coattention = torch.nn.ModuleList(
            CoAttention(d_model, nhead, dropout) for _ in self.pairs
        )
        self.output_size = 2 * d_model * len(self.pairs)

    def forward(self, streams):
        """Fuses a list of :class:`EncodedStream` into [batch, output_size]."""
        _check_count(streams, self.n_streams)
        pooled = [
            coatt.pooled(
                streams[i].sequence,
                streams[i].mask,
                streams[j].sequence,
                streams[j].mask,
            )
            for (i, j), coatt in zip(self.pairs, self.coattention)
        ]
        return torch.cat(pooled, dim=-1)


class HierarchicalCoAttentionFusion(torch.nn.Module):
    """Streams fused from low to high level by co-attention (Figure 1c).

    The first two streams (MFCC frames and wav2vec2 hidden states) are fused
    by a :class:`CoAttention`; its two attended sequences, joined along
    time, form the sequence of that level, which is fused with the next
    stream (BERT features) by the next co-attention, and so on. The two
    attended sequences of the last level are pooled and concatenated
    (equation 1) into the fixed vector.

    Arguments
    ---------
    n_streams : int
        Number of streams (at least 2), in fusion order.
    d_model : int
        Size of the frames of every stream.
    nhead : int
        Attention heads.
    dropout : float
        Dropout on the attention weights.

    Example
    -------
    >>> fusion = HierarchicalCoAttentionFusion(3, d_model=8, nhead=2)
    >>> streams = [
    ...     EncodedStream(torch.rand(2, t, 8), torch.ones(2, t).bool(),
    ...                   torch.rand(2, 8))
    ...     for t in (9, 5, 3)]
    >>> fusion(streams).shape, fusion.output_size
    (torch.Size([2, 16]), 16)
    """

    def __init__(self, n_streams, d_model, nhead=16, dropout=0.0):
        super().__init__()
        if n_streams < 2:
            raise ValueError(
                "hierarchical co-attention fuses at least 2 streams; use the "
                "concat fusion for a single stream"
            )
        self.n_streams = n_streams
        self.levels = torch.nn.ModuleList(
            CoAttention(d_model, nhead, dropout) for _ in range(n_streams - 1)
        )
        self.output_size = 2 * d_model

    def forward(self, streams):
        """Fuses a list of :class:`EncodedStream` into [batch, 2 d_model]."""
        _check_count(streams, self.n_streams)
        fused, mask = streams[0].sequence, streams[0].mask
        last = len(self.levels) - 1
        for level, (coatt, stream) in enumerate(zip(self.levels, streams[1:])):
            if level == last:
                return coatt.pooled(fused, mask, stream.sequence, stream.mask)
            h_a, h_b = coatt(fused, mask, stream.sequence, stream.mask)
            fused = torch.cat([h_a, h_b], dim=1)
            mask = torch.cat([mask, stream.mask], dim=1)


def fusion_output_size(method, n_streams, d_model):
    """Size of the fused vector of a fusion method.

    Arguments
    ---------
    method : str
        ``concat``, ``coattention`` or ``hierarchical``.
    n_streams : int
        Number of streams.
    d_model : int
        Size of each stream's frames and vector.

    Returns
    -------
    int
        The input size of the classifier.

    Example
    -------
    >>> [fusion_output_size(m, 3, 64) for m in FUSION_METHODS]
    [192, 384, 128]
    """
    _check_method(method)
    if method == "concat":
        return n_streams * d_model
    if method == "coattention":
        return d_model * n_streams * (n_streams - 1)
    return 2 * d_model


class StreamFusion(torch.nn.Module):
    """One of the three fusion methods, chosen by name (for yaml files).

    Arguments
    ---------
    method : str
        ``concat`` (:class:`ConcatFusion`), ``coattention``
        (:class:`CoAttentionFusion`) or ``hierarchical``
        (:class:`HierarchicalCoAttentionFusion`).
    n_streams : int
        Number of streams, in fusion order.
    d_model : int
        Size of each stream's frames and vector.
    nhead : int
        Attention heads of the co-attention methods.
    dropout : float
        Dropout on their attention weights.

    Example
    -------
    >>> fusion = StreamFusion("hierarchical", n_streams=2, d_model=8, nhead=2)
    >>> s = EncodedStream(torch.rand(2, 4, 8), torch.ones(2, 4).bool(),
    ...                   torch.rand(2, 8))
    >>> fusion([s, s]).shape
    torch.Size([2, 16])
    >>> StreamFusion("coattention", n_streams=1, d_model=8)
    Traceback (most recent call last):
    ...
    ValueError: co-attention fuses at least 2 streams; ...
    """

    def __init__(self, method, n_streams, d_model, nhead=16, dropout=0.0):
        super().__init__()
        _check_method(method)
        self.method = method
        if method == "concat":
            self.fusion = ConcatFusion(n_streams, d_model)
        elif method == "coattention":
            self.fusion = CoAttentionFusion(n_streams, d_model, nhead, dropout)
        else:
            self.fusion = HierarchicalCoAttentionFusion(
                n_streams, d_model, nhead, dropout
            )
        self.output_size = self.fusion.output_size

    def forward(self, streams):
        """Fuses a list of :class:`EncodedStream` into one vector each."""
        return self.fusion(streams)


def _check_method(method):
    if method not in FUSION_METHODS:
        raise ValueError(
            f"fusion method must be one of {', '.join(FUSION_METHODS)}, "
            f"not {method!r}"
        )


def _check_count(streams, expected):
    if len(streams) != expected:
        raise ValueError(
            f"the fusion was built for {expected} streams but got "
            f"{len(streams)}"
        )
