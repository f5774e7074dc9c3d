"""Structured self-attention pooling (Lin et al., 2017).

*A structured self-attentive sentence embedding* (ICLR 2017): ``r``
attention heads read a sequence of hidden states ``H`` [time, dim] and each
returns one weighted sum of it,

``A = softmax(W2 tanh(W1 H^T))``  (``A``: [r, time], softmax over time),
``M = A H``  ([r, dim], flattened to ``r * dim``),

with the optional penalty ``P = ||A A^T - I||_F^2`` that pushes the heads
to attend to different frames. Feng et al. (2020) pool the BiLSTM states of
each of their SER branches this way (section 2.2, equations 3-5).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch
from speechbrain.dataio.dataio import length_to_mask

from speechbrain_ext.nnet.coattention import frame_counts


class StructuredSelfAttentionPooling(torch.nn.Module):
    """``r`` attention heads, each pooling a sequence into one vector.

    ``W1`` [attention_size, input_size] and ``W2`` [n_heads,
    attention_size] are linear layers without bias, as in Lin et al.
    (2017). Frames past each utterance's relative length get no weight
    (their scores are set to ``-inf`` before the softmax), so an utterance
    is pooled the same way whatever it is batched with.

    Arguments
    ---------
    input_size : int
        Size of the input frames (``2u`` for a BiLSTM of ``u`` units).
    attention_size : int
        Rows of ``W1`` (``d_a``; "nodes" of the attention layer).
    n_heads : int
        Number of heads ``r``.

    Example
    -------
    >>> pool = StructuredSelfAttentionPooling(6, attention_size=5, n_heads=3)
    >>> h = torch.rand(2, 10, 6)
    >>> pooled, attn = pool(h, torch.tensor([1.0, 0.4]))
    >>> pooled.shape, attn.shape
    (torch.Size([2, 18]), torch.Size([2, 3, 10]))
    >>> attn[1, :, 4:].abs().sum().item()
    0.0
    >>> torch.allclose(attn.sum(-1), torch.ones(2, 3))
    True
    """

    def __init__(self, input_size, attention_size=512, n_heads=8):
        super().__init__()
        self.W1 = torch.nn.Linear(input_size, attention_size, bias=False)
        self.W2 = torch.nn.Linear(attention_size, n_heads, bias=False)
        self.n_heads = n_heads
        self.output_size = n_heads * input_size

    def forward(self, h, lengths=None):
        """Pools ``h`` [batch, time, input_size].

        Arguments
        ---------
        h : torch.Tensor
            Hidden states [batch, time, input_size].
        lengths : torch.Tensor, optional
            Relative lengths (0..1); all frames count when omitted.

        Returns
        -------
        pooled : torch.Tensor
            ``M`` flattened, [batch, n_heads * input_size] (head-major).
        attn : torch.Tensor
            ``A`` [batch, n_heads, time], zero on padding frames.
        """
        scores = self.W2(torch.tanh(self.W1(h))).transpose(1, 2)
        if lengths is not None:
            counts = frame_counts(lengths, h.shape[1])
            mask = length_to_mask(counts, h.shape[1], dtype=torch.bool)
            mask = mask.unsqueeze(1)
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        pooled = torch.bmm(attn, h)
        return pooled.flatten(1), attn


def attention_penalty(attn):
    """Lin et al.'s penalty ``||A A^T - I||_F^2``, averaged over the batch.

    It is zero when every head puts all its weight on a frame of its own
    (the rows of ``A`` are orthogonal one-hot vectors), and grows when
    heads attend to the same frames or spread their weight.

    Arguments
    ---------
    attn : torch.Tensor
        Attention weights ``A`` [batch, n_heads, time] (rows sum to one).

    Returns
    -------
    torch.Tensor
        The penalty (a scalar).

    Example
    -------
    >>> one_hot = torch.eye(3, 5).unsqueeze(0)
    >>> attention_penalty(one_hot).item()
    0.0
    >>> same = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    >>> attention_penalty(same).item()
    2.0
    """
    gram = torch.bmm(attn, attn.transpose(1, 2))
    eye = torch.eye(attn.shape[1], device=attn.device, dtype=attn.dtype)
    return (gram - eye).pow(2).sum(dim=(1, 2)).mean()
