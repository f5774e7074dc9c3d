"""Joint ASR + SER with fused ASR outputs (Li, Bell and Lai, 2022).

*Fusing ASR outputs in joint training for speech emotion recognition*:
up to three streams feed the emotion classifier,

* ``mfcc``: MFCCs max-pooled over time (kernel 2), :class:`MFCCMaxPool`;
* ``hidden``: the hidden states of one layer of the ASR encoder (first,
  middle or final, :func:`select_hidden_layer`);
* ``text``: BERT features of the ASR hypothesis (greedy CTC decoding) or of
  the ground-truth transcript;

each encoded by a 2-layer BiLSTM and multi-head self-attention
(:class:`BiLSTMSelfAttentionEncoder`), then fused
(:class:`speechbrain_ext.nnet.coattention.StreamFusion`: concatenation,
co-attention or hierarchical co-attention). The ASR encoder (wav2vec2) is
trained jointly with a CTC layer on its final layer.
:func:`fused_asr_ser_forward` runs the streams that a set of modules holds;
:func:`fusion_forward` is the family's forward pass from a yaml's
hyperparameters (the one that training, evaluation and inference share).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import speechbrain as sb
import torch
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.lobes.features import MFCC
from speechbrain.nnet.attention import MultiheadAttention

from speechbrain_ext.lobes.models.fbank_encoder import normalize_features
from speechbrain_ext.lobes.models.joint_asr_ser import ctc_greedy_transcripts
from speechbrain_ext.nnet.coattention import (
    EncodedStream,
    frame_counts,
    masked_mean,
    relative_lengths,
)
from speechbrain_ext.nnet.RNN import PaddedBLSTM

STREAMS = ("mfcc", "hidden", "text")
"""The streams, in fusion order (frame, utterance, dialog level)."""

STREAM_MODULES = {
    "mfcc": ("mfcc_frontend", "mfcc_encoder"),
    "hidden": ("hidden_encoder",),
    "text": ("text_features", "text_encoder"),
}
"""The modules that each stream needs."""

ASR_MODULES = ("encoder", "ctc_lin")
"""The modules of the ASR path (wav2vec2 and its CTC layer)."""

HIDDEN_LAYERS = ("first", "middle", "final")


class BiLSTMSelfAttentionEncoder(torch.nn.Module):
    """BiLSTM -> multi-head self-attention -> sequence and fixed vector.

    The stream encoder of Li et al. (2022), section 4.1: a 2-layer BiLSTM
    of 32 units per direction with dropout 0.5 after each layer, then a
    self-attention layer of 16 heads and 64 nodes. The attended frames are
    the stream's sequence (for co-attention), their mean over the real
    frames its fixed vector (for concatenation). Padding never reaches the
    real frames in the BiLSTM (``PaddedBLSTM``) and is masked in the
    attention (key padding mask), so an utterance is encoded the same way
    whatever it is batched with.

    Arguments
    ---------
    input_size : int
        Size of the input frames.
    hidden_size : int
        LSTM units per direction.
    num_layers : int
        BiLSTM layers.
    dropout : float
        Dropout after each BiLSTM layer.
    nhead : int
        Self-attention heads.
    attention_size : int
        Size of the self-attention layer ("nodes"); the BiLSTM output is
        projected to it when it differs from ``2 * hidden_size``.

    Example
    -------
    >>> enc = BiLSTMSelfAttentionEncoder(input_size=20).eval()
    >>> out = enc(torch.rand(2, 30, 20), torch.tensor([1.0, 0.5]))
    >>> out.sequence.shape, out.vector.shape, out.mask.sum(1).tolist()
    (torch.Size([2, 30, 64]), torch.Size([2, 64]), [30, 15])
    """

    def __init__(
        self,
        input_size,
        hidden_size=32,
        num_layers=2,
        dropout=0.5,
        nhead=16,
        attention_size=64,
    ):
        super().__init__()
        self.lstm = PaddedBLSTM(
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            output_dropout=True,
        )
        self.projection = torch.nn.Identity()
        if attention_size != 2 * hidden_size:
            self.projection = torch.nn.Linear(2 * hidden_size, attention_size)
        self.attention = MultiheadAttention(nhead, attention_size)
        self.output_size = attention_size

    def forward(self, x, lengths):
        """Encodes [batch, time, input_size] frames.

        Arguments
        ---------
        x : torch.Tensor
            Input frames.
        lengths : torch.Tensor
            Relative lengths.

        Returns
        -------
        EncodedStream
            ``sequence`` [batch, time, attention_size] (zero on padding),
            ``mask`` of the real frames, ``vector`` [batch, attention_size].
        """
        n_frames = x.shape[1]
        counts = frame_counts(lengths, n_frames)
        mask = length_to_mask(counts, n_frames, dtype=torch.bool)
        h = self.lstm(x, relative_lengths(counts, n_frames))
        h = self.projection(h)
        h = self.attention(
            h, h, h, key_padding_mask=~mask, return_attn_weights=False
        )
        h = h * mask.unsqueeze(-1).to(h.dtype)
        return EncodedStream(h, mask, masked_mean(h, mask))


class MFCCMaxPool(torch.nn.Module):
    """MFCCs, global normalisation, max pooling over time (the SER path).

    SpeechBrain's ``MFCC`` (static coefficients only), an optional
    normalisation, then max pooling of kernel and stride ``pool_size``
    over time (Li et al., 2022, section 4.1). Padding frames never win the
    max, so an utterance gives the same features alone or in a batch.

    Arguments
    ---------
    n_mfcc : int
        Cepstral coefficients.
    n_mels : int
        Mel filters.
    pool_size : int
        Kernel and stride of the max pooling.
    normalize : speechbrain.processing.features.InputNormalization, optional
        Normalisation of the coefficients (``norm_type="global"`` keeps the
        loudness, a cue of arousal); list it in the checkpointer's
        recoverables, its statistics are not parameters.
    sample_rate : int
        Input sample rate.
    hop_length : float
        Frame shift in milliseconds.

    Example
    -------
    >>> mfcc = MFCCMaxPool(n_mfcc=13, n_mels=23)
    >>> feats, lens = mfcc(torch.rand(2, 16000), torch.tensor([1.0, 0.5]))
    >>> feats.shape, (lens * feats.shape[1]).round().tolist()
    (torch.Size([2, 51, 13]), [51.0, 26.0])
    """

    def __init__(
        self,
        n_mfcc=40,
        n_mels=40,
        pool_size=2,
        normalize=None,
        sample_rate=16000,
        hop_length=10,
    ):
        super().__init__()
        self.compute_features = MFCC(
            deltas=False,
            context=False,
            n_mfcc=n_mfcc,
            n_mels=n_mels,
            sample_rate=sample_rate,
            hop_length=hop_length,
        )
        self.normalize = normalize
        self.pool_size = pool_size
        self.hop_samples = int(round(sample_rate * hop_length / 1000))
        self.output_size = n_mfcc

    def forward(self, wavs, wav_lens):
        """Pooled coefficients [batch, frames, n_mfcc] and relative lengths.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].
        wav_lens : torch.Tensor
            Relative lengths.

        Returns
        -------
        feats : torch.Tensor
            Pooled features, zero on padding.
        lens : torch.Tensor
            Their relative lengths.
        """
        feats = self.compute_features(wavs)
        # STFT frames are centred: one per hop, plus one
        samples = torch.round(wav_lens * wavs.shape[1])
        counts = torch.div(samples, self.hop_samples, rounding_mode="floor")
        counts = (counts.long() + 1).clamp(max=feats.shape[1])
        lens = relative_lengths(counts, feats.shape[1])
        if self.normalize is not None:
            feats = normalize_features(self.normalize, feats, lens)
        mask = length_to_mask(counts, feats.shape[1], dtype=torch.bool)
        feats = feats.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        feats = torch.nn.functional.max_pool1d(
            feats.transpose(1, 2),
            self.pool_size,
            self.pool_size,
            ceil_mode=True,
        ).transpose(1, 2)
        counts = -torch.div(-counts, self.pool_size, rounding_mode="floor")
        mask = length_to_mask(counts, feats.shape[1], dtype=torch.bool)
        feats = feats.masked_fill(~mask.unsqueeze(-1), 0.0)
        return feats, relative_lengths(counts, feats.shape[1])


def select_hidden_layer(hiddens, layer="middle"):
    """One layer of the stacked hidden states of an encoder.

    SpeechBrain's ``Wav2Vec2(output_all_hiddens=True)`` returns
    [layers + 1, batch, time, dim]: the projected CNN output (the initial
    embeddings) and the output of every transformer layer. ``first`` is the
    initial embeddings, ``final`` the last layer, ``middle`` the layer
    half-way (layer 6 of wav2vec2-base's 12), as in Li et al. (2022),
    Table 4. For wav2vec2-base, the final state is the model's output; for
    models with a final layer norm (``do_stable_layer_norm``, e.g.
    wav2vec2-large-lv60), transformers stacks the state before that norm.

    Arguments
    ---------
    hiddens : torch.Tensor
        [layers + 1, batch, time, dim].
    layer : str or int
        ``first``, ``middle``, ``final`` or an index.

    Returns
    -------
    torch.Tensor
        [batch, time, dim].

    Example
    -------
    >>> hiddens = torch.arange(13.0).view(13, 1, 1, 1)
    >>> [int(select_hidden_layer(hiddens, n)) for n in HIDDEN_LAYERS]
    [0, 6, 12]
    >>> int(select_hidden_layer(hiddens, 3))
    3
    """
    return hiddens[hidden_layer_index(layer, hiddens.shape[0])]


def hidden_layer_index(layer, n_hiddens):
    """Index of a named layer among ``n_hiddens`` stacked hidden states.

    Arguments
    ---------
    layer : str or int
        ``first``, ``middle``, ``final`` or an index.
    n_hiddens : int
        Number of stacked states (layers + 1).

    Returns
    -------
    int
        The index.

    Example
    -------
    >>> hidden_layer_index("middle", 3), hidden_layer_index("final", 3)
    (1, 2)
    >>> hidden_layer_index("last", 3)
    Traceback (most recent call last):
    ...
    ValueError: hidden_layer must be first, middle, final or an index, ...
    """
    if isinstance(layer, int):
        if not -n_hiddens <= layer < n_hiddens:
            raise IndexError(f"layer {layer} of {n_hiddens} hidden states")
        return layer
    if layer not in HIDDEN_LAYERS:
        raise ValueError(
            "hidden_layer must be first, middle, final or an index, "
            f"not {layer!r}"
        )
    return {"first": 0, "middle": (n_hiddens - 1) // 2}.get(
        layer, n_hiddens - 1
    )


def _log_softmax(logits):
    """Log-probabilities over the last dimension."""
    return torch.log_softmax(logits, dim=-1)


def fused_asr_ser_forward(
    modules,
    wavs,
    wav_lens,
    log_softmax=_log_softmax,
    hidden_layer="middle",
    tokenizer=None,
    blank_index=0,
    texts=None,
    decode=True,
):
    """Runs the ASR path and the emotion streams that ``modules`` holds.

    Arguments
    ---------
    modules : dict-like
        ASR path: ``encoder`` (waveforms -> stacked hidden states
        [layers + 1, batch, time, dim]) and ``ctc_lin`` (final layer ->
        CTC logits). Streams: ``mfcc_frontend`` + ``mfcc_encoder``,
        ``hidden_encoder``, ``text_features`` (strings -> token features
        and relative lengths) + ``text_encoder``. Then ``fusion`` (a list
        of :class:`EncodedStream` in the order mfcc, hidden, text -> one
        vector) and ``emo_classifier``; without ``emo_classifier``, the ASR
        path alone (no stream, no emotion output).
    wavs : torch.Tensor
        Waveforms [batch, time].
    wav_lens : torch.Tensor
        Relative lengths.
    log_softmax : callable
        Turns logits into log-probabilities (default: ``log_softmax`` over
        the last dimension).
    hidden_layer : str or int
        The layer that the hidden stream reads (see
        :func:`select_hidden_layer`).
    tokenizer : CTCTextEncoder or transformers.Wav2Vec2CTCTokenizer
        Needed to decode hypotheses (see ``ctc_greedy_transcripts``).
    blank_index : int
        Index of the CTC blank.
    texts : list of str, optional
        What the text stream reads (e.g. ground-truth transcripts); by
        default the ASR hypotheses.
    decode : bool
        Whether to decode hypotheses (always done when the text stream
        reads them).

    Returns
    -------
    dict
        ``p_emo`` (log-probabilities, with ``emo_classifier``); with an ASR
        path also ``p_ctc``, ``feat_lens`` and (when decoded) ``hyps``
        (lists of words).

    Example
    -------
    >>> from speechbrain.nnet.activations import Softmax
    >>> from speechbrain_ext.nnet.coattention import StreamFusion
    >>> modules = {
    ...     "mfcc_frontend": MFCCMaxPool(n_mfcc=13, n_mels=23),
    ...     "mfcc_encoder": BiLSTMSelfAttentionEncoder(13),
    ...     "fusion": StreamFusion("concat", n_streams=1, d_model=64),
    ...     "emo_classifier": torch.nn.Linear(64, 4)}
    >>> out = fused_asr_ser_forward(
    ...     modules, torch.rand(2, 8000), torch.ones(2),
    ...     log_softmax=Softmax(apply_log=True))
    >>> sorted(out), out["p_emo"].shape
    (['p_emo'], torch.Size([2, 4]))
    """
    out, streams = {}, []
    has_text = "text_encoder" in modules
    if "mfcc_encoder" in modules:
        feats, lens = modules["mfcc_frontend"](wavs, wav_lens)
        streams.append(modules["mfcc_encoder"](feats, lens))
    if "encoder" in modules:
        encoder = modules["encoder"]
        hiddens = encoder(wavs, wav_lens)
        feat_lens = wav_lens
        # encoders that know their exact output lengths give them
        exact = getattr(
            getattr(encoder, "module", encoder), "relative_frame_lengths", None
        )
        if exact is not None:
            feat_lens = exact(wav_lens, wavs.shape[1], hiddens.shape[2])
        out["feat_lens"] = feat_lens
        out["p_ctc"] = log_softmax(modules["ctc_lin"](hiddens[-1]))
        if decode or (has_text and texts is None):
            out["hyps"] = ctc_greedy_transcripts(
                out["p_ctc"], feat_lens, tokenizer, blank_index
            )
        if "hidden_encoder" in modules:
            layer = select_hidden_layer(hiddens, hidden_layer)
            streams.append(modules["hidden_encoder"](layer, feat_lens))
    elif "hidden_encoder" in modules:
        raise ValueError("the hidden stream needs the ASR encoder")
    if has_text:
        if texts is None:
            if "hyps" not in out:
                raise ValueError(
                    "the text stream reads the ASR hypotheses: it needs the "
                    "ASR path, or ground-truth texts"
                )
            texts = [" ".join(words) for words in out["hyps"]]
        tokens, token_lens = modules["text_features"](texts)
        streams.append(modules["text_encoder"](tokens, token_lens))
    if "emo_classifier" in modules:
        embedding = modules["fusion"](streams)
        out["p_emo"] = log_softmax(modules["emo_classifier"](embedding))
    return out


def fusion_forward(
    modules,
    hparams,
    wavs,
    wav_lens,
    stage=sb.Stage.TEST,
    tokenizer=None,
    texts=None,
):
    """The forward pass of the fusion family, from a yaml's hyperparameters.

    The ASR path transcribes (greedy CTC decoding), the streams that
    ``modules`` holds are encoded and fused, and the emotion classifier
    reads the fusion; the text stream reads the ASR hypothesis (``hyp``)
    or, for the SER baselines, the ground-truth transcript (``wrd``).

    Arguments
    ---------
    modules : dict-like
        The modules of the ASR path and of the streams (see
        :func:`fused_asr_ser_forward`); with ``stream_list`` in
        ``hparams``, those of other streams are left out
        (:func:`stream_modules`), as the inference interface holds every
        module of the yaml.
    hparams : attribute-accessible
        The recipe's hyperparameters; read: ``hidden_layer`` (default
        ``middle``), ``blank_index`` (default 0), ``text_source`` (default
        ``hyp``) and ``stream_list`` (default: every stream ``modules``
        holds).
    wavs : torch.Tensor
        Waveforms [batch, time].
    wav_lens : torch.Tensor
        Relative lengths.
    stage : speechbrain.Stage
        Hypotheses are decoded outside training (and in training when the
        text stream reads them).
    tokenizer : CTCTextEncoder or transformers.Wav2Vec2CTCTokenizer
        Decodes the hypotheses: the recipe's character encoder, saved in
        ``<save_folder>/tokenizer.txt`` (``ctc_head: new``), or the
        tokenizer of the released CTC head, read from the model's folder
        (``ctc_head: pretrained``). Default: the ``tokenizer`` of the
        ``ctc_lin`` module, where it has one (the released head's).
    texts : list of str, optional
        The ground-truth transcripts of the batch: the text stream reads
        them with ``text_source: wrd`` only; with ``hyp`` they are ignored.

    Returns
    -------
    dict
        The prediction contract: ``p_emo`` (emotion log-probabilities, with
        streams) and ``hyps`` (lists of words, with an ASR path, outside
        training); for the loss, ``p_ctc`` and ``feat_lens``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain_ext.nnet.coattention import StreamFusion
    >>> modules = {
    ...     "mfcc_frontend": MFCCMaxPool(n_mfcc=13, n_mels=23),
    ...     "mfcc_encoder": BiLSTMSelfAttentionEncoder(13),
    ...     "fusion": StreamFusion("concat", n_streams=1, d_model=64),
    ...     "emo_classifier": torch.nn.Linear(64, 4)}
    >>> out = fusion_forward(modules, SimpleNamespace(), torch.rand(2, 8000),
    ...                      torch.ones(2))
    >>> sorted(out), torch.allclose(out["p_emo"].exp().sum(-1), torch.ones(2))
    (['p_emo'], True)
    >>> fusion_forward(modules, SimpleNamespace(text_source="wrd"),
    ...                torch.rand(2, 8000), torch.ones(2))
    Traceback (most recent call last):
    ...
    ValueError: text_source: wrd needs the batch's transcripts (texts=...)
    """
    text_source = getattr(hparams, "text_source", "hyp")
    if text_source == "wrd" and texts is None:
        raise ValueError(
            "text_source: wrd needs the batch's transcripts (texts=...)"
        )
    streams = getattr(hparams, "stream_list", None)
    if streams is not None:  # the interface holds every module of the yaml
        modules = stream_modules(modules, streams, text_source)
    if tokenizer is None and "ctc_lin" in modules:
        tokenizer = getattr(modules["ctc_lin"], "tokenizer", None)
    return fused_asr_ser_forward(
        modules,
        wavs,
        wav_lens,
        hidden_layer=getattr(hparams, "hidden_layer", "middle"),
        tokenizer=tokenizer,
        blank_index=getattr(hparams, "blank_index", 0),
        texts=list(texts) if text_source == "wrd" else None,
        decode=stage != sb.Stage.TRAIN,
    )


def stream_modules(modules, streams, text_source="hyp"):
    """The modules of the ASR path and of the chosen streams.

    Arguments
    ---------
    modules : dict
        Every module of a yaml file (``modules:``).
    streams : list of str
        The streams to train, among ``mfcc``, ``hidden`` and ``text``; none
        for the ASR path alone (no emotion output: ``fusion`` and
        ``emo_classifier`` are dropped too).
    text_source : str
        What the text stream reads: ``hyp`` (the ASR output, which needs
        the ASR path) or ``wrd`` (the ground-truth transcript).

    Returns
    -------
    dict
        ``modules`` without the modules of the other streams.

    Example
    -------
    >>> mods = {k: torch.nn.Identity() for k in [
    ...     "encoder", "ctc_lin", "mfcc_frontend", "mfcc_encoder",
    ...     "hidden_encoder", "text_features", "text_encoder", "fusion",
    ...     "emo_classifier"]}
    >>> sorted(stream_modules(mods, ["mfcc", "hidden"]))
    ['ctc_lin', 'emo_classifier', 'encoder', 'fusion', 'hidden_encoder', \
'mfcc_encoder', 'mfcc_frontend']
    >>> stream_modules(mods, ["pitch"])
    Traceback (most recent call last):
    ...
    ValueError: unknown stream(s) ['pitch']; choose among mfcc, hidden, text
    >>> sorted(stream_modules(mods, []))
    ['ctc_lin', 'encoder']
    >>> del mods["encoder"]
    >>> stream_modules(mods, ["text"])
    Traceback (most recent call last):
    ...
    ValueError: the text stream reads the ASR output: the yaml needs the ...
    """
    if text_source not in ("hyp", "wrd"):
        raise ValueError(
            f"text_source must be hyp (ASR output) or wrd, not {text_source!r}"
        )
    unknown = [s for s in streams if s not in STREAMS]
    if unknown:
        raise ValueError(
            f"unknown stream(s) {unknown}; choose among {', '.join(STREAMS)}"
        )
    dropped = {
        name
        for stream in STREAMS
        if stream not in streams
        for name in STREAM_MODULES[stream]
    }
    if not streams:
        dropped |= {"fusion", "emo_classifier"}
    missing = [
        name
        for stream in streams
        for name in STREAM_MODULES[stream]
        if name not in modules
    ]
    if missing:
        raise ValueError(f"the yaml declares no module {missing}")
    has_asr = all(name in modules for name in ASR_MODULES)
    if not streams and not has_asr:
        raise ValueError(
            "no stream and no ASR path (encoder, ctc_lin): nothing to run; "
            f"choose streams among {', '.join(STREAMS)}"
        )
    if "hidden" in streams and not has_asr:
        raise ValueError("the hidden stream needs the ASR path (encoder)")
    if "text" in streams and text_source == "hyp" and not has_asr:
        raise ValueError(
            "the text stream reads the ASR output: the yaml needs the ASR "
            "path (encoder, ctc_lin), or text_source: wrd"
        )
    return {k: v for k, v in modules.items() if k not in dropped}


def restrict_param_groups(param_groups, modules):
    """Parameter groups with only the modules that are in ``modules``.

    Arguments
    ---------
    param_groups : dict
        ``{name: {"modules": list of modules, ...}}`` (see ``RecipeBrain``).
    modules : dict
        The modules in use.

    Returns
    -------
    dict
        A copy of ``param_groups`` whose module lists hold only modules in
        use, so that unused streams get no optimizer state.

    Example
    -------
    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> groups = {"model": {"modules": [a, b], "optimizer": None}}
    >>> restrict_param_groups(groups, {"a": a})["model"]["modules"] == [a]
    True
    """
    used = {id(m) for m in modules.values()}
    restricted = {}
    for name, group in param_groups.items():
        members = group["modules"]
        if isinstance(members, torch.nn.Module) and not isinstance(
            members, torch.nn.ModuleList
        ):
            members = [members]
        restricted[name] = dict(
            group, modules=[m for m in members if id(m) in used]
        )
    return restricted
