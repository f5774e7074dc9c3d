"""A small filterbank speech encoder with the interface of ``Wav2Vec2``.

It takes raw waveforms and relative lengths, like SpeechBrain's HuggingFace
``Wav2Vec2`` lobe, so a recipe can swap one for the other in its yaml file.
Used where wav2vec2 is too slow to fine-tune (CPU demos and tests).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch
from speechbrain.lobes.features import Fbank
from speechbrain.nnet.RNN import LSTM


class FbankEncoder(torch.nn.Module):
    """Fbank -> global normalisation -> strided 1-D convolutions -> BiLSTM.

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

    Example
    -------
    >>> from speechbrain.processing.features import InputNormalization
    >>> enc = FbankEncoder(InputNormalization(norm_type="global"),
    ...                    cnn_channels=[16, 16], rnn_size=8, rnn_layers=1)
    >>> out = enc(torch.rand(2, 16000), torch.tensor([1.0, 0.5]))
    >>> out.shape
    torch.Size([2, 26, 16])
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
    ):
        super().__init__()
        self.compute_features = Fbank(n_mels=n_mels, sample_rate=sample_rate)
        self.normalize = normalize
        self.spec_augment = spec_augment
        layers, in_ch = [], n_mels
        for ch in cnn_channels:
            layers += [
                torch.nn.Conv1d(
                    in_ch, ch, kernel_size, stride=2, padding=kernel_size // 2
                ),
                torch.nn.BatchNorm1d(ch),
                torch.nn.LeakyReLU(),
                torch.nn.Dropout(dropout),
            ]
            in_ch = ch
        self.cnn = torch.nn.Sequential(*layers)
        self.rnn = LSTM(
            hidden_size=rnn_size,
            input_shape=(None, None, in_ch),
            num_layers=rnn_layers,
            bidirectional=True,
            dropout=dropout,
        )
        self.output_size = 2 * rnn_size

    def forward(self, wav, wav_lens=None):
        """Encodes [batch, time] waveforms into [batch, frames, output_size]."""
        if wav_lens is None:
            wav_lens = torch.ones(wav.shape[0], device=wav.device)
        feats = self.compute_features(wav)
        feats = self.normalize(feats, wav_lens)
        if self.training and self.spec_augment is not None:
            feats = self.spec_augment(feats)
        x = self.cnn(feats.transpose(1, 2)).transpose(1, 2)
        return self.rnn(x, lengths=wav_lens)[0]
