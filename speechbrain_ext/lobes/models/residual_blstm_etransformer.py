"""Residual-BLSTM and E-transformer encoder for speech emotion recognition.

A speech emotion classifier built from LSTM, one-dimensional convolutions
and transformer encoder layers (Figure 1 of the paper)::

    40 log-mel x 400 frames (4 s, cut or zero-padded)
      -> 3-Conv-Layers       3 x (Conv1d k5/k3/k3, 128 ch, BN, ReLU),
                             residual around the last block
      -> residual-BLSTM x 2  BLSTM 128 per direction, dropout 0.2,
                             FFN 256 -> 512 (ReLU) -> 128, + input
      -> time pooling        dropout 0.2, pooling kernel 2, stride 2
      -> E-transformer x 3   Conv1d (k3, ReLU, LayerNorm) -> transformer
                             encoder layer(s) (8 heads, d_model 128; one by
                             default) -> Conv1d, + input
      -> statistics pooling  mean and standard deviation over time (256)

The linear layer and softmax that follow live in the recipe's yaml. The
paper's ablations (Table 2) are constructor switches of
:class:`ResidualBLSTMETransformer`: ``use_conv``, ``residual_blstm``,
``time_pooling`` and ``transformer`` (``etransformer``, ``plain`` or
``none``).

* :class:`ConvLayers` -- the 3-Conv-Layers module;
* :class:`ResidualBLSTM` -- a BLSTM, its FFN and the residual connection;
* :class:`TimePooling` -- dropout then pooling over time;
* :class:`ETransformer` -- a transformer encoder layer between two
  convolutions, with a residual connection around the module;
* :class:`ResidualBLSTMETransformer` -- the whole encoder;
* :func:`residual_forward` -- the family's forward pass, from waveforms to
  emotion log-probabilities.

Authors
 * SpeechBrain IEMOCAP emotion recognition recipe contributors
"""

import speechbrain as sb
import torch
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.lobes.models.transformer.Transformer import (
    TransformerEncoderLayer,
)
from speechbrain.nnet.CNN import Conv1d
from speechbrain.nnet.normalization import BatchNorm1d, LayerNorm
from speechbrain.nnet.pooling import Pooling1d, StatisticsPooling
from speechbrain.nnet.RNN import LSTM

TRANSFORMER_KINDS = ("etransformer", "plain", "none")


def _conv_block(in_channels, out_channels, kernel_size, norm):
    """Conv1d -> norm -> ReLU (norm: ``batch`` or ``layer``)."""
    if norm == "batch":
        normalization = BatchNorm1d(input_size=out_channels)
    else:
        normalization = LayerNorm(input_size=out_channels)
    layers = [
        Conv1d(
            out_channels=out_channels,
            kernel_size=kernel_size,
            in_channels=in_channels,
        ),
        normalization,
        torch.nn.ReLU(),
    ]
    if norm == "layer":  # the E-transformer's order: ReLU, then LayerNorm
        layers = [layers[0], layers[2], layers[1]]
    return torch.nn.Sequential(*layers)


class ConvLayers(torch.nn.Module):
    """The 3-Conv-Layers module (Section 2.1).

    Convolution blocks (Conv1d with stride 1, BatchNorm, ReLU); the last
    block's input is added to its output.

    Arguments
    ---------
    input_size : int
        Feature dimension of the input.
    channels : int
        Output channels of every block.
    kernel_sizes : sequence of int
        Kernel size of each block (the paper: 5, 3, 3).
    residual : bool
        Residual connection around the last block.

    Example
    -------
    >>> conv = ConvLayers(40)
    >>> conv(torch.randn(2, 50, 40)).shape
    torch.Size([2, 50, 128])
    """

    def __init__(
        self, input_size, channels=128, kernel_sizes=(5, 3, 3), residual=True
    ):
        super().__init__()
        sizes = [input_size] + [channels] * len(kernel_sizes)
        self.blocks = torch.nn.ModuleList(
            _conv_block(sizes[i], channels, k, "batch")
            for i, k in enumerate(kernel_sizes)
        )
        self.residual = residual
        self.output_size = channels

    def forward(self, x):
        """[batch, time, input_size] -> [batch, time, channels]."""
        for block in self.blocks[:-1]:
            x = block(x)
        out = self.blocks[-1](x)
        if self.residual and x.shape[-1] == out.shape[-1]:
            out = out + x
        return out


