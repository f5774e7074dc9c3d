"""Features and recurrent encoder of an RNN emotion classifier on windows.

Cournut & Buldu, *Speech Emotion Recognition using Recurrent Neural
Networks*: MFCC (13) or MSPEC (40 log-mel) frames, optionally with their
first and second time derivatives, are cut into windows of 25 frames; a
2-layer recurrent network reads a window and its last state goes to a fully
connected softmax layer.

* :class:`SpectralFeatures` -- MFCC or MSPEC with Δ / Δ+ΔΔ
  (:func:`feature_size` gives its dimension, for the yaml file);
* :class:`RecurrentWindowEncoder` -- vanilla RNN, LSTM or GRU cells, uni- or
  bidirectional, returning the final state of the last layer.

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

import torch
from speechbrain.lobes.features import MFCC, Fbank
from speechbrain.processing.features import Deltas

FEATURE_KINDS = ("mspec", "mfcc")


def feature_size(kind="mspec", delta_order=2, n_mels=40, n_mfcc=13):
    """Dimension of the frames of :class:`SpectralFeatures`.

    Arguments
    ---------
    kind : str
        ``mspec`` (``n_mels`` log-mel energies) or ``mfcc`` (``n_mfcc``
        cepstral coefficients).
    delta_order : int
        0 (raw features), 1 (with Δ) or 2 (with Δ and ΔΔ).
    n_mels : int
        Mel filters.
    n_mfcc : int
        Cepstral coefficients.

    Returns
    -------
    int
        ``(1 + delta_order) * base``: the input sizes of the paper's
        Table 2 (13, 26, 39, 40, 80, 120).

    Example
    -------
    >>> feature_size("mfcc", 2), feature_size("mspec", 1)
    (39, 80)
    """
    if kind not in FEATURE_KINDS:
        raise ValueError(
            f"feature kind must be one of {', '.join(FEATURE_KINDS)}, "
            f"not {kind!r}"
        )
    if delta_order not in (0, 1, 2):
        raise ValueError(f"delta_order must be 0, 1 or 2, not {delta_order}")
    return (1 + delta_order) * (n_mels if kind == "mspec" else n_mfcc)


class SpectralFeatures(torch.nn.Module):
    """MSPEC or MFCC frames, with first and second time derivatives.

    MSPEC are SpeechBrain's ``Fbank`` log-mel energies, MFCC its ``MFCC``
    (a DCT of the same log-mel energies) without its own derivatives and
    context; 25 ms frames every 10 ms. The derivatives follow the paper's
    equation (1), ``d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)``
    (SpeechBrain's ``Deltas``, edges replicated), with ``N = 1`` for Δ and
    ``N = 2`` for ΔΔ computed on Δ, as the paper states. No normalisation
    here: normalise globally in the model (per-utterance normalisation would
    erase loudness, a cue of arousal).

    Arguments
    ---------
    kind : str
        ``mspec`` or ``mfcc``.
    delta_order : int
        0: raw; 1: raw + Δ; 2: raw + Δ + ΔΔ (stacked along the last axis).
    n_mels : int
        Mel filters (MSPEC dimension, and the filters under the MFCC).
    n_mfcc : int
        Cepstral coefficients.
    delta_n : tuple of int
        ``N`` of equation (1) for Δ and for ΔΔ.
    sample_rate : int
        Sample rate of the input.

    Example
    -------
    >>> features = SpectralFeatures("mfcc", delta_order=2)
    >>> features(torch.rand(2, 16000)).shape
    torch.Size([2, 101, 39])
    >>> SpectralFeatures("mspec", delta_order=0)(torch.rand(1, 8000)).shape
    torch.Size([1, 51, 40])
    """

    def __init__(
        self,
        kind="mspec",
        delta_order=2,
        n_mels=40,
        n_mfcc=13,
        delta_n=(1, 2),
        sample_rate=16000,
    ):
        super().__init__()
        self.output_size = feature_size(kind, delta_order, n_mels, n_mfcc)
        self.kind, self.delta_order = kind, delta_order
        if kind == "mspec":
            self.base = Fbank(n_mels=n_mels, sample_rate=sample_rate)
            base_size = n_mels
        else:
            self.base = MFCC(
                n_mels=n_mels,
                n_mfcc=n_mfcc,
                deltas=False,
                context=False,
                sample_rate=sample_rate,
            )
            base_size = n_mfcc
        self.deltas = torch.nn.ModuleList(
            Deltas(base_size, window_length=2 * n + 1)
            for n in delta_n[:delta_order]
        )

    def forward(self, wavs):
        """Features [batch, frames, output_size] of waveforms [batch, time].

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].

        Returns
        -------
        torch.Tensor
            The stacked features.
        """
        feats = [self.base(wavs)]
        for delta in self.deltas:
            feats.append(delta(feats[-1]))
        return torch.cat(feats, dim=-1)


class RecurrentWindowEncoder(torch.nn.Module):
    """A stacked RNN over a window; returns the last layer's final state.

    The paper's high-level feature extractor: dropout on the input, between
    the recurrent layers and on the output state ("dropouts in our input and
    hidden layers"). For a bidirectional network the final states of both
    directions are concatenated (the forward one after the last frame, the
    backward one after the first).

    Arguments
    ---------
    input_size : int
        Dimension of the input frames.
    cell : str
        ``rnn`` (vanilla tanh cells), ``lstm`` or ``gru``.
    hidden_size : int
        Units per layer and direction.
    num_layers : int
        Recurrent layers.
    bidirectional : bool
        Whether each layer reads the window in both directions.
    dropout : float
        Dropout probability on the input, between layers and on the output.

    Example
    -------
    >>> enc = RecurrentWindowEncoder(39, cell="lstm", hidden_size=16)
    >>> enc(torch.rand(8, 25, 39)).shape
    torch.Size([8, 16])
    >>> enc = RecurrentWindowEncoder(39, "rnn", 16, bidirectional=True)
    >>> enc.output_size, enc(torch.rand(8, 25, 39)).shape
    (32, torch.Size([8, 32]))
    """

    CELLS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}

    def __init__(
        self,
        input_size,
        cell="lstm",
        hidden_size=128,
        num_layers=2,
        bidirectional=False,
        dropout=0.2,
    ):
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(
                f"cell must be one of {', '.join(self.CELLS)}, not {cell!r}"
            )
        self.cell = cell
        self.directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.directions
        self.input_dropout = torch.nn.Dropout(dropout)
        self.rnn = self.CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.output_dropout = torch.nn.Dropout(dropout)

    def forward(self, x):
        """Final state [batch, output_size] of windows [batch, frames, dims].

        Arguments
        ---------
        x : torch.Tensor
            A batch of windows (no padding: all of the same length).

        Returns
        -------
        torch.Tensor
            The last layer's final state (both directions concatenated).
        """
        _, hidden = self.rnn(self.input_dropout(x))
        if self.cell == "lstm":
            hidden = hidden[0]  # (h, c): the output state h
        # hidden: [layers * directions, batch, hidden_size], layer-major
        last = hidden[-self.directions :]
        return self.output_dropout(torch.cat(list(last), dim=-1))
