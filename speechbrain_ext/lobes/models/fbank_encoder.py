"""A small filterbank speech encoder with the interface of ``Wav2Vec2``.

It takes raw waveforms and relative lengths, like SpeechBrain's HuggingFace
``Wav2Vec2`` lobe, so a recipe can swap one for the other in its yaml file.
Used where wav2vec2 is too slow to fine-tune (CPU demos and tests).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch
import torch.nn.functional as F
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.lobes.features import Fbank
from speechbrain.nnet.RNN import LSTM

from speechbrain_ext.nnet.coattention import relative_lengths


def normalize_features(normalize, feats, lens):
    """Applies an ``InputNormalization`` held inside another module.

    ``InputNormalization`` keeps its global statistics as plain tensors
    and loads them onto its own ``device`` attribute, which only its own
    ``.to()`` updates. Nested in an encoder, it is moved by the parent's
    ``.to()``, which does not call it: after a checkpoint is loaded the
    statistics sit on the CPU while the features are on a GPU. They are
    moved to the features' device first.

    Arguments
    ---------
    normalize : speechbrain.processing.features.InputNormalization
        The normalization.
    feats : torch.Tensor
        Features [batch, frames, channels].
    lens : torch.Tensor
        Relative lengths.

    Returns
    -------
    torch.Tensor
        The normalized features.

    Example
    -------
    >>> from speechbrain.processing.features import InputNormalization
    >>> norm = InputNormalization(norm_type="global")
    >>> _ = norm(torch.randn(2, 10, 4), torch.ones(2))
    >>> _ = norm.eval()
    >>> feats = torch.randn(2, 10, 4, device="meta")
    >>> normalize_features(norm, feats, torch.ones(2, device="meta")).device
    device(type='meta')
    """
    stats = getattr(normalize, "glob_mean", None)
    if stats is not None and stats.numel() and stats.device != feats.device:
        normalize.to(feats.device)
    return normalize(feats, lens)


class FbankEncoder(torch.nn.Module):
    """Fbank -> global normalisation -> strided 1-D convolutions -> BiLSTM.

    With ``output_all_hiddens=True`` it stands in for
    ``Wav2Vec2(output_all_hiddens=True)`` on a CPU: the convolution output
    (the initial embeddings) and the output of every BiLSTM layer are
    stacked as [rnn_layers + 1, batch, time, dim], so that a model can read
    the first, middle or final layer.

    Arguments
    ---------
    normalize : speechbrain.processing.features.InputNormalization
        Feature normalisation. Use ``norm_type="global"``: per-utterance
        normalisation erases loudness, a cue of arousal. Also list it in the
        checkpointer's recoverables, since its statistics are not parameters.
    n_mels : int
        Filterbank channels.
    cnn_channels : list of int
        Output channels of each convolution; each one halves the frame rate.
    kernel_size : int
        Convolution kernel size.
    rnn_size : int
        Hidden size of each LSTM direction.
    rnn_layers : int
        Number of BiLSTM layers.
    dropout : float
        Dropout between layers.
    spec_augment : torch.nn.Module, optional
        Applied to the features in training mode only (e.g. SpeechBrain's
        ``SpectrogramDrop``); it must keep the batch size.
    sample_rate : int
        Input sample rate.
    output_all_hiddens : bool
        Return the states of every layer (see above); the last convolution
        must then have ``2 * rnn_size`` channels, so that all layers stack.

    Example
    -------
    >>> from speechbrain.processing.features import InputNormalization
    >>> enc = FbankEncoder(InputNormalization(norm_type="global"),
    ...                    cnn_channels=[16, 16], rnn_size=8, rnn_layers=1)
    >>> out = enc(torch.rand(2, 16000), torch.tensor([1.0, 0.5]))
    >>> out.shape
    torch.Size([2, 26, 16])

    The encoding of an utterance does not depend on its batch:

    >>> _ = enc.eval()
    >>> wav = torch.rand(1, 7333)
    >>> alone = enc(wav, torch.ones(1))
    >>> padded = torch.cat([wav, torch.zeros(1, 8667)], dim=1)
    >>> batch = torch.cat([padded, torch.rand(1, 16000)])
    >>> together = enc(batch, torch.tensor([7333 / 16000, 1.0]))
    >>> torch.allclose(alone[0], together[0, : alone.shape[1]], atol=1e-5)
    True

    Every layer's states:

    >>> layers = FbankEncoder(InputNormalization(norm_type="global"),
    ...                       cnn_channels=[16, 16], rnn_size=8,
    ...                       output_all_hiddens=True)
    >>> layers(torch.rand(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([3, 2, 26, 16])
    """

    def __init__(
        self,
        normalize,
        n_mels=40,
        cnn_channels=(128, 128),
        kernel_size=5,
        rnn_size=128,
        rnn_layers=2,
        dropout=0.15,
        spec_augment=None,
        sample_rate=16000,
        output_all_hiddens=False,
    ):
        super().__init__()
        if output_all_hiddens and cnn_channels[-1] != 2 * rnn_size:
            raise ValueError(
                f"the last convolution has {cnn_channels[-1]} channels: it "
                f"needs 2 * rnn_size = {2 * rnn_size} so that all layers "
                "stack (output_all_hiddens=True)"
            )
        self.compute_features = Fbank(
            n_mels=n_mels, sample_rate=sample_rate, hop_length=10
        )
        self.hop_length = sample_rate // 100
        self.normalize = normalize
        self.spec_augment = spec_augment
        blocks, in_ch = [], n_mels
        for ch in cnn_channels:
            blocks.append(
                torch.nn.Sequential(
                    torch.nn.Conv1d(
                        in_ch,
                        ch,
                        kernel_size,
                        stride=2,
                        padding=kernel_size // 2,
                    ),
                    torch.nn.BatchNorm1d(ch),
                    torch.nn.LeakyReLU(),
                    torch.nn.Dropout(dropout),
                )
            )
            in_ch = ch
        self.cnn = torch.nn.ModuleList(blocks)
        self.output_all_hiddens = output_all_hiddens
        if output_all_hiddens:  # one LSTM per layer, to return each output
            self.rnn = torch.nn.ModuleList(
                LSTM(
                    hidden_size=rnn_size,
                    input_size=in_ch,
                    bidirectional=True,
                )
                for _ in range(rnn_layers)
            )
            self.rnn_dropout = torch.nn.Dropout(dropout)
        else:
            self.rnn = LSTM(
                hidden_size=rnn_size,
                input_shape=(None, None, in_ch),
                num_layers=rnn_layers,
                bidirectional=True,
                # LSTM drops out between layers only: none for one layer
                dropout=dropout if rnn_layers > 1 else 0.0,
            )
        self.output_size = 2 * rnn_size

    def forward(self, wav, wav_lens=None):
        """Encodes waveforms [batch, time].

        Arguments
        ---------
        wav : torch.Tensor
            Waveforms [batch, time].
        wav_lens : torch.Tensor, optional
            Relative lengths; all samples are speech when omitted.

        Returns
        -------
        torch.Tensor
            [batch, frames, output_size]; with ``output_all_hiddens``,
            [rnn_layers + 1, batch, frames, output_size].
        """
        if wav_lens is None:
            wav_lens = torch.ones(wav.shape[0], device=wav.device)
        feats = self.compute_features(wav)
        feats = normalize_features(self.normalize, feats, wav_lens)
        if self.training and self.spec_augment is not None:
            feats = self.spec_augment(feats)
        # Frames past each utterance's end are zeroed after every layer, and
        # the LSTM gets exact frame counts, so an utterance is encoded the
        # same way whatever it is batched with.
        frames = self._fbank_frames(wav_lens, wav.shape[1])
        x = _zero_padding(feats, frames)
        for block in self.cnn:
            x = block(x.transpose(1, 2)).transpose(1, 2)
            frames = torch.div(frames + 1, 2, rounding_mode="floor")
            x = _zero_padding(x, frames)
        lens = relative_lengths(frames, x.shape[1])
        if not self.output_all_hiddens:
            return self.rnn(x, lengths=lens)[0]
        hiddens = [x]
        for i, layer in enumerate(self.rnn):
            if i > 0:
                x = self.rnn_dropout(x)
            out = layer(x, lengths=lens)[0]
            pad = x.shape[1] - out.shape[1]
            x = _zero_padding(F.pad(out, (0, 0, 0, pad)), frames)
            hiddens.append(x)
        return torch.stack(hiddens)

    def _fbank_frames(self, wav_lens, n_samples):
        samples = torch.round(wav_lens * n_samples)
        return torch.div(samples, self.hop_length, rounding_mode="floor") + 1

    def relative_frame_lengths(self, wav_lens, n_samples, n_frames):
        """Relative lengths of the output frames that hold signal.

        Relative input lengths multiplied by the output length can round to
        one frame more or less than the true count; these lengths are exact
        (``round(length * n_frames)`` is the true count).

        Arguments
        ---------
        wav_lens : torch.Tensor
            Relative lengths of the input waveforms.
        n_samples : int
            Samples of the padded input batch.
        n_frames : int
            Frames of the padded output batch.

        Returns
        -------
        torch.Tensor
            Relative output lengths.
        """
        frames = self._fbank_frames(wav_lens, n_samples)
        for _ in self.cnn:
            frames = torch.div(frames + 1, 2, rounding_mode="floor")
        return relative_lengths(frames, n_frames)


def _zero_padding(x, frames):
    """Zeroes the frames of [batch, time, dim] past each frame count."""
    mask = length_to_mask(frames, x.shape[1], dtype=x.dtype)
    return x * mask.unsqueeze(-1)