class ResidualBLSTM(torch.nn.Module):
    """BLSTM -> dropout -> FFN, plus the input (Section 2.2, Eq. 1-3).

    ``H = FFN(BLSTM(X)) + X`` with ``FFN(h) = max(0, h W1 + b1) W2 + b2``.
    Without the residual connection (``residual=False``, the paper's
    "BLSTM" of Base1, Base3, Base6 and Base7) the module keeps its FFN and
    its parameters: only the addition of ``X`` goes.

    Arguments
    ---------
    input_size : int
        Feature dimension of the input (``output_size`` when residual).
    hidden_size : int
        LSTM units per direction.
    ffn_size : int
        Middle dimension of the FFN.
    output_size : int
        Output dimension of the FFN.
    dropout : float
        Dropout on the BLSTM output.
    residual : bool
        Add the input to the FFN output.

    Example
    -------
    >>> block = ResidualBLSTM(128)
    >>> block(torch.randn(2, 30, 128)).shape
    torch.Size([2, 30, 128])
    """

    def __init__(
        self,
        input_size,
        hidden_size=128,
        ffn_size=512,
        output_size=128,
        dropout=0.2,
        residual=True,
    ):
        super().__init__()
        if residual and input_size != output_size:
            raise ValueError(
                f"a residual-BLSTM needs input_size == output_size, got "
                f"{input_size} and {output_size}: put the 3-Conv-Layers "
                "module (use_conv) before it or set residual=False"
            )
        self.blstm = LSTM(
            hidden_size=hidden_size,
            input_size=input_size,
            bidirectional=True,
        )
        self.dropout = torch.nn.Dropout(dropout)
        self.ffn = torch.nn.Sequential(
            torch.nn.Linear(2 * hidden_size, ffn_size),
            torch.nn.ReLU(),
            torch.nn.Linear(ffn_size, output_size),
        )
        self.residual = residual
        self.output_size = output_size

    def forward(self, x, lengths=None):
        """[batch, time, input_size] -> [batch, time, output_size]."""
        hidden, _ = self.blstm(x, lengths=lengths)
        out = self.ffn(self.dropout(hidden))
        if self.residual:
            out = out + x
        return out


class TimePooling(torch.nn.Module):
    """Dropout, then pooling over time (Section 2.3).

    Arguments
    ---------
    kernel_size : int
        Frames pooled together.
    stride : int
        Shift between pooled windows.
    dropout : float
        Dropout before the pooling.
    pool_type : str
        ``max`` or ``avg``.

    Example
    -------
    >>> pool = TimePooling()
    >>> pool(torch.randn(2, 31, 8)).shape
    torch.Size([2, 15, 8])
    """

    def __init__(self, kernel_size=2, stride=2, dropout=0.2, pool_type="max"):
        super().__init__()
        self.dropout = torch.nn.Dropout(dropout)
        self.pool = Pooling1d(
            pool_type=pool_type,
            kernel_size=kernel_size,
            input_dims=3,
            pool_axis=1,
            stride=stride,
        )

    def forward(self, x):
        """[batch, time, dims] -> [batch, time // stride, dims]."""
        return self.pool(self.dropout(x))


class ETransformer(torch.nn.Module):
    """The E-transformer module (Section 2.4, Eq. 5-8).

    ``Y = Conv1d(Transformer(Conv1d(T))) + T``, each Conv1d being a
    convolution (stride 1), ReLU and layer normalisation, the transformer
    ``encoder_layers`` post-LN encoder layers (multi-head self-attention
    and FFN sub-layers, each with its residual connection and layer
    normalisation). The paper speaks of "transformer encoder layers" but
    draws one and gives no number (Eq. 5-8 have one MHSA and one FFN): one
    layer by default. With ``convolutions=False`` the module is the plain
    transformer encoder layer(s) (the paper's Base2 and Base3).

    Arguments
    ---------
    d_model : int
        Feature dimension (input, attention and output).
    nhead : int
        Attention heads.
    d_ffn : int
        Middle dimension of the transformer's FFN.
    kernel_size : int
        Kernel size of both convolutions.
    dropout : float
        Dropout of the transformer layer.
    convolutions : bool
        The convolutions and the outer residual connection.
    encoder_layers : int
        Transformer encoder layers between the two convolutions (at least
        1). The first one is ``transformer``, the others ``extra_layers``.

    Example
    -------
    >>> block = ETransformer()
    >>> block(torch.randn(2, 30, 128)).shape
    torch.Size([2, 30, 128])
    >>> len(ETransformer(encoder_layers=2).extra_layers)
    1
    """

    def __init__(
        self,
        d_model=128,
        nhead=8,
        d_ffn=512,
        kernel_size=3,
        dropout=0.1,
        convolutions=True,
        encoder_layers=1,
    ):
        super().__init__()
        if (
            isinstance(encoder_layers, bool)
            or not isinstance(encoder_layers, int)
            or encoder_layers < 1
        ):
            raise ValueError(
                "encoder_layers must be an integer of at least 1, got "
                f"{encoder_layers!r}"
            )
        self.convolutions = convolutions
        if convolutions:
            self.conv_in = _conv_block(d_model, d_model, kernel_size, "layer")
            self.conv_out = _conv_block(d_model, d_model, kernel_size, "layer")

        layers = [
            TransformerEncoderLayer(
                d_ffn=d_ffn,
                nhead=nhead,
                d_model=d_model,
                dropout=dropout,
                normalize_before=False,
            )
            for _ in range(encoder_layers)
        ]
        # The first layer keeps the parameter names of the one-layer module
        self.transformer = layers[0]
        self.extra_layers = torch.nn.ModuleList(layers[1:])

    def forward(self, x, padding_mask=None):
        """[batch, time, d_model] -> [batch, time, d_model].

        Arguments
        ---------
        x : torch.Tensor
            Input sequence.
        padding_mask : torch.Tensor, optional
            [batch, time], True at frames the attention ignores.

        Returns
        -------
        torch.Tensor
            Output sequence.
        """
        hidden = self.conv_in(x) if self.convolutions else x
        for layer in (self.transformer, *self.extra_layers):
            hidden = layer(hidden, src_key_padding_mask=padding_mask)[0]
        if not self.convolutions:
            return hidden
        return self.conv_out(hidden) + x


