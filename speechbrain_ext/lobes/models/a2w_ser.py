"""Emotion recognition on an acoustic-to-word ASR model (Feng et al., 2020).

*End-to-end speech emotion recognition combined with acoustic-to-word ASR
model* (Interspeech 2020). The pieces of its SER model and baselines:

* :class:`BiLSTMStructuredAttention` -- each branch: a 2-layer BiLSTM of
  256 units then 8-head structured self-attention (section 2.2);
* the acoustic branch reads 40 log-mel filterbanks cut or zero-padded to
  7.5 s (section 5.2; ``speechbrain_ext.nnet.windows.FixedLengthFrames``);
* the text branch of the ASR-SER model reads the "ASR features" of the
  A2W decoder (section 4.1; ``a2w.decoder_states``), given the transcript
  (teacher forcing) or the model's own hypothesis: the LSTM states ``s_l``
  with ``decoder_ordering: paper``, ``AttentionalRNNDecoder``'s outputs
  ``proj([c_l; s_l])`` with ``decoder_ordering: speechbrain``;
* :func:`a2w_asr_features` -- the A2W side of the ASR-SER model;
* :func:`a2w_ser_forward` -- the family's forward pass (the ASR-SER model
  or a baseline of Table 1): emotion log-probabilities and hypotheses;
* :func:`transcribe` and :class:`A2WTranscriber` -- the pre-trained
  model's transcripts for the pipeline baselines (the latter decodes each
  utterance once per condition);
* :func:`load_a2w` -- loads the pre-trained model and its vocabulary;
* :func:`words_per_second` and :func:`check_decoding_bound` -- the
  speaking rate of a manifest, against which the yamls bound the number of
  words the decoder may emit (``max_words_per_second``);
* :func:`load_pretrained` -- a SpeechBrain ``Pretrainer`` load that names
  a missing checkpoint (a checkpoint of other dimensions is named by the
  loading hook ``speechbrain_ext.lobes.models.a2w.pretrained_hooks``).

The A2W modules follow the interface of ``speechbrain_ext.lobes.models.a2w``
(yaml names ``normalize``, ``enc``, ``emb``, ``dec``, ``seq_lin``).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import json
import logging
import os

import speechbrain as sb
import torch
from speechbrain.utils.data_utils import batch_pad_right

from speechbrain_ext.dataio.word_tokens import (
    EOS,
    UNK,
    load_word_vocabulary,
    save_word_vocabulary,
)
from speechbrain_ext.lobes.models.a2w import (
    a2w_teacher_forced,
    decoder_states,
)
from speechbrain_ext.nnet.coattention import frame_counts, relative_lengths
from speechbrain_ext.nnet.RNN import PaddedBLSTM
from speechbrain_ext.nnet.structured_attention import (
    StructuredSelfAttentionPooling,
)

logger = logging.getLogger(__name__)


class BiLSTMStructuredAttention(torch.nn.Module):
    """BiLSTM, then structured self-attention: one vector per utterance.

    The branch encoder of Feng et al. (2020): a BiLSTM (2 layers of 256
    units per direction, dropout 0.2 after each layer) whose states ``H``
    are pooled by ``n_heads`` attention heads
    (:class:`StructuredSelfAttentionPooling`); the heads' vectors are
    concatenated (equation 4). Padding never reaches the real frames in
    the BiLSTM (:class:`PaddedBLSTM`) and gets no attention.

    Arguments
    ---------
    input_size : int
        Size of the input frames (40 filterbanks, a 300-d word embedding or
        the 320 decoder units of the A2W model).
    hidden_size : int
        LSTM units per direction.
    num_layers : int
        BiLSTM layers.
    dropout : float
        Dropout after each BiLSTM layer.
    n_heads : int
        Attention heads.
    attention_size : int
        Hidden size ``d_a`` of the attention (the paper's 512 "nodes").

    Example
    -------
    >>> enc = BiLSTMStructuredAttention(
    ...     20, hidden_size=8, n_heads=2, attention_size=6).eval()
    >>> vector, attn = enc(torch.rand(2, 30, 20), torch.tensor([1.0, 0.5]))
    >>> vector.shape, attn.shape, enc.output_size
    (torch.Size([2, 32]), torch.Size([2, 2, 30]), 32)
    """

    def __init__(
        self,
        input_size,
        hidden_size=256,
        num_layers=2,
        dropout=0.2,
        n_heads=8,
        attention_size=512,
    ):
        super().__init__()
        self.lstm = PaddedBLSTM(
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            output_dropout=True,
        )
        self.attention = StructuredSelfAttentionPooling(
            2 * hidden_size, attention_size, n_heads
        )
        self.output_size = self.attention.output_size

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
        vector : torch.Tensor
            [batch, n_heads * 2 * hidden_size].
        attn : torch.Tensor
            Attention weights [batch, n_heads, time].
        """
        n_frames = x.shape[1]
        lengths = relative_lengths(frame_counts(lengths, n_frames), n_frames)
        return self.attention(self.lstm(x, lengths), lengths)


def load_a2w_vocabulary(path, output_neurons=None):
    r"""Reads the pre-trained A2W model's ``vocabulary.txt``, with checks.

    The vocabulary (``speechbrain_ext.dataio.word_tokens``) holds
    ``<unk>``, the words and ``<eos>`` (used as both bos and eos), in the
    order of the output layer.

    Arguments
    ---------
    path : str
        The vocabulary file.
    output_neurons : int, optional
        Size of the model's output layer; a vocabulary of another size is an
        error that names the file.

    Returns
    -------
    speechbrain.dataio.encoder.TextEncoder
        The units.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_ext.dataio.word_tokens import word_vocabulary
    >>> path = os.path.join(tempfile.mkdtemp(), "vocabulary.txt")
    >>> save_word_vocabulary(word_vocabulary(["THE"], eos=True), path)
    >>> vocabulary = load_a2w_vocabulary(path, output_neurons=3)
    >>> vocabulary.decode_ndim(range(3))
    ['<unk>', 'THE', '<eos>']
    >>> load_a2w_vocabulary(path, output_neurons=5)
    Traceback (most recent call last):
    ...
    ValueError: ...vocabulary.txt lists 3 units but the yaml has ...
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} does not exist: point pretrained_path to the "
            "pretrained/ folder that the A2W pre-training exports."
        )
    vocabulary = load_word_vocabulary(path)
    eos = getattr(vocabulary, "eos_label", None)
    if eos != EOS or vocabulary.lab2ind[EOS] != len(vocabulary) - 1:
        raise ValueError(
            f"{path}: an A2W vocabulary starts with {UNK} and ends with {EOS}"
        )
    if output_neurons is not None and len(vocabulary) != output_neurons:
        raise ValueError(
            f"{path} lists {len(vocabulary)} units but the yaml has "
            f"output_neurons={output_neurons}: set output_neurons to the "
            "pre-training's vocabulary size."
        )
    return vocabulary


def pad_sequences(sequences, device=None, prefix=None, min_length=1):
    """Pads lists of ids into a tensor with relative lengths.

    Arguments
    ---------
    sequences : list of list of int
        Id sequences (possibly empty).
    device : torch.device, optional
        Where the tensors go.
    prefix : int, optional
        Id put in front of every sequence (bos).
    min_length : int
        Empty sequences are padded with zeros (``<unk>``) to this length,
        so that every utterance has a frame to encode.

    Returns
    -------
    ids : torch.LongTensor
        [batch, max_length].
    lengths : torch.Tensor
        Relative lengths.

    Example
    -------
    >>> ids, lens = pad_sequences([[5, 6], []], prefix=9)
    >>> ids.tolist(), lens.tolist()
    ([[9, 5, 6], [9, 0, 0]], [1.0, 0.3333333432674408])
    """
    if prefix is not None:
        sequences = [[prefix] + list(seq) for seq in sequences]
    sequences = [list(seq) or [0] * min_length for seq in sequences]
    ids, lengths = batch_pad_right(
        [torch.tensor(seq, dtype=torch.long) for seq in sequences]
    )
    return ids.to(device), lengths.to(device)


def a2w_asr_features(
    modules,
    feats,
    lengths,
    tokens_bos=None,
    token_lens=None,
    searcher=None,
    **kw,
):
    """The A2W side of the ASR-SER model: L_ASR inputs and ASR features.

    The teacher-forced pass on the transcript gives the word
    log-probabilities of ``L_ASR`` and, in training, the decoder states
    that the text branch reads. With a ``searcher`` (validation, test) the
    model also decodes; with ``states_from="hyp"`` the text branch then
    reads the decoder states of a second teacher-forced pass on the
    model's own hypothesis, as it must without a transcript (without
    ``tokens_bos``, e.g. at inference, this is the only pass).

    Arguments
    ---------
    modules : dict-like
        ``normalize`` (applied here), ``enc``, ``emb``, ``dec``,
        ``seq_lin``.
    feats : torch.Tensor
        Filterbanks [batch, time, n_mels] (not normalised).
    lengths : torch.Tensor
        Relative lengths.
    tokens_bos : torch.LongTensor, optional
        bos then the transcript's word ids [batch, steps]; without it there
        is no ``p_seq`` and a ``searcher`` is needed.
    token_lens : torch.Tensor, optional
        Their relative lengths.
    searcher : callable, optional
        SpeechBrain searcher ``(enc_states, lengths) -> (hyps, ...)``.
    **kw
        ``states_from`` (``"hyp"`` or ``"wrd"``), ``bos_index`` (needed
        for ``"hyp"``) and ``vocabulary`` (a ``TextEncoder``: the hypotheses
        are also returned as words).

    Returns
    -------
    dict
        ``p_seq`` (log-probabilities, given ``tokens_bos``), ``states``
        and ``state_lens`` (the text branch's input) and, with a searcher,
        ``hyp_ids`` (and ``hyps``, lists of words, with a ``vocabulary``).

    Example
    -------
    >>> from speechbrain.decoders import S2SRNNGreedySearcher
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.nnet.RNN import AttentionalRNNDecoder
    >>> from speechbrain.processing.features import InputNormalization
    >>> from speechbrain_ext.lobes.models.a2w import (
    ...     A2WEncoder, TanhOutputLayer)
    >>> mods = {
    ...     "normalize": InputNormalization(norm_type="global"),
    ...     "enc": A2WEncoder(8, hidden_size=4, num_layers=1),
    ...     "emb": Embedding(num_embeddings=5, embedding_dim=3),
    ...     "dec": AttentionalRNNDecoder(
    ...         "lstm", "location", 6, 6, 1, enc_dim=8, input_size=3,
    ...         channels=2, kernel_size=3),
    ...     "seq_lin": TanhOutputLayer(6, 6, 5)}
    >>> search = S2SRNNGreedySearcher(
    ...     mods["emb"], mods["dec"], mods["seq_lin"], bos_index=4,
    ...     eos_index=4, min_decode_ratio=0.0, max_decode_ratio=1.0)
    >>> tokens, lens = pad_sequences([[1, 2], [3]], prefix=4)
    >>> out = a2w_asr_features(
    ...     mods, torch.rand(2, 30, 8), torch.ones(2), tokens, lens,
    ...     search, states_from="hyp", bos_index=4)
    >>> out["p_seq"].shape, out["states"].shape[-1], len(out["hyp_ids"])
    (torch.Size([2, 3, 5]), 6, 2)
    """
    states_from = kw.get("states_from", "hyp")
    if tokens_bos is None and (searcher is None or states_from != "hyp"):
        raise ValueError(
            "Without a transcript (tokens_bos) the ASR features come from "
            "the model's own hypothesis: give a searcher and "
            "states_from='hyp'."
        )
    feats = modules["normalize"](feats, lengths)
    if tokens_bos is None:
        out = {}
        enc = modules["enc"](feats, lengths)
    else:
        enc, states, p_seq = a2w_teacher_forced(
            modules, feats, lengths, tokens_bos
        )
        out = {"p_seq": p_seq, "states": states, "state_lens": token_lens}
    if searcher is not None:
        out["hyp_ids"] = searcher(enc, lengths)[0]
        if kw.get("vocabulary") is not None:
            decode = kw["vocabulary"].decode_ndim
            out["hyps"] = [decode(hyp) for hyp in out["hyp_ids"]]
        if states_from == "hyp":
            tokens, out["state_lens"] = pad_sequences(
                out["hyp_ids"], feats.device, prefix=kw["bos_index"]
            )
            out["states"], _ = decoder_states(modules, enc, lengths, tokens)
    return out


def transcribe(asr_model, searcher, feats, lengths, vocabulary):
    """Transcripts of the A2W model (no gradients).

    Arguments
    ---------
    asr_model : dict-like
        ``normalize``, ``enc`` and the modules of ``searcher`` (in
        evaluation mode: the normalisation would update its statistics).
    searcher : callable
        SpeechBrain searcher ``(enc_states, lengths) -> (hyps, ...)``.
    feats : torch.Tensor
        Filterbanks [batch, time, n_mels] (not normalised).
    lengths : torch.Tensor
        Relative lengths.
    vocabulary : speechbrain.dataio.encoder.TextEncoder
        The model's word units.

    Returns
    -------
    list of str
        One transcript per utterance.

    Example
    -------
    >>> from speechbrain.decoders import S2SRNNGreedySearcher
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.nnet.RNN import AttentionalRNNDecoder
    >>> from speechbrain.processing.features import InputNormalization
    >>> from speechbrain_ext.lobes.models.a2w import (
    ...     A2WEncoder, TanhOutputLayer)
    >>> asr = torch.nn.ModuleDict({
    ...     "normalize": InputNormalization(norm_type="global"),
    ...     "enc": A2WEncoder(8, hidden_size=4, num_layers=1),
    ...     "emb": Embedding(num_embeddings=4, embedding_dim=3),
    ...     "dec": AttentionalRNNDecoder(
    ...         "lstm", "location", 6, 6, 1, enc_dim=8, input_size=3,
    ...         channels=2, kernel_size=3),
    ...     "seq_lin": TanhOutputLayer(6, 6, 4)})
    >>> _ = asr["normalize"](torch.rand(2, 30, 8), torch.ones(2))  # stats
    >>> search = S2SRNNGreedySearcher(
    ...     asr["emb"], asr["dec"], asr["seq_lin"], bos_index=3,
    ...     eos_index=3, min_decode_ratio=0.0, max_decode_ratio=0.2)
    >>> from speechbrain_ext.dataio.word_tokens import word_vocabulary
    >>> texts = transcribe(asr.eval(), search, torch.rand(2, 30, 8),
    ...                    torch.ones(2), word_vocabulary("AB", eos=True))
    >>> len(texts), all(len(t.split()) <= 2 for t in texts)
    (2, True)
    """
    with torch.no_grad():
        norm = asr_model["normalize"](feats, lengths)
        enc = asr_model["enc"](norm, lengths)
        hyps = searcher(enc, lengths)[0]
    return [" ".join(vocabulary.decode_ndim(hyp)) for hyp in hyps]


class A2WTranscriber:
    """Transcripts of a frozen A2W model, decoded once per utterance.

    The pipeline baselines of Feng et al. (2020) read the transcripts of
    the pre-trained A2W model. In evaluation they are decoded the first
    time an utterance is seen under a condition, and cached; without
    utterance ids (training batches, whose audio the augmentation changes)
    they are decoded every time.

    Arguments
    ---------
    asr_model : torch.nn.ModuleDict
        ``normalize``, ``enc`` and the modules of ``searcher`` (kept in
        evaluation mode, without gradients).
    searcher : callable
        SpeechBrain searcher ``(enc_states, lengths) -> (hyps, ...)``.
    vocabulary : speechbrain.dataio.encoder.TextEncoder
        The model's word units.

    Example
    -------
    >>> from speechbrain.decoders import S2SRNNGreedySearcher
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.nnet.RNN import AttentionalRNNDecoder
    >>> from speechbrain.processing.features import InputNormalization
    >>> from speechbrain_ext.lobes.models.a2w import (
    ...     A2WEncoder, TanhOutputLayer)
    >>> asr = torch.nn.ModuleDict({
    ...     "normalize": InputNormalization(norm_type="global"),
    ...     "enc": A2WEncoder(8, hidden_size=4, num_layers=1),
    ...     "emb": Embedding(num_embeddings=4, embedding_dim=3),
    ...     "dec": AttentionalRNNDecoder(
    ...         "lstm", "location", 6, 6, 1, enc_dim=8, input_size=3,
    ...         channels=2, kernel_size=3),
    ...     "seq_lin": TanhOutputLayer(6, 6, 4)})
    >>> _ = asr["normalize"](torch.rand(2, 30, 8), torch.ones(2))  # stats
    >>> search = S2SRNNGreedySearcher(
    ...     asr["emb"], asr["dec"], asr["seq_lin"], bos_index=3,
    ...     eos_index=3, min_decode_ratio=0.0, max_decode_ratio=1.0)
    >>> from speechbrain_ext.dataio.word_tokens import word_vocabulary
    >>> vocabulary = word_vocabulary(["A", "B"], eos=True)
    >>> transcribe = A2WTranscriber(asr, search, vocabulary)
    >>> feats = torch.rand(2, 30, 8)
    >>> texts = transcribe(feats, torch.ones(2), ["u1", "u2"])
    >>> transcribe(feats[1:], torch.ones(1), ["u2"]) == texts[1:]
    True
    >>> sorted(transcribe.cache)
    [('clean', 'u1'), ('clean', 'u2')]
    """

    def __init__(self, asr_model, searcher, vocabulary):
        self.asr_model = asr_model
        self.searcher = searcher
        self.vocabulary = vocabulary
        self.cache = {}

    def __call__(self, feats, lengths, ids=None, condition="clean"):
        """Transcripts of a batch.

        Arguments
        ---------
        feats : torch.Tensor
            Filterbanks [batch, time, n_mels] (not normalised).
        lengths : torch.Tensor
            Relative lengths.
        ids : list of str, optional
            Utterance ids (``None``: decode without caching).
        condition : str
            Name of the test condition (noise changes the transcript).

        Returns
        -------
        list of str
            One transcript per utterance.
        """
        self.asr_model.eval()
        args = self.asr_model, self.searcher
        if ids is None:
            return transcribe(*args, feats, lengths, self.vocabulary)
        keys = [(condition, uid) for uid in ids]
        todo = [i for i, key in enumerate(keys) if key not in self.cache]
        if todo:
            texts = transcribe(
                *args, feats[todo], lengths[todo], self.vocabulary
            )
            self.cache.update((keys[i], t) for i, t in zip(todo, texts))
        return [self.cache[key] for key in keys]


def a2w_ser_forward(
    modules,
    hparams,
    wavs,
    wav_lens,
    stage=sb.Stage.TEST,
    vocabulary=None,
    text_vocab=None,
    tokens=None,
    texts=None,
    transcriber=None,
):
    """The forward pass of the ASR-SER model or of a baseline of Table 1.

    The branches are those ``modules`` hold, concatenated before
    ``emo_classifier``: the acoustic branch ``audio_branch`` (filterbanks
    normalised by ``ser_normalize``, cut or padded by
    ``hparams.fixed_length``), and the text branch ``text_branch``, which
    reads the A2W decoder's states (the ASR-SER model, with ``dec``; see
    :func:`a2w_asr_features`) or embedded words (``word_emb``: the
    baselines, on the given ``texts`` or on the transcripts of the frozen
    A2W model ``asr_model``). Outside training the ASR-SER model decodes
    with ``hparams.valid_search`` (validation) or ``hparams.test_search``
    (test and inference).

    Arguments
    ---------
    modules : dict-like
        The yaml's ``modules``.
    hparams : object
        Attribute access to ``compute_features`` and, for the branches
        that need them, ``fixed_length``, ``valid_search``,
        ``test_search``, ``ser_decoder_input`` and ``bos_index``.
    wavs : torch.Tensor
        Waveforms [batch, time].
    wav_lens : torch.Tensor
        Relative lengths.
    stage : speechbrain.Stage
        No decoding in training.
    vocabulary : speechbrain.dataio.encoder.TextEncoder, optional
        The A2W model's word units (``<save_folder>/vocabulary.txt``, the
        copy of the pre-trained model's that the recipe saves): needed to
        turn hypotheses into words.
    text_vocab : speechbrain.dataio.encoder.TextEncoder, optional
        The words of the baselines' word embedding
        (``<save_folder>/text_vocabulary.txt``, which the recipe saves).
    tokens : tuple, optional
        ``(tokens_bos, lengths)`` of the transcript: the teacher-forced
        pass of ``L_ASR`` (and of ``ser_decoder_input: wrd``).
    texts : list of str, optional
        What the word embedding reads (e.g. the true transcripts).
    transcriber : callable, optional
        ``(feats, lengths) -> transcripts`` of the A2W model (e.g. a
        cached :class:`A2WTranscriber`); by default :func:`transcribe`
        with ``asr_model`` and ``hparams.test_search``.

    Returns
    -------
    dict
        ``p_emo`` (log-probabilities [batch, classes]), ``attentions``
        (one [batch, heads, time] tensor per branch), ``hyps`` (lists of
        words) where the model decodes, ``p_seq`` given ``tokens``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.lobes.features import Fbank
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.processing.features import InputNormalization
    >>> from speechbrain_ext.dataio.word_tokens import word_vocabulary
    >>> from speechbrain_ext.nnet.windows import FixedLengthFrames
    >>> hparams = SimpleNamespace(
    ...     compute_features=Fbank(n_mels=8),
    ...     fixed_length=FixedLengthFrames(max_duration=0.5))
    >>> modules = {
    ...     "ser_normalize": InputNormalization(),
    ...     "audio_branch": BiLSTMStructuredAttention(
    ...         8, hidden_size=4, n_heads=2, attention_size=6),
    ...     "word_emb": Embedding(num_embeddings=3, embedding_dim=5),
    ...     "text_branch": BiLSTMStructuredAttention(
    ...         5, hidden_size=4, n_heads=2, attention_size=6),
    ...     "emo_classifier": torch.nn.Linear(32, 4)}
    >>> out = a2w_ser_forward(
    ...     modules, hparams, torch.rand(2, 8000), torch.ones(2),
    ...     text_vocab=word_vocabulary(["HI", "THERE"]),
    ...     texts=["HI THERE", "HI"])
    >>> out["p_emo"].shape, len(out["attentions"]), "hyps" in out
    (torch.Size([2, 4]), 2, False)
    """
    feats = hparams.compute_features(wavs)
    out, branches = {}, []  # (vector, attention) of each branch
    if "audio_branch" in modules:
        frames = modules["ser_normalize"](feats, wav_lens)
        frames, lens = hparams.fixed_length(frames, wav_lens)
        branches.append(modules["audio_branch"](frames, lens))
    if "dec" in modules:  # the A2W decoder's states
        searcher = {
            sb.Stage.VALID: getattr(hparams, "valid_search", None),
            sb.Stage.TEST: getattr(hparams, "test_search", None),
        }.get(stage)
        asr = a2w_asr_features(
            modules, feats, wav_lens, *(tokens or (None, None)), searcher,
            states_from=hparams.ser_decoder_input,
            bos_index=hparams.bos_index, vocabulary=vocabulary,
        )  # fmt: skip
        out.update((k, asr[k]) for k in ("p_seq", "hyps") if k in asr)
        states = asr["states"], asr["state_lens"]
        branches.append(modules["text_branch"](*states))
    elif "text_branch" in modules:  # embedded words
        if texts is None:
            if transcriber is None:
                asr_model, searcher = modules["asr_model"], hparams.test_search
                texts = transcribe(
                    asr_model, searcher, feats, wav_lens, vocabulary
                )
            else:
                texts = transcriber(feats, wav_lens)
            out["hyps"] = [text.split() for text in texts]
        ids = [text_vocab.encode_sequence(text.split()) for text in texts]
        ids, lens = pad_sequences(ids, feats.device)
        words = modules["word_emb"](ids)
        branches.append(modules["text_branch"](words, lens))
    out["attentions"] = [attn for _, attn in branches]
    logits = modules["emo_classifier"](torch.cat([v for v, _ in branches], -1))
    out["p_emo"] = torch.log_softmax(logits, dim=-1)
    return out


def load_a2w(pretrainer, vocabulary_path, output_neurons, save_path=None):
    r"""Loads the pre-trained A2W model and returns its vocabulary.

    Arguments
    ---------
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer
        With ``loadables`` and ``paths`` (local files).
    vocabulary_path : str
        ``vocabulary.txt`` of the pre-trained model.
    output_neurons : int
        Size of the output layer (checked against the vocabulary).
    save_path : str, optional
        Where a copy of the vocabulary is written (the recipe's
        ``<save_folder>/vocabulary.txt``, read back for inference).

    Returns
    -------
    speechbrain.dataio.encoder.TextEncoder
        The word units.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.utils.parameter_transfer import Pretrainer
    >>> from speechbrain_ext.dataio.word_tokens import word_vocabulary
    >>> folder = tempfile.mkdtemp()
    >>> torch.save(torch.nn.Linear(2, 3).state_dict(),
    ...            os.path.join(folder, "seq_lin.ckpt"))
    >>> save_word_vocabulary(word_vocabulary(["A"], eos=True),
    ...                      os.path.join(folder, "vocabulary.txt"))
    >>> seq_lin = torch.nn.Linear(2, 3)
    >>> pretrainer = Pretrainer(
    ...     loadables={"seq_lin": seq_lin},
    ...     paths={"seq_lin": os.path.join(folder, "seq_lin.ckpt")})
    >>> vocabulary = load_a2w(
    ...     pretrainer, os.path.join(folder, "vocabulary.txt"), 3)
    >>> vocabulary.decode_ndim(range(3))
    ['<unk>', 'A', '<eos>']
    """
    vocabulary = load_a2w_vocabulary(vocabulary_path, output_neurons)
    load_pretrained(pretrainer)
    if save_path is not None:
        save_word_vocabulary(vocabulary, save_path)
    return vocabulary


def load_pretrained(pretrainer):
    """Collects and loads a ``Pretrainer``'s files; names a missing one.

    Arguments
    ---------
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer
        With ``loadables`` and ``paths``.

    Returns
    -------
    dict
        ``{name: local path}`` of the loaded files.

    Example
    -------
    >>> from speechbrain.utils.parameter_transfer import Pretrainer
    >>> load_pretrained(Pretrainer(
    ...     loadables={"enc": torch.nn.Linear(2, 2)},
    ...     paths={"enc": "/no/such/folder/enc.ckpt"}))
    Traceback (most recent call last):
    ...
    FileNotFoundError: The pre-trained checkpoint /no/such/folder/enc.ckpt ...
    """
    for name, path in pretrainer.paths.items():
        if not os.path.isfile(str(path)):
            raise FileNotFoundError(
                f"The pre-trained checkpoint {path} ({name}) does not exist: "
                "run the A2W pre-training first and point pretrained_path "
                "to its pretrained/ folder."
            )
    paths = pretrainer.collect_files()
    pretrainer.load_collected()
    return paths


def words_per_second(manifest, key="wrd"):
    """The speaking rate of each utterance of a JSON manifest.

    Arguments
    ---------
    manifest : str
        JSON manifest whose entries have ``duration`` (seconds) and ``key``.
    key : str
        The transcript's key.

    Returns
    -------
    dict
        Utterance id -> words per second.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"a": {"duration": "2.0", "wrd": "HI THERE"},
    ...                "b": {"duration": 0.5, "wrd": "NO"}}, f)
    >>> words_per_second(path)
    {'a': 1.0, 'b': 2.0}
    """
    with open(manifest, encoding="utf-8") as f:
        entries = json.load(f)
    rates = {}
    for uid, entry in entries.items():
        duration = float(entry["duration"])
        if duration <= 0:
            raise ValueError(f"{manifest}: utterance {uid} lasts {duration} s")
        rates[uid] = len(entry[key].split()) / duration
    return rates


def check_decoding_bound(manifest, max_words_per_second):
    """Warns when training transcripts are faster than the decoding bound.

    The yamls bound the words the decoder may emit at
    ``max_words_per_second`` times the audio's duration (SpeechBrain's
    ``max_decode_ratio``, per encoder frame): a hypothesis of a faster
    utterance would be cut.

    Arguments
    ---------
    manifest : str
        The training manifest.
    max_words_per_second : float
        The yaml's bound.

    Returns
    -------
    float
        The fastest training utterance's words per second.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"a": {"duration": 2.0, "wrd": "HI THERE"}}, f)
    >>> check_decoding_bound(path, 5.0)
    1.0
    """
    rates = words_per_second(manifest)
    fastest = max(rates, key=rates.get)
    if rates[fastest] > max_words_per_second:
        logger.warning(
            "%s: utterance %s has %.2f words per second, more than "
            "max_words_per_second=%s: its hypothesis would be cut; raise "
            "max_words_per_second to a little above the training set's "
            "maximum.",
            manifest,
            fastest,
            rates[fastest],
            max_words_per_second,
        )
    return rates[fastest]
