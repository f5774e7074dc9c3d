"""Utterance embeddings of (hypothesised) transcripts with a BERT encoder.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch

from speechbrain_ext.nnet.coattention import masked_mean


class PooledTextEncoder(torch.nn.Module):
    """Encodes a batch of strings into one vector each.

    Wraps SpeechBrain's HuggingFace ``TextEncoder`` (any BERT-like model) and
    pools its last hidden states over the real tokens (``mean``, the
    noise-free ``speechbrain_ext.nnet.coattention.masked_mean``) or takes
    the ``[CLS]`` token (``cls``). Texts are lower-cased when
    ``lowercase=True``, since ASR transcripts are upper-case and uncased BERT
    tokenizers expect lower case anyway.

    Arguments
    ---------
    bert : speechbrain.integrations.huggingface.textencoder.TextEncoder
        The wrapped BERT-like model; its ``freeze`` flag decides
        fine-tuning.
    pooling : str
        ``mean`` or ``cls``.
    lowercase : bool
        Lower-case texts before tokenisation.
    freeze_embeddings : bool
        Keep the token embedding table fixed while the transformer layers
        are fine-tuned. The table is most of a small BERT's parameters and
        its dense gradient most of the update cost.
    max_tokens : int, optional
        Texts are cut to this many tokens (special tokens included), so
        that a runaway hypothesis (an untrained or noise-struck CTC head
        emits a character almost every frame) neither costs more than a
        transcript nor overflows the model's position embeddings. ``None``:
        the model's own limit.

    Example
    -------
    >>> from speechbrain_ext.synthetic.offline_models import minilm_path
    >>> from speechbrain.integrations.huggingface.textencoder import (
    ...     TextEncoder)
    >>> import tempfile
    >>> bert = TextEncoder(minilm_path(), save_path=tempfile.mkdtemp())
    >>> enc = PooledTextEncoder(bert)
    >>> enc(["I LOVE THIS GARDEN", ""]).shape
    torch.Size([2, 384])
    >>> short = PooledTextEncoder(bert, max_tokens=4)
    >>> short.tokenize(["I LOVE THIS GARDEN", ""])["input_ids"].shape
    torch.Size([2, 4])
    >>> short(["I LOVE THIS GARDEN"]).shape
    torch.Size([1, 384])
    """

    def __init__(
        self,
        bert,
        pooling="mean",
        lowercase=True,
        freeze_embeddings=False,
        max_tokens=128,
    ):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling}")
        self.bert = bert
        self.pooling = pooling
        self.lowercase = lowercase
        if max_tokens is None:
            max_tokens = bert.model.config.max_position_embeddings
        self.max_tokens = max_tokens
        if freeze_embeddings:
            embeddings = bert.model.get_input_embeddings()
            for param in embeddings.parameters():
                param.requires_grad = False

    unused_submodules = ("pooler",)
    """The wrapped model's pooler: its output is never used here."""

    @property
    def pooler(self):
        """The pooler of the wrapped BERT-like model (``None`` if none)."""
        return getattr(self.bert.model, "pooler", None)

    @property
    def output_size(self):
        """Size of the returned embeddings."""
        return self.bert.model.config.hidden_size

    def tokenize(self, texts):
        """Padded, truncated token batch of a list of strings (on the host).

        Arguments
        ---------
        texts : list of str
            The texts to encode.

        Returns
        -------
        transformers.BatchEncoding
            ``input_ids``, ``attention_mask`` (and the model's other inputs).
        """
        if self.lowercase:
            texts = [t.lower() for t in texts]
        return self.bert.tokenizer(
            list(texts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
        )

    def hidden_states(self, tokens):
        """Last hidden states of a token batch, and its mask.

        Arguments
        ---------
        tokens : transformers.BatchEncoding
            A batch of :meth:`tokenize` (moved to the model's device here).

        Returns
        -------
        hidden : torch.Tensor
            [batch, tokens, hidden], on the model's device.
        mask : torch.BoolTensor
            [batch, tokens], True at the real tokens.
        """
        model = self.bert.model
        device = next(model.parameters()).device
        tokens = tokens.to(device, non_blocking=True)
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and not self.bert.freeze
        ):
            hidden = model(**tokens).last_hidden_state
        return hidden, tokens["attention_mask"].bool()

    def forward(self, texts):
        """Returns [batch, hidden] embeddings of a list of strings."""
        hidden, mask = self.hidden_states(self.tokenize(texts))
        if self.pooling == "cls":
            return hidden[:, 0]
        return masked_mean(hidden, mask)


class TokenTextEncoder(PooledTextEncoder):
    """Encodes a batch of strings into token-level features.

    Like :class:`PooledTextEncoder` (same tokenisation, lower-casing,
    truncation and freezing), but returns the last hidden state of every
    token with the relative lengths of the token sequences, for a
    sequence encoder that reads the text (e.g. a BiLSTM).

    Arguments
    ---------
    bert : speechbrain.integrations.huggingface.textencoder.TextEncoder
        The wrapped BERT-like model; its ``freeze`` flag decides
        fine-tuning.
    lowercase : bool
        Lower-case texts before tokenisation.
    freeze_embeddings : bool
        Keep the token embedding table fixed.
    max_tokens : int, optional
        Texts are cut to this many tokens (special tokens included).

    Example
    -------
    >>> from speechbrain_ext.synthetic.offline_models import minilm_path
    >>> from speechbrain.integrations.huggingface.textencoder import (
    ...     TextEncoder)
    >>> import tempfile
    >>> bert = TextEncoder(minilm_path(), save_path=tempfile.mkdtemp())
    >>> enc = TokenTextEncoder(bert)
    >>> hidden, lens = enc(["I LOVE THIS GARDEN", ""])
    >>> hidden.shape, lens.tolist()
    (torch.Size([2, 6, 384]), [1.0, 0.3333333432674408])
    """

    def __init__(
        self,
        bert,
        lowercase=True,
        freeze_embeddings=False,
        max_tokens=128,
    ):
        super().__init__(
            bert,
            pooling="mean",
            lowercase=lowercase,
            freeze_embeddings=freeze_embeddings,
            max_tokens=max_tokens,
        )

    def forward(self, texts):
        """Returns [batch, tokens, hidden] states and relative lengths."""
        hidden, mask = self.hidden_states(self.tokenize(texts))
        counts = mask.sum(1).to(hidden.dtype)
        return hidden, counts / hidden.shape[1]