class ResidualBLSTMETransformer(torch.nn.Module):
    """3-Conv-Layers, residual-BLSTMs, time pooling, E-transformers, stats.

    The defaults are the paper's; the switches give its Table 2 models:

    ======  ========  ==============  ============  ============
    model   use_conv  residual_blstm  transformer   time_pooling
    ======  ========  ==============  ============  ============
    full    True      True            etransformer  True
    Base1   True      False           etransformer  True
    Base2   True      True            plain         True
    Base3   True      False           plain         True
    Base4   True      True            etransformer  False
    Base5   True      True            none          True
    Base6   True      False           none          True
    Base7   False     False           none          True
    ======  ========  ==============  ============  ============

    Arguments
    ---------
    input_size : int
        Feature dimension (40 log-mel energies).
    use_conv : bool
        The 3-Conv-Layers module in front of the BLSTMs.
    conv_channels : int
        Channels of the 3-Conv-Layers module.
    conv_kernel_sizes : sequence of int
        Kernel sizes of its blocks.
    blstm_layers : int
        Residual-BLSTM (or BLSTM) modules.
    residual_blstm : bool
        Residual connections of the BLSTM modules.
    hidden_size : int
        LSTM units per direction.
    ffn_size : int
        Middle dimension of the BLSTM modules' FFN.
    d_model : int
        Output dimension of the BLSTM modules and of the transformers.
    dropout : float
        Dropout of the BLSTM modules and before the time pooling.
    time_pooling : bool
        Pooling over time after the last BLSTM module.
    pool_size : int
        Kernel size and stride of the time pooling.
    transformer : str
        ``etransformer``, ``plain`` (transformer encoder layers without
        the convolutions) or ``none``.
    transformer_layers : int
        E-transformer (or transformer) modules.
    transformer_encoder_layers : int
        Transformer encoder layers inside each of these modules (the paper
        does not give the number; 1 by default).
    nhead : int
        Attention heads.
    d_ffn : int
        Middle dimension of the transformers' FFN.
    transformer_kernel_size : int
        Kernel size of the E-transformer convolutions.
    transformer_dropout : float
        Dropout inside the transformer layers.

    Example
    -------
    >>> model = ResidualBLSTMETransformer(input_size=40)
    >>> model(torch.randn(2, 100, 40)).shape
    torch.Size([2, 256])
    >>> model.output_size
    256
    >>> base7 = ResidualBLSTMETransformer(
    ...     40, use_conv=False, residual_blstm=False, transformer="none")
    >>> base7(torch.randn(2, 100, 40), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 256])
    """

    def __init__(
        self,
        input_size=40,
        use_conv=True,
        conv_channels=128,
        conv_kernel_sizes=(5, 3, 3),
        blstm_layers=2,
        residual_blstm=True,
        hidden_size=128,
        ffn_size=512,
        d_model=128,
        dropout=0.2,
        time_pooling=True,
        pool_size=2,
        transformer="etransformer",
        transformer_layers=3,
        nhead=8,
        d_ffn=512,
        transformer_kernel_size=3,
        transformer_dropout=0.1,
        transformer_encoder_layers=1,
    ):
        super().__init__()
        if transformer not in TRANSFORMER_KINDS:
            raise ValueError(
                f"transformer must be one of {', '.join(TRANSFORMER_KINDS)}, "
                f"not {transformer!r}"
            )
        self.conv = None
        size = input_size
        if use_conv:
            self.conv = ConvLayers(size, conv_channels, conv_kernel_sizes)
            size = conv_channels
        self.blstms = torch.nn.ModuleList()
        for _ in range(blstm_layers):
            self.blstms.append(
                ResidualBLSTM(
                    size,
                    hidden_size=hidden_size,
                    ffn_size=ffn_size,
                    output_size=d_model,
                    dropout=dropout,
                    residual=residual_blstm,
                )
            )
            size = d_model
        self.time_pooling = None
        if time_pooling:
            self.time_pooling = TimePooling(pool_size, pool_size, dropout)
        self.transformers = torch.nn.ModuleList()
        if transformer != "none":
            for _ in range(transformer_layers):
                self.transformers.append(
                    ETransformer(
                        d_model=d_model,
                        nhead=nhead,
                        d_ffn=d_ffn,
                        kernel_size=transformer_kernel_size,
                        dropout=transformer_dropout,
                        convolutions=transformer == "etransformer",
                        encoder_layers=transformer_encoder_layers,
                    )
                )
        self.stats_pooling = StatisticsPooling(return_std=True)
        self.output_size = 2 * size

    def forward(self, x, lengths=None):
        """Utterance embeddings: mean and std of the last layer's frames.

        Arguments
        ---------
        x : torch.Tensor
            Features [batch, time, input_size].
        lengths : torch.Tensor, optional
            Relative lengths; frames beyond them are left out of the
            BLSTMs, the attention and the statistics. ``None``: every
            frame counts (the paper's fixed-length, zero-padded input).

        Returns
        -------
        torch.Tensor
            [batch, 2 * d_model].
        """
        if self.conv is not None:
            x = self.conv(x)
        for blstm in self.blstms:
            x = blstm(x, lengths=lengths)
        if self.time_pooling is not None:
            x = self.time_pooling(x)
        mask = None
        if lengths is not None:
            frames = torch.round(lengths * x.shape[1]).clamp(min=1)
            mask = ~length_to_mask(frames, x.shape[1], dtype=torch.bool)
        for block in self.transformers:
            x = block(x, padding_mask=mask)
        return self.stats_pooling(x, lengths=lengths).squeeze(1)


