"""Fusion of acoustic and linguistic utterance embeddings.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch


class SkipMLP(torch.nn.Module):
    """A stack of feed-forward layers, each bypassed by a skip connection.

    ``x -> proj(x) -> [h + dropout(act(norm(linear(h))))] * n_layers``. The
    input projection maps any input size to ``hidden_size`` so the skip
    connections add tensors of the same size.

    Arguments
    ---------
    input_size : int
        Size of the input embedding.
    hidden_size : int
        Size of every hidden layer and of the output.
    n_layers : int
        Number of residual feed-forward layers.
    dropout : float
        Dropout after each activation.
    activation : type
        Activation class.

    Example
    -------
    >>> mlp = SkipMLP(input_size=32, hidden_size=16, n_layers=2)
    >>> mlp(torch.rand(4, 32)).shape
    torch.Size([4, 16])
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        n_layers=2,
        dropout=0.1,
        activation=torch.nn.LeakyReLU,
    ):
        super().__init__()
        self.proj = torch.nn.Linear(input_size, hidden_size)
        self.layers = torch.nn.ModuleList(
            torch.nn.Sequential(
                torch.nn.LayerNorm(hidden_size),
                torch.nn.Linear(hidden_size, hidden_size),
                activation(),
                torch.nn.Dropout(dropout),
            )
            for _ in range(n_layers)
        )

    def forward(self, x):
        """Maps ``x`` [batch, input_size] to [batch, hidden_size]."""
        h = self.proj(x)
        for layer in self.layers:
            h = h + layer(h)
        return h


class SkipConnectionFusion(torch.nn.Module):
    """Skip-connection MLP fusion of an acoustic and a text embedding.

    Each embedding goes through its own :class:`SkipMLP`; the two results are
    concatenated (Bansal et al., 2023, section 3.2). The output size is
    ``2 * hidden_size``.

    Arguments
    ---------
    acoustic_size : int
        Size of the pooled acoustic embedding.
    text_size : int
        Size of the pooled text embedding.
    hidden_size : int
        Size of each branch.
    n_layers : int
        Residual layers per branch.
    dropout : float
        Dropout inside each branch.
    modality_dropout : float
        Training-time probability of zeroing the text branch of an
        utterance, so that the classifier does not rely on the text alone
        when ASR hypotheses are wrong at test time.

    Example
    -------
    >>> fusion = SkipConnectionFusion(acoustic_size=64, text_size=32,
    ...                               hidden_size=16)
    >>> fusion(torch.rand(3, 64), torch.rand(3, 32)).shape
    torch.Size([3, 32])
    """

    def __init__(
        self,
        acoustic_size,
        text_size,
        hidden_size=256,
        n_layers=2,
        dropout=0.1,
        modality_dropout=0.0,
    ):
        super().__init__()
        self.acoustic = SkipMLP(acoustic_size, hidden_size, n_layers, dropout)
        self.text = SkipMLP(text_size, hidden_size, n_layers, dropout)
        self.modality_dropout = modality_dropout
        self.output_size = 2 * hidden_size

    def forward(self, acoustic, text):
        """Fuses [batch, acoustic_size] and [batch, text_size] embeddings."""
        a = self.acoustic(acoustic)
        t = self.text(text)
        if self.training and self.modality_dropout > 0:
            keep = torch.rand(t.shape[0], 1, device=t.device)
            t = t * (keep >= self.modality_dropout).to(t.dtype)
        return torch.cat([a, t], dim=-1)
