"""The CTC head of a pretrained ASR model (wav2vec2), with its vocabulary.

``facebook/wav2vec2-base-960h`` is an ASR model: transformers'
``Wav2Vec2ForCTC`` is the encoder, a dropout and ``lm_head`` (a linear
layer onto 32 characters), and the vocabulary of that layer is the one of
the tokenizer files next to the weights (``vocab.json``; the CTC blank is
the pad token, ``|`` separates words). SpeechBrain's ``Wav2Vec2`` loads the
encoder alone; :class:`PretrainedCTCHead` loads the rest from the same
folder or hub name, so that the released model transcribes as it was
trained to (Li, Bell and Lai, 2022, Tables 1-2) or its head is fine-tuned.
:func:`ctc_head` builds either that head or a new character layer, as a
yaml key chooses.

Decoding goes through the same greedy CTC decoding as the new layer
(:func:`speechbrain_ext.lobes.models.joint_asr_ser.ctc_greedy_transcripts`),
which hands a transformers tokenizer the collapsed token ids.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import os

import torch
from speechbrain.nnet.linear import Linear

CTC_HEADS = ("new", "pretrained")
"""The kinds of CTC head :func:`ctc_head` builds."""


class PretrainedCTCHead(torch.nn.Module):
    """The released CTC head of a transformers CTC model and its tokenizer.

    Loads ``AutoModelForCTC`` from ``source`` and keeps its output layer
    (``lm_head``) and, when the model has one, the final layer norm of its
    encoder (``do_stable_layer_norm`` models such as wav2vec2-large-lv60):
    SpeechBrain's ``Wav2Vec2(output_all_hiddens=True)`` stacks the hidden
    states that transformers returns, whose last entry is the last layer's
    output *before* that norm. With ``reads_hidden_states=True`` the head
    applies it, so that its logits on that entry equal those of the
    released model; wav2vec2-base has no such norm. The vocabulary is the
    ``Wav2Vec2CTCTokenizer`` of the same folder.

    Arguments
    ---------
    source : str
        A folder or a hub name holding the weights of a CTC model
        (``Wav2Vec2ForCTC``, ``HubertForCTC``...) and its tokenizer files
        (``vocab.json``, ``tokenizer_config.json``).
    save_path : str, optional
        Cache folder of a hub download (SpeechBrain's ``Wav2Vec2`` takes
        the same ``save_path``, so both read one download).
    reads_hidden_states : bool
        True: the input is the last of the stacked hidden states
        (``output_all_hiddens=True``); False: the input is the model's
        output (``last_hidden_state``), already normalised.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_ext.synthetic.offline_models import (
    ...     build_wav2vec2_ctc)
    >>> head = PretrainedCTCHead(build_wav2vec2_ctc(tempfile.mkdtemp()))
    >>> head.in_features, head.out_features, head.blank_index
    (96, 32, 0)
    >>> head.labels[:6]
    ['<pad>', '<s>', '</s>', '<unk>', '|', 'E']
    >>> head(torch.rand(2, 7, 96)).shape
    torch.Size([2, 7, 32])
    """

    def __init__(self, source, save_path=None, reads_hidden_states=True):
        super().__init__()
        from transformers import AutoModelForCTC, Wav2Vec2CTCTokenizer

        source = os.fspath(source)
        if os.path.isdir(source) and not os.path.isfile(
            os.path.join(source, "vocab.json")
        ):
            raise FileNotFoundError(
                f"{source} has no vocab.json: the pretrained CTC head needs "
                "the tokenizer files of its model (Wav2Vec2CTCTokenizer "
                "save_pretrained), or use ctc_head: new"
            )
        model, info = AutoModelForCTC.from_pretrained(
            source, cache_dir=save_path, output_loading_info=True
        )
        missing = sorted(
            key for key in info["missing_keys"] if key.startswith("lm_head.")
        )
        if missing:
            raise ValueError(
                f"{source} holds no CTC head ({', '.join(missing)} missing "
                "from its weights): it is not a fine-tuned CTC model; use "
                "ctc_head: new"
            )
        tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(
            source, cache_dir=save_path
        )
        self.lm_head = model.lm_head
        if len(tokenizer) != self.lm_head.out_features:
            raise ValueError(
                f"{source}: the CTC head has {self.lm_head.out_features} "
                f"outputs but its tokenizer has {len(tokenizer)} tokens; "
                "the vocabulary does not belong to these weights"
            )
        config = model.config
        self.final_norm = torch.nn.Identity()
        if reads_hidden_states and getattr(
            config, "do_stable_layer_norm", False
        ):
            self.final_norm = model.base_model.encoder.layer_norm
        self.dropout = torch.nn.Dropout(config.final_dropout)
        self.tokenizer = tokenizer
        self.source = source
        self.blank_index = tokenizer.pad_token_id
        self.labels = tokenizer.convert_ids_to_tokens(
            list(range(len(tokenizer)))
        )
        self.in_features = self.lm_head.in_features
        self.out_features = self.lm_head.out_features

    def forward(self, x):
        """CTC logits (last dimension out_features) of encoder states."""
        return self.lm_head(self.dropout(self.final_norm(x)))


def ctc_head(
    kind, input_size, n_neurons, source=None, save_path=None, blank_index=0
):
    """The CTC layer of a recipe: a new one, or the pretrained model's.

    Arguments
    ---------
    kind : str
        ``new``: a linear layer of ``n_neurons`` outputs trained from
        scratch (its alphabet comes from the training transcripts);
        ``pretrained``: :class:`PretrainedCTCHead` of ``source``, whose
        vocabulary defines the CTC targets and the decoding.
    input_size : int
        Size of the encoder states (checked against the pretrained head).
    n_neurons : int
        Outputs of a new layer (unused by the pretrained head).
    source : str, optional
        Folder or hub name of the pretrained CTC model.
    save_path : str, optional
        Cache folder of a hub download.
    blank_index : int
        Index of the CTC blank that the loss and the decoding use; the
        pretrained head's blank (its pad token) must have this index.

    Returns
    -------
    torch.nn.Module
        ``speechbrain.nnet.linear.Linear`` or :class:`PretrainedCTCHead`.

    Example
    -------
    >>> ctc_head("new", input_size=8, n_neurons=5)(torch.rand(2, 3, 8)).shape
    torch.Size([2, 3, 5])
    >>> ctc_head("old", 8, 5)
    Traceback (most recent call last):
    ...
    ValueError: ctc_head must be new or pretrained, not 'old'
    """
    if kind not in CTC_HEADS:
        raise ValueError(
            f"ctc_head must be {' or '.join(CTC_HEADS)}, not {kind!r}"
        )
    if kind == "new":
        return Linear(input_size=input_size, n_neurons=n_neurons)
    if source is None:
        raise ValueError("ctc_head: pretrained needs the model's source")
    head = PretrainedCTCHead(source, save_path=save_path)
    if head.in_features != input_size:
        raise ValueError(
            f"{source}: its CTC head reads {head.in_features} features but "
            f"the encoder gives {input_size} (encoder_dim)"
        )
    if head.blank_index != blank_index:
        raise ValueError(
            f"{source}: the CTC blank is the pad token "
            f"{head.tokenizer.pad_token!r} at index {head.blank_index}, "
            f"but blank_index is {blank_index}: set "
            f"blank_index: {head.blank_index}"
        )
    return head