def residual_forward(
    modules, hparams, wavs, wav_lens, stage=sb.Stage.TEST, epoch=None, **context
):
    """Waveforms -> emotion log-probabilities, the family's forward pass.

    Fbank features -> global normalisation -> cut or zero-padded to a fixed
    number of frames (``fixed_length``; the padding is zero, the global
    mean, and part of the input, as in the paper) -> encoder -> classifier
    -> log-softmax.

    Arguments
    ---------
    modules : dict-like
        ``normalize`` (an ``InputNormalization``), ``encoder`` (a
        :class:`ResidualBLSTMETransformer`) and ``classifier``.
    hparams : attribute-accessible
        ``compute_features`` (the Fbank), ``fixed_length`` (a
        ``speechbrain_ext.nnet.windows.FixedLengthFrames``) and
        ``log_softmax``.
    wavs : torch.Tensor
        Waveforms [batch, time]: the audio the model sees.
    wav_lens : torch.Tensor
        Relative lengths.
    stage : speechbrain.Stage
        The stage; the modules' train or eval mode decides dropout and
        whether the normalisation statistics are updated.
    epoch : int, optional
        The training epoch, for the normalisation statistics (updated on
        the first epochs' training batches only); not needed in eval mode.
    **context
        Objects built outside the yaml; this family needs none.

    Returns
    -------
    dict
        ``p_emo``: emotion log-probabilities [batch, classes].

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.lobes.features import Fbank
    >>> from speechbrain.nnet.activations import Softmax
    >>> from speechbrain.processing.features import InputNormalization
    >>> from speechbrain_ext.nnet.windows import FixedLengthFrames
    >>> encoder = ResidualBLSTMETransformer(
    ...     40, conv_channels=8, hidden_size=8, ffn_size=16, d_model=8,
    ...     nhead=2, d_ffn=16)
    >>> modules = {"normalize": InputNormalization(),
    ...            "encoder": encoder,
    ...            "classifier": torch.nn.Linear(16, 4)}
    >>> hparams = SimpleNamespace(compute_features=Fbank(n_mels=40),
    ...                           fixed_length=FixedLengthFrames(0.5),
    ...                           log_softmax=Softmax(apply_log=True))
    >>> out = residual_forward(modules, hparams, torch.randn(2, 8000),
    ...                        torch.tensor([1.0, 0.5]), epoch=1)
    >>> sorted(out), out["p_emo"].shape
    (['p_emo'], torch.Size([2, 4]))
    >>> bool(torch.allclose(out["p_emo"].exp().sum(-1), torch.ones(2)))
    True
    """
    feats = hparams.compute_features(wavs)
    # Global statistics of the speech frames (the first epochs' batches)
    feats = modules["normalize"](feats, wav_lens, epoch=epoch)
    feats, _ = hparams.fixed_length(feats, wav_lens)
    embeddings = modules["encoder"](feats)
    logits = modules["classifier"](embeddings)
    return {"p_emo": hparams.log_softmax(logits)}
