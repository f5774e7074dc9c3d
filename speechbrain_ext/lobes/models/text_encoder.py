"""Utterance embeddings of (hypothesised) transcripts with a BERT encoder.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch


class PooledTextEncoder(torch.nn.Module):
    """Encodes a batch of strings into one vector each.

    Wraps SpeechBrain's HuggingFace ``TextEncoder`` (any BERT-like model) and
    pools its last hidden states over the real tokens (``mean``) or takes the
    ``[CLS]`` token (``cls``). Texts are lower-cased when
    ``lowercase=True``, since ASR transcripts are upper-case and uncased BERT
    tokenizers expect lower case anyway.

    Arguments
    ---------
    text_encoder : speechbrain.integrations.huggingface.textencoder.TextEncoder
        The wrapped encoder; its ``freeze`` flag decides fine-tuning.
    pooling : str
        ``mean`` or ``cls``.
    lowercase : bool
        Lower-case texts before tokenisation.
    freeze_embeddings : bool
        Keep the token embedding table fixed while the transformer layers
        are fine-tuned. The table is most of a small BERT's parameters and
        its dense gradient most of the update cost.

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
    """

    def __init__(
        self,
        text_encoder,
        pooling="mean",
        lowercase=True,
        freeze_embeddings=False,
    ):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling}")
        self.text_encoder = text_encoder
        self.pooling = pooling
        self.lowercase = lowercase
        if freeze_embeddings:
            embeddings = text_encoder.model.get_input_embeddings()
            for param in embeddings.parameters():
                param.requires_grad = False

    unused_submodules = ("pooler",)
    """The wrapped model's pooler: its output is never used here."""

    @property
    def pooler(self):
        """The pooler of the wrapped BERT-like model (``None`` if none)."""
        return getattr(self.text_encoder.model, "pooler", None)

    @property
    def output_size(self):
        """Size of the returned embeddings."""
        return self.text_encoder.model.config.hidden_size

    def forward(self, texts):
        """Returns [batch, hidden] embeddings of a list of strings."""
        if self.lowercase:
            texts = [t.lower() for t in texts]
        tokens, hidden = self.text_encoder(list(texts), return_tokens=True)
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
