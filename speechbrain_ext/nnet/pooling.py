"""Pooling of frame sequences into utterance embeddings.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch
from speechbrain.lobes.models.ECAPA_TDNN import AttentiveStatisticsPooling


class AttentiveFramePooling(torch.nn.Module):
    """Attentive statistics pooling of time-major frames.

    ECAPA-TDNN's ``AttentiveStatisticsPooling`` (a weighted mean and
    standard deviation whose frame weights an attention layer computes) with
    the interface of ``speechbrain.nnet.pooling.StatisticsPooling``: frames
    ``[batch, time, channels]`` and relative lengths in, ``[batch, 1,
    2 * channels]`` out. Padding frames get no weight.

    Arguments
    ---------
    input_size : int
        Channels of the frames.
    attention_channels : int
        Hidden size of the attention layer.
    global_context : bool
        Whether the attention also sees the utterance's mean and standard
        deviation.

    Example
    -------
    >>> pool = AttentiveFramePooling(8, attention_channels=4)
    >>> frames = torch.rand(2, 10, 8)
    >>> pool(frames, torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 1, 16])
    """

    def __init__(self, input_size, attention_channels=128, global_context=True):
        super().__init__()
        self.pooling = AttentiveStatisticsPooling(
            input_size,
            attention_channels=attention_channels,
            global_context=global_context,
        )

    def forward(self, x, lengths=None):
        """Pools ``x`` [batch, time, channels] -> [batch, 1, 2 * channels].

        Arguments
        ---------
        x : torch.Tensor
            Frames [batch, time, channels].
        lengths : torch.Tensor, optional
            Relative lengths; all frames count when omitted.

        Returns
        -------
        torch.Tensor
            Weighted mean and standard deviation [batch, 1, 2 * channels].
        """
        pooled = self.pooling(x.transpose(1, 2), lengths)
        return pooled.transpose(1, 2)
