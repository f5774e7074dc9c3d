"""Features and recurrent encoder of an RNN emotion classifier on windows.

Cournut & Buldu, *Speech Emotion Recognition using Recurrent Neural
Networks*: MFCC (13) or MSPEC (40 log-mel) frames, optionally with their
first and second time derivatives, are cut into windows of 25 frames; a
2-layer recurrent network reads a window and its last state goes to a fully
connected softmax layer.

* :class:`SpectralFeatures` -- MFCC or MSPEC with Δ / Δ+ΔΔ
  (:func:`feature_size` gives its dimension, for the yaml file);
* :class:`RecurrentWindowEncoder` -- vanilla RNN, LSTM or GRU cells, uni- or
  bidirectional, returning the final state of the last layer;
* :func:`window_rnn_forward` -- the forward pass of the family: windows of
  audio -> window posteriors in training; utterances -> window posteriors
  and the utterance posteriors they give otherwise.

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

import speechbrain as sb
import torch
from speechbrain.lobes.features import MFCC, Fbank
from speechbrain.processing.features import Deltas

from speechbrain_ext.nnet.windows import aggregate_windows, sliding_windows

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
        stft = self.base.compute_STFT
        self.hop_length = stft.hop_length
        # Frames on each side that a frame's features depend on: the
        # samples of its STFT window reach the centres of the frames
        # ceil(n_fft / 2 / hop_length) away, each derivative N frames more
        self.context = -(-(stft.n_fft // 2) // self.hop_length) + sum(
            delta_n[:delta_order]
        )

    def forward(self, wavs, frame_range=None):
        """Features [batch, frames, output_size] of waveforms [batch, time].

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].
        frame_range : torch.Tensor, optional
            [batch, 2]: the first and last frame of each row that belong to
            its utterance (e.g. :meth:`utterance_frames` of a padded batch).
            Outside them, each row repeats the nearest of them, before and
            after every derivative: the frames inside are then those of the
            utterance computed alone (its derivatives replicate its edge
            frames), whatever the padding or the audio around it. Default:
            every frame belongs to the utterance.

        Returns
        -------
        torch.Tensor
            The stacked features.
        """
        feats = [self._hold(self.base(wavs), frame_range)]
        for delta in self.deltas:
            feats.append(self._hold(delta(feats[-1]), frame_range))
        return torch.cat(feats, dim=-1)

    @staticmethod
    def _hold(feats, frame_range):
        """Frames outside ``frame_range`` set to the nearest frame inside."""
        if frame_range is None:
            return feats
        frames = torch.arange(feats.shape[1], device=feats.device)
        index = frames.clamp(frame_range[:, :1], frame_range[:, 1:])
        return feats.gather(1, index.unsqueeze(-1).expand_as(feats))

    def utterance_frames(self, wav_lens, n_samples):
        """First and last frame of each utterance of a padded batch.

        Arguments
        ---------
        wav_lens : torch.Tensor
            Relative lengths [batch] of the waveforms.
        n_samples : int
            Samples of the padded batch.

        Returns
        -------
        torch.Tensor
            [batch, 2], long: 0 and the last frame (a waveform of ``n``
            samples has ``1 + n // hop_length`` frames).

        Example
        -------
        >>> features = SpectralFeatures()
        >>> features.utterance_frames(torch.tensor([1.0, 0.5]), 16000)
        tensor([[  0, 100],
                [  0,  50]])
        """
        samples = (wav_lens * n_samples).round().long()
        last = samples.div(self.hop_length, rounding_mode="floor")
        return torch.stack([torch.zeros_like(last), last], dim=1)


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


def window_rnn_forward(
    modules, hparams, wavs, wav_lens, stage=sb.Stage.TEST, **context
):
    """The forward pass of an RNN window classifier (prediction contract).

    Features (``modules.compute_features``, a :class:`SpectralFeatures`) ->
    global normalisation (``modules.normalize``) -> windows of
    ``hparams.window_size`` frames -> ``modules.encoder`` ->
    ``modules.classifier`` -> log-softmax.

    * ``stage`` TRAIN: ``wavs`` are windows of audio, as
      :class:`~speechbrain_ext.nnet.windows.AudioWindows` cuts them; their
      features are cropped to the window (``compute_features.context``
      frames on each side), so that they are the frames that the other
      stages cut from the utterance.
    * Otherwise ``wavs`` are utterances: their features are cut into
      windows every ``hparams.window_shift`` frames
      (:func:`~speechbrain_ext.nnet.windows.sliding_windows`) and an
      utterance's posterior comes from those of its windows
      (:func:`~speechbrain_ext.nnet.windows.aggregate_windows`, method
      ``hparams.aggregation``).

    Arguments
    ---------
    modules : dict-like
        ``compute_features``, ``normalize`` (e.g. SpeechBrain's
        ``InputNormalization``), ``encoder`` (e.g.
        :class:`RecurrentWindowEncoder`) and ``classifier``, as attributes.
    hparams : namespace
        ``window_size``, ``window_shift`` and ``aggregation``, as
        attributes.
    wavs : torch.Tensor
        Waveforms [batch, samples]: windows of audio in training,
        utterances otherwise.
    wav_lens : torch.Tensor
        Their relative lengths.
    stage : speechbrain.Stage
        TRAIN: windows; VALID or TEST: utterances.
    **context
        ``frame_range`` (training, required): [batch, 2], the frames of
        each window of audio that belong to its utterance (the
        ``frame_range`` items of ``AudioWindows``); ``epoch`` (training):
        the current epoch, for the normalisation's statistics. Nothing
        else: this family needs no object built outside the yaml.

    Returns
    -------
    dict
        ``p_emo``: log-posteriors [batch, classes] (of the windows in
        training, of the utterances otherwise); outside training also
        ``window_p_emo`` [windows, classes] and ``window_owners`` [windows]
        (the utterance of each window).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.processing.features import InputNormalization
    >>> modules = SimpleNamespace(
    ...     compute_features=SpectralFeatures("mfcc", delta_order=1),
    ...     normalize=InputNormalization(),
    ...     encoder=RecurrentWindowEncoder(26, hidden_size=8),
    ...     classifier=torch.nn.Linear(8, 3))
    >>> hparams = SimpleNamespace(window_size=25, window_shift=3,
    ...                           aggregation="mean_log_prob")
    >>> out = window_rnn_forward(modules, hparams, torch.rand(2, 8000),
    ...                          torch.tensor([1.0, 0.5]))
    >>> out["p_emo"].shape, out["window_p_emo"].shape
    (torch.Size([2, 3]), torch.Size([10, 3]))
    >>> out["window_owners"].tolist()  # 51 frames: 9 windows; 26: 1
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    """
    features = modules.compute_features
    size = hparams.window_size
    with torch.no_grad():
        if stage == sb.Stage.TRAIN:
            if context.get("frame_range") is None:
                raise ValueError(
                    "Training batches are windows of audio and need their "
                    "frame_range (see AudioWindows)."
                )
            feats = features(wavs, context["frame_range"])
            start = features.context
            feats = feats[:, start : start + size]
        else:
            frames = features.utterance_frames(wav_lens, wavs.shape[1])
            feats = features(wavs, frames)
    if stage == sb.Stage.TRAIN:
        windows = modules.normalize(feats, epoch=context.get("epoch"))
        return {"p_emo": _classify(modules, windows)}
    lens = (frames[:, 1] + 1) / feats.shape[1]
    feats = modules.normalize(feats, lens)
    windows, owners = sliding_windows(feats, lens, size, hparams.window_shift)
    window_p_emo = _classify(modules, windows)
    p_emo = aggregate_windows(
        window_p_emo, owners, wavs.shape[0], method=hparams.aggregation
    )
    return {
        "p_emo": p_emo,
        "window_p_emo": window_p_emo,
        "window_owners": owners,
    }


def _classify(modules, windows):
    """Window log-posteriors [windows, classes]."""
    logits = modules.classifier(modules.encoder(windows))
    return torch.log_softmax(logits, dim=-1)
