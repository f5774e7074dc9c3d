"""Attention acoustic-to-word (A2W) ASR of Feng et al. (2020).

The encoder stacks 3 filterbank frames without overlap and runs 5 BLSTM
layers of 320 cells; the decoder (:func:`a2w_decoder`) has a location-aware
attention and 1 LSTM layer of 320 cells, followed by a tanh hidden layer and
the word output layer (:class:`TanhOutputLayer`). Its ``ordering`` is the
paper's (``"paper"``: the attention reads the previous state ``s_{l-1}``,
equations 6-11; ``AttendFirstRNNDecoder``) or SpeechBrain's
(``"speechbrain"``: ``AttentionalRNNDecoder``, whose attention reads the new
state). The pre-training recipe (``recipes/LibriSpeech/ASR/A2W``) runs
:func:`a2w_forward` (features, encoder, teacher-forced decoder, and the
word hypotheses of greedy or beam search); the joint ASR-SER recipe runs
the teacher-forced pass :func:`a2w_teacher_forced`. Both decode with
:func:`decoder_states`, whose decoder states are the "ASR features" that
feed the emotion branch.

The pre-trained parts are exported as plain state dicts
(:func:`export_pretrained`) that SpeechBrain's ``Pretrainer`` loads;
:func:`checked_parameter_transfer` is the loading hook that names the
checkpoint file, the parameter and both shapes on a mismatch (and a
decoder of the other ordering).

Reference: H. Feng, S. Ueno, T. Kawahara, "End-to-End Speech Emotion
Recognition Combined with Acoustic-to-Word ASR Model", Interspeech 2020.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import os

import speechbrain as sb
import torch
from speechbrain.nnet.RNN import AttentionalRNNDecoder

from speechbrain_ext.dataio.word_tokens import save_word_vocabulary
from speechbrain_ext.nnet.RNN import AttendFirstRNNDecoder, PaddedBLSTM

# Names (yaml keys and checkpoint files) of the pre-trained parts
PRETRAINED_MODULES = ("normalize", "enc", "emb", "dec", "seq_lin")
VOCABULARY_FILE = "vocabulary.txt"
# decoder_ordering values: the decoder class of each
DECODER_ORDERINGS = {
    "paper": AttendFirstRNNDecoder,
    "speechbrain": AttentionalRNNDecoder,
}
# the buffer that marks a decoder (and its checkpoint) of the paper ordering
ORDERING_MARKER = "attend_first"
_PARALLEL = (
    torch.nn.DataParallel,
    torch.nn.parallel.DistributedDataParallel,
)


class StackFrames(torch.nn.Module):
    """Stacks ``n_stack`` consecutive frames without overlap.

    ``(batch, time, feats) -> (batch, time // n_stack, feats * n_stack)``;
    the last ``time % n_stack`` frames are dropped. Relative lengths stay
    valid (up to the dropped remainder, less than one output frame).

    Arguments
    ---------
    n_stack : int
        Number of frames stacked into one.

    Example
    -------
    >>> stack = StackFrames(3)
    >>> x = torch.arange(14.0).view(1, 7, 2)
    >>> stack(x).shape
    torch.Size([1, 2, 6])
    >>> stack(x)[0, 1].tolist()
    [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    """

    def __init__(self, n_stack=3):
        super().__init__()
        if int(n_stack) != n_stack or n_stack < 1:
            raise ValueError(f"n_stack must be a positive integer: {n_stack}")
        self.n_stack = int(n_stack)

    def forward(self, x):
        """Stacks the frames of ``x`` (batch, time, feats)."""
        batch, time, feats = x.shape
        n_out = time // self.n_stack
        if n_out == 0:
            raise ValueError(
                f"cannot stack {self.n_stack} frames of an input of {time} "
                "frames: the utterances are too short"
            )
        x = x[:, : n_out * self.n_stack]
        return x.reshape(batch, n_out, feats * self.n_stack)


class A2WEncoder(torch.nn.Module):
    """Frame stacking followed by a stack of BLSTM layers.

    Arguments
    ---------
    input_size : int
        Feature dimension of one frame (40 log-mel filterbanks).
    hidden_size : int
        Cells of each LSTM direction (paper: 320).
    num_layers : int
        BLSTM layers (paper: 5).
    dropout : float
        Dropout between the BLSTM layers.
    n_stack : int
        Frames stacked without overlap before the BLSTM (paper: 3).

    Example
    -------
    >>> enc = A2WEncoder(input_size=40, hidden_size=8, num_layers=2)
    >>> feats = torch.rand(2, 31, 40)
    >>> enc(feats, torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 10, 16])

    Padding does not change the encoding of the shorter utterance:

    >>> _ = enc.eval()
    >>> alone = enc(feats[1:, :18], torch.ones(1))
    >>> batch = enc(feats, torch.tensor([1.0, 18 / 31]))
    >>> torch.allclose(alone[0], batch[1, :6], atol=1e-6)
    True
    """

    def __init__(
        self, input_size, hidden_size=320, num_layers=5, dropout=0.0, n_stack=3
    ):
        super().__init__()
        self.stack = StackFrames(n_stack)
        self.output_size = 2 * hidden_size
        self.rnn = PaddedBLSTM(
            input_size=input_size * n_stack,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
        )

    def forward(self, feats, lengths=None):
        """Encodes normalised features.

        Arguments
        ---------
        feats : torch.Tensor
            Features (batch, time, input_size).
        lengths : torch.Tensor, optional
            Relative lengths; padding frames never reach real
            frames.

        Returns
        -------
        torch.Tensor
            Encoder states (batch, time // n_stack, 2 * hidden_size).
        """
        x = self.stack(feats)
        if lengths is not None:
            # whole stacked frames only, at least one per utterance
            frames = torch.round(lengths * feats.shape[1]) // self.stack.n_stack
            lengths = frames.clamp(min=1) / x.shape[1]
        return self.rnn(x, lengths)


class TanhOutputLayer(torch.nn.Module):
    """A tanh hidden layer followed by the (linear) word output layer.

    The output layer is the attribute ``w``, as in SpeechBrain's ``Linear``,
    so SpeechBrain's searchers read the vocabulary size from
    ``w.out_features`` and take this module as their ``linear``.

    Arguments
    ---------
    input_size : int
        Size of the decoder states.
    hidden_size : int
        Size of the tanh hidden layer.
    n_neurons : int
        Output units (the vocabulary size).

    Example
    -------
    >>> lin = TanhOutputLayer(input_size=8, hidden_size=6, n_neurons=11)
    >>> lin(torch.rand(2, 3, 8)).shape
    torch.Size([2, 3, 11])
    >>> lin.w.out_features
    11
    """

    def __init__(self, input_size, hidden_size, n_neurons):
        super().__init__()
        self.hidden = torch.nn.Linear(input_size, hidden_size)
        self.w = torch.nn.Linear(hidden_size, n_neurons)

    def forward(self, x):
        """Word logits: the last dimension becomes ``n_neurons``."""
        return self.w(torch.tanh(self.hidden(x)))


def a2w_decoder(ordering, **kwargs):
    """The A2W decoder of the given ordering.

    Arguments
    ---------
    ordering : str
        ``"paper"``: Feng et al.'s equations 6-11, the attention reads the
        previous state ``s_{l-1}``, the LSTM then reads the new context
        vector (``AttendFirstRNNDecoder``); ``"speechbrain"``: SpeechBrain's
        ``AttentionalRNNDecoder``, whose LSTM reads the previous context
        vector and whose attention reads the new state ``s_l``.
    **kwargs
        The arguments of ``AttentionalRNNDecoder`` (both classes take
        them and have the same parameters).

    Returns
    -------
    torch.nn.Module
        The decoder.

    Example
    -------
    >>> kwargs = dict(rnn_type="lstm", attn_type="location", hidden_size=8,
    ...               attn_dim=8, num_layers=1, enc_dim=10, input_size=4,
    ...               channels=2, kernel_size=3)
    >>> type(a2w_decoder("paper", **kwargs)).__name__
    'AttendFirstRNNDecoder'
    >>> type(a2w_decoder("speechbrain", **kwargs)).__name__
    'AttentionalRNNDecoder'
    >>> a2w_decoder("espnet", **kwargs)
    Traceback (most recent call last):
    ...
    ValueError: decoder_ordering must be one of ['paper', 'speechbrain'], \
not 'espnet'
    """
    if ordering not in DECODER_ORDERINGS:
        raise ValueError(
            f"decoder_ordering must be one of {sorted(DECODER_ORDERINGS)}, "
            f"not {ordering!r}"
        )
    return DECODER_ORDERINGS[ordering](**kwargs)


def decoder_states(modules, enc_states, enc_lens, tokens_bos):
    """Teacher-forced A2W decoder: ASR features and log-probabilities.

    ``emb -> dec -> seq_lin``: the decoder reads ``tokens_bos`` (bos then
    the words) while attending to the encoder states, and ``seq_lin`` (tanh
    hidden layer and output layer) maps its outputs to the word
    log-probabilities. The "ASR features" of Feng et al. (2020), which the
    SER branch reads, depend on the decoder's ordering:

    * paper (``AttendFirstRNNDecoder``): the hidden states ``s_l`` of the
      LSTM (equation 6), as in the paper;
    * speechbrain (``AttentionalRNNDecoder``): its outputs
      ``proj([c_l; s_l])``, a linear projection of the context vector
      (read with ``s_l``) and ``s_l``, the input of ``seq_lin``.

    Arguments
    ---------
    modules : dict-like
        ``emb``, ``dec`` and ``seq_lin``.
    enc_states : torch.Tensor
        Encoder states [batch, frames, enc_dim].
    enc_lens : torch.Tensor
        Relative lengths of the encoder states.
    tokens_bos : torch.LongTensor
        [batch, steps] word ids after bos.

    Returns
    -------
    states : torch.Tensor
        The ASR features [batch, steps, dec_dim].
    log_probs : torch.Tensor
        [batch, steps, vocabulary].

    Example
    -------
    >>> from speechbrain.nnet.embedding import Embedding
    >>> mods = {
    ...     "emb": Embedding(num_embeddings=6, embedding_dim=4),
    ...     "dec": a2w_decoder(
    ...         "paper", rnn_type="lstm", attn_type="location",
    ...         hidden_size=8, attn_dim=8, num_layers=1, enc_dim=10,
    ...         input_size=4, channels=2, kernel_size=3),
    ...     "seq_lin": torch.nn.Linear(8, 6)}
    >>> states, logp = decoder_states(
    ...     mods, torch.rand(2, 7, 10), torch.ones(2),
    ...     torch.tensor([[5, 1, 2], [5, 3, 0]]))
    >>> states.shape, logp.shape
    (torch.Size([2, 3, 8]), torch.Size([2, 3, 6]))
    """
    dec = modules["dec"]
    inp = modules["emb"](tokens_bos)
    if attends_first(dec):
        outputs, _, states = dec(inp, enc_states, enc_lens, return_states=True)
    else:
        outputs, _ = dec(inp, enc_states, enc_lens)
        states = outputs
    logits = modules["seq_lin"](outputs)
    return states, torch.log_softmax(logits, dim=-1)


def attends_first(decoder):
    """Whether ``decoder`` has the paper's ordering.

    Arguments
    ---------
    decoder : torch.nn.Module
        A decoder, possibly wrapped in (Distributed)DataParallel.

    Returns
    -------
    bool
        True for an ``AttendFirstRNNDecoder``.

    Example
    -------
    >>> attends_first(torch.nn.Linear(2, 2))
    False
    """
    if isinstance(decoder, _PARALLEL):
        decoder = decoder.module
    return isinstance(decoder, AttendFirstRNNDecoder)


def a2w_teacher_forced(modules, feats, lengths, tokens_bos):
    """The teacher-forced pass of the A2W model.

    Arguments
    ---------
    modules : dict-like
        ``enc``, ``emb``, ``dec`` and ``seq_lin`` (a ``Brain``'s modules).
    feats : torch.Tensor
        Normalised filterbanks (batch, time, 40).
    lengths : torch.Tensor
        Relative lengths.
    tokens_bos : torch.Tensor
        Word ids preceded by the bos id (batch, n_words + 1).

    Returns
    -------
    enc_states : torch.Tensor
        (batch, time // n_stack, 2 * encoder hidden size).
    dec_states : torch.Tensor
        The ASR features of the joint model (:func:`decoder_states`):
        (batch, n_words + 1, decoder hidden size).
    log_probs : torch.Tensor
        Word log-probabilities (batch, n_words + 1, vocabulary size).

    Example
    -------
    >>> from speechbrain.nnet.embedding import Embedding
    >>> modules = {
    ...     "enc": A2WEncoder(40, hidden_size=8, num_layers=1),
    ...     "emb": Embedding(num_embeddings=12, embedding_dim=6),
    ...     "dec": a2w_decoder(
    ...         "paper", rnn_type="lstm", attn_type="location", hidden_size=10,
    ...         attn_dim=10, num_layers=1, enc_dim=16, input_size=6,
    ...         channels=4, kernel_size=5),
    ...     "seq_lin": TanhOutputLayer(10, 10, 12),
    ... }
    >>> tokens_bos = torch.tensor([[11, 3, 4], [11, 5, 0]])
    >>> enc, dec, log_probs = a2w_teacher_forced(
    ...     modules, torch.rand(2, 30, 40), torch.tensor([1.0, 0.7]),
    ...     tokens_bos)
    >>> enc.shape, dec.shape, log_probs.shape
    (torch.Size([2, 10, 16]), torch.Size([2, 3, 10]), torch.Size([2, 3, 12]))
    >>> bool(torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 3)))
    True
    """
    enc_states = modules["enc"](feats, lengths)
    dec_states, log_probs = decoder_states(
        modules, enc_states, lengths, tokens_bos
    )
    return enc_states, dec_states, log_probs


def a2w_forward(
    modules,
    hparams,
    wavs,
    wav_lens,
    stage=sb.Stage.TEST,
    vocabulary=None,
    tokens_bos=None,
):
    """The A2W model's forward pass: word hypotheses outside training.

    Fbank (``hparams.compute_features``) -> ``normalize`` -> ``enc``; with
    ``tokens_bos`` (training-time teacher forcing, or the loss of a
    validation or test batch) the teacher-forced decoder pass
    (:func:`decoder_states`); outside training, greedy search
    (``hparams.valid_search``, validation) or beam search
    (``hparams.test_search``, test and inference) mapped to words.

    Arguments
    ---------
    modules : dict-like
        ``normalize``, ``enc``, ``emb``, ``dec`` and ``seq_lin``.
    hparams : attribute-accessible
        ``compute_features``, ``valid_search`` and ``test_search``.
    wavs : torch.Tensor
        Waveforms [batch, time].
    wav_lens : torch.Tensor
        Relative lengths.
    stage : speechbrain.Stage
        ``TRAIN`` decodes nothing.
    vocabulary : speechbrain.dataio.encoder.TextEncoder, optional
        The output units in the order of the output layer (needed outside
        training): ``vocabulary.txt`` that the recipe saves in its
        ``save_folder`` (and exports), read by
        ``speechbrain_ext.dataio.word_tokens.load_word_vocabulary``.
    tokens_bos : torch.LongTensor, optional
        [batch, steps] word ids after bos, for the teacher-forced pass.

    Returns
    -------
    dict
        ``enc_states`` (encoder states); ``log_probs`` (word
        log-probabilities [batch, steps, vocabulary]) with ``tokens_bos``;
        ``hyps`` (one list of words per utterance) outside training.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.decoders import S2SRNNGreedySearcher
    >>> from speechbrain.lobes.features import Fbank
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.processing.features import InputNormalization
    >>> from speechbrain_ext.dataio.word_tokens import word_vocabulary
    >>> modules = {
    ...     "normalize": InputNormalization(norm_type="global"),
    ...     "enc": A2WEncoder(40, hidden_size=8, num_layers=1),
    ...     "emb": Embedding(num_embeddings=4, embedding_dim=6),
    ...     "dec": a2w_decoder(
    ...         "paper", rnn_type="lstm", attn_type="location", hidden_size=10,
    ...         attn_dim=10, num_layers=1, enc_dim=16, input_size=6,
    ...         channels=4, kernel_size=5),
    ...     "seq_lin": TanhOutputLayer(10, 10, 4),
    ... }
    >>> search = S2SRNNGreedySearcher(
    ...     modules["emb"], modules["dec"], modules["seq_lin"], bos_index=3,
    ...     eos_index=3, min_decode_ratio=0.0, max_decode_ratio=1.0)
    >>> hparams = SimpleNamespace(
    ...     compute_features=Fbank(n_mels=40), valid_search=search,
    ...     test_search=search)
    >>> out = a2w_forward(
    ...     modules, hparams, torch.rand(2, 8000), torch.tensor([1.0, 0.5]),
    ...     vocabulary=word_vocabulary(["YES", "NO"], eos=True),
    ...     tokens_bos=torch.tensor([[3, 1], [3, 2]]))
    >>> sorted(out), out["log_probs"].shape
    (['enc_states', 'hyps', 'log_probs'], torch.Size([2, 2, 4]))
    >>> all(set(hyp) <= {"<unk>", "YES", "NO"} for hyp in out["hyps"])
    True
    """
    if stage != sb.Stage.TRAIN and vocabulary is None:
        raise ValueError(
            "a2w_forward needs the vocabulary (vocabulary.txt of the "
            "recipe's save_folder) to turn hypotheses into words."
        )
    feats = hparams.compute_features(wavs)
    feats = modules["normalize"](feats, wav_lens)
    enc_states = modules["enc"](feats, wav_lens)
    out = {"enc_states": enc_states}
    if tokens_bos is not None:
        _, out["log_probs"] = decoder_states(
            modules, enc_states, wav_lens, tokens_bos
        )
    if stage != sb.Stage.TRAIN:
        search = hparams.valid_search
        if stage == sb.Stage.TEST:
            search = hparams.test_search
        hyps, *_ = search(enc_states, wav_lens)
        out["hyps"] = [vocabulary.decode_ndim(hyp) for hyp in hyps]
    return out


def export_pretrained(modules, folder, vocabulary):
    """Writes the pre-trained parts and the vocabulary to ``folder``.

    ``<name>.ckpt`` for each of :data:`PRETRAINED_MODULES` (a plain state
    dict; the statistics of ``InputNormalization`` through its own
    ``_save``) and ``vocabulary.txt`` (the ``TextEncoder`` of the output
    units), the files that a ``Pretrainer`` with ``paths`` =
    ``<folder>/<name>.ckpt`` loads.

    Arguments
    ---------
    modules : dict-like
        At least the modules of :data:`PRETRAINED_MODULES`.
    folder : str
        Output folder (created).
    vocabulary : speechbrain.dataio.encoder.TextEncoder
        The output units, in the order of the output layer.

    Returns
    -------
    dict
        ``{name: path}`` of the written files (``vocabulary`` included).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.processing.features import InputNormalization
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain_ext.dataio.word_tokens import word_vocabulary
    >>> norm = InputNormalization(norm_type="global")
    >>> _ = norm(torch.rand(2, 5, 4), torch.ones(2))
    >>> modules = {"normalize": norm, "enc": torch.nn.Linear(2, 2),
    ...            "emb": Embedding(3, 2), "dec": torch.nn.Linear(2, 2),
    ...            "seq_lin": torch.nn.Linear(2, 3)}
    >>> paths = export_pretrained(modules, tempfile.mkdtemp(),
    ...                           word_vocabulary(["A"], eos=True))
    >>> sorted(os.path.basename(p) for p in paths.values())
    ['dec.ckpt', 'emb.ckpt', 'enc.ckpt', 'normalize.ckpt', 'seq_lin.ckpt', \
'vocabulary.txt']
    """
    missing = [name for name in PRETRAINED_MODULES if name not in modules]
    if missing:
        raise KeyError(f"cannot export the A2W model: no module {missing}")
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name in PRETRAINED_MODULES:
        path = os.path.join(folder, f"{name}.ckpt")
        module = modules[name]
        if isinstance(module, _PARALLEL):  # (Distributed)DataParallel
            module = module.module
        if hasattr(module, "_save"):  # InputNormalization statistics
            module._save(path)
        else:
            torch.save(module.state_dict(), path)
        paths[name] = path
    paths["vocabulary"] = os.path.join(folder, VOCABULARY_FILE)
    save_word_vocabulary(vocabulary, paths["vocabulary"])
    return paths


def checked_parameter_transfer(obj, path):
    """Loads a state dict into ``obj``, failing clearly on any mismatch.

    A loading hook for SpeechBrain's ``Pretrainer`` (``custom_hooks``): a
    parameter of another shape, a missing or an unexpected parameter is an
    error that names the checkpoint file (the real file behind the
    ``Pretrainer``'s link), the parameter and both shapes; a decoder of the
    other ``decoder_ordering`` (their parameters have the same shapes) is
    an error that names the file and both orderings.

    Arguments
    ---------
    obj : torch.nn.Module
        The module to load.
    path : str
        The checkpoint (a state dict saved by ``torch.save``).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "enc.ckpt")
    >>> torch.save(torch.nn.Linear(4, 3).state_dict(), path)
    >>> checked_parameter_transfer(torch.nn.Linear(4, 3), path)
    >>> checked_parameter_transfer(torch.nn.Linear(5, 3), path)
    Traceback (most recent call last):
    ...
    ValueError: .../enc.ckpt: parameter 'weight' has shape (3, 4) in the \
checkpoint but (3, 5) in the model...
    """
    real = os.path.realpath(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = obj.state_dict()
    if (ORDERING_MARKER in state) != (ORDERING_MARKER in own):
        saved, wanted = ("paper", "speechbrain")
        if ORDERING_MARKER in own:
            saved, wanted = wanted, saved
        raise ValueError(
            f"{real} holds a decoder of decoder_ordering {saved!r} but the "
            f"model's decoder has decoder_ordering {wanted!r} (set "
            "decoder_ordering to the pre-training's)"
        )
    for key, value in state.items():
        if key in own and tuple(own[key].shape) != tuple(value.shape):
            raise ValueError(
                f"{real}: parameter {key!r} has shape {tuple(value.shape)} "
                f"in the checkpoint but {tuple(own[key].shape)} in the model "
                "(the yaml dimensions differ from the pre-trained model's)"
            )
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"{real} does not match {type(obj).__name__}: parameters "
            f"missing from the checkpoint {missing}, unexpected "
            f"{unexpected}"
        )
    obj.load_state_dict(state)


def pretrained_hooks():
    """``Pretrainer`` custom hooks of the A2W modules with parameters.

    Returns
    -------
    dict
        ``{name: checked_parameter_transfer}`` for ``enc``, ``emb``, ``dec``
        and ``seq_lin`` (``normalize`` keeps its own loader).

    Example
    -------
    >>> sorted(pretrained_hooks())
    ['dec', 'emb', 'enc', 'seq_lin']
    """
    return {
        name: checked_parameter_transfer
        for name in PRETRAINED_MODULES
        if name != "normalize"
    }
