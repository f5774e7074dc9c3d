"""Recurrent layers: BLSTM over right-padded batches, attentional decoder.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.nnet.RNN import AttentionalRNNDecoder

from speechbrain_ext.nnet.coattention import frame_counts


def reverse_padded(x, counts):
    """Reverses the real frames of each sequence; padding stays at the end.

    Arguments
    ---------
    x : torch.Tensor
        Right-padded sequences [batch, time, ...].
    counts : torch.LongTensor
        Real frames of each sequence [batch].

    Returns
    -------
    torch.Tensor
        ``x`` with frames ``0 .. counts - 1`` of each row in reverse order
        and the padding frames where they were. Applying it twice gives
        ``x`` back.

    Example
    -------
    >>> x = torch.arange(8.0).view(2, 4, 1)
    >>> reverse_padded(x, torch.tensor([4, 2]))[..., 0]
    tensor([[3., 2., 1., 0.],
            [5., 4., 6., 7.]])
    """
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    index = counts.to(x.device).unsqueeze(1) - 1 - steps
    index = torch.where(index >= 0, index, steps)
    index = index.view(*index.shape, *([1] * (x.dim() - 2)))
    return x.gather(1, index.expand_as(x))


class PaddedBLSTM(torch.nn.Module):
    """Bidirectional LSTM over right-padded batches, without packing.

    Each layer runs one LSTM forward in time and one on the sequences
    reversed within their lengths (:func:`reverse_padded`), so that padding
    never reaches a real frame in either direction: the real frames get
    exactly the outputs of a packed ``torch.nn.LSTM(bidirectional=True)``,
    and the padding frames are zero. Without packing, PyTorch can run its
    fused CPU kernels: on CPU a training step (forward and backward) of 3
    layers of 128 cells over 8 sequences of 90 frames takes about a quarter
    of the time of the packed LSTM.

    Arguments
    ---------
    input_size : int
        Features of each input frame.
    hidden_size : int
        Cells of each direction.
    num_layers : int
        Stacked bidirectional layers.
    dropout : float
        Dropout on the input of every layer but the first (as
        ``torch.nn.LSTM``).
    output_dropout : bool
        Also drop out the output of the last layer (``dropout`` after
        every layer, as the BiLSTM encoders of Feng et al. (2020) and Li et
        al. (2022) have it).

    Example
    -------
    >>> blstm = PaddedBLSTM(input_size=5, hidden_size=4, num_layers=2)
    >>> x = torch.rand(2, 7, 5)
    >>> out = blstm(x, torch.tensor([1.0, 3 / 7]))
    >>> out.shape
    torch.Size([2, 7, 8])

    The shorter sequence is encoded as if it were alone, and its padding
    frames are zero:

    >>> alone = blstm(x[1:, :3])
    >>> torch.allclose(alone[0], out[1, :3], atol=1e-6)
    True
    >>> bool((out[1, 3:] == 0).all())
    True
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        dropout=0.0,
        output_dropout=False,
    ):
        super().__init__()
        self.output_size = 2 * hidden_size
        self.dropout = torch.nn.Dropout(dropout)
        self.output_dropout = output_dropout
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.forward_layers = torch.nn.ModuleList(
            torch.nn.LSTM(size, hidden_size, batch_first=True) for size in sizes
        )
        self.backward_layers = torch.nn.ModuleList(
            torch.nn.LSTM(size, hidden_size, batch_first=True) for size in sizes
        )

    def forward(self, x, lengths=None):
        """Encodes right-padded frames.

        Arguments
        ---------
        x : torch.Tensor
            Frames [batch, time, input_size].
        lengths : torch.Tensor, optional
            Relative lengths (SpeechBrain's convention); all frames are
            real when omitted.

        Returns
        -------
        torch.Tensor
            [batch, time, 2 * hidden_size], zero on padding frames.
        """
        n_frames = x.shape[1]
        if lengths is None:
            counts = torch.full((x.shape[0],), n_frames, device=x.device)
        else:
            counts = frame_counts(lengths, n_frames).to(x.device)
        layers = zip(self.forward_layers, self.backward_layers)
        for index, (forward_lstm, backward_lstm) in enumerate(layers):
            if index > 0:
                x = self.dropout(x)
            ahead, _ = forward_lstm(x)
            back, _ = backward_lstm(reverse_padded(x, counts))
            x = torch.cat([ahead, reverse_padded(back, counts)], dim=-1)
        # padding stays behind the real frames in both directions, so it is
        # zeroed once, at the output
        x = x * length_to_mask(counts, n_frames, dtype=x.dtype).unsqueeze(-1)
        if self.output_dropout:
            x = self.dropout(x)
        return x


class AttendFirstRNNDecoder(AttentionalRNNDecoder):
    """Attentional RNN decoder that attends with the previous state.

    The decoder of Feng et al. (2020), equations 6-11, in the order of
    Chorowski et al.'s location-aware attention: at step ``l`` the
    attention reads the previous state ``s_{l-1}`` (equation 9; its
    location features come from the previous weights, equation 8) and
    gives the context vector ``g_l`` (equation 7); the LSTM then reads
    ``[embedding(w_{l-1}); g_l]`` and updates ``s_{l-1}`` to ``s_l``
    (equation 6); the output ``proj([g_l; s_l])`` feeds the output layer
    (``Generate(g_l, s_l)``, equation 11). ``s_0`` is zero.

    SpeechBrain's ``AttentionalRNNDecoder``, whose parameters this class
    reuses (same names and shapes), runs the other order: its LSTM reads the
    previous context vector, the attention reads the new state ``s_l``.

    The context vector is that of SpeechBrain's attention module: the
    weighted sum of the encoder states (equation 7) through a linear layer
    of ``attn_dim`` outputs. ``forward_step`` has the signature of
    ``AttentionalRNNDecoder.forward_step``, so SpeechBrain's
    ``S2SRNNGreedySearcher`` and ``S2SRNNBeamSearcher`` decode with it. The
    state dict holds a marker buffer ``attend_first``, so that a checkpoint
    of one decoder does not load into the other.

    Arguments
    ---------
    *args
        Those of ``speechbrain.nnet.RNN.AttentionalRNNDecoder``.
    **kwargs
        Those of ``speechbrain.nnet.RNN.AttentionalRNNDecoder``.

    Example
    -------
    >>> dec = AttendFirstRNNDecoder(
    ...     rnn_type="lstm", attn_type="location", hidden_size=7, attn_dim=5,
    ...     num_layers=1, enc_dim=20, input_size=6, channels=2,
    ...     kernel_size=3)
    >>> enc_states, wav_len = torch.rand(4, 10, 20), torch.ones(4)
    >>> outputs, attn = dec(torch.rand(4, 5, 6), enc_states, wav_len)
    >>> outputs.shape, attn.shape
    (torch.Size([4, 5, 7]), torch.Size([4, 5, 10]))

    With ``return_states=True`` it also returns the LSTM states ``s_l``:

    >>> _, _, states = dec(
    ...     torch.rand(4, 5, 6), enc_states, wav_len, return_states=True)
    >>> states.shape
    torch.Size([4, 5, 7])
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("attend_first", torch.tensor(True))

    def previous_state(self, hs, batch_size, device):
        """The state ``s_{l-1}`` that the attention reads.

        Arguments
        ---------
        hs : torch.Tensor or tuple of torch.Tensor or None
            The RNN memory ([num_layers, batch, hidden], a (hidden, cell)
            pair for an LSTM); None before the first step.
        batch_size : int
            Batch size (for the zero state).
        device : torch.device
            Device of the zero state.

        Returns
        -------
        torch.Tensor
            The hidden state of the last layer [batch, hidden], zero before
            the first step.
        """
        if hs is None:
            return torch.zeros(batch_size, self.hidden_size, device=device)
        hidden = hs[0] if isinstance(hs, tuple) else hs
        return hidden[-1]

    def step(self, inp, hs, enc_states, enc_len):
        """One decoding step, returning the new state ``s_l`` too.

        Arguments
        ---------
        inp : torch.Tensor
            Embedding of the previous word [batch, input_size].
        hs : torch.Tensor or tuple of torch.Tensor or None
            The RNN memory holding ``s_{l-1}`` (None at the first step).
        enc_states : torch.Tensor
            The encoder states to attend [batch, time, enc_dim].
        enc_len : torch.LongTensor
            Their lengths in frames.

        Returns
        -------
        dec_out : torch.Tensor
            ``proj([g_l; s_l])`` [batch, hidden], for the output layer.
        state : torch.Tensor
            ``s_l``, the hidden state of the last RNN layer [batch, hidden].
        hs : torch.Tensor or tuple of torch.Tensor
            The new RNN memory.
        c : torch.Tensor
            The context vector ``g_l`` [batch, attn_dim].
        w : torch.Tensor
            The attention weights [batch, time].
        """
        s_prev = self.previous_state(hs, inp.shape[0], inp.device)
        c, w = self.attn(enc_states, enc_len, s_prev)
        cell_inp = self.drop(torch.cat([inp, c], dim=-1))
        state, hs = self.rnn(cell_inp, hs)
        dec_out = self.proj(torch.cat([c, state], dim=1))
        return dec_out, state, hs, c, w

    def forward_step(self, inp, hs, c, enc_states, enc_len):
        """One step, with the signature of SpeechBrain's searchers.

        Arguments
        ---------
        inp : torch.Tensor
            Embedding of the previous word [batch, input_size].
        hs : torch.Tensor or tuple of torch.Tensor or None
            The RNN memory holding ``s_{l-1}``.
        c : torch.Tensor
            The previous context vector (carried in the searchers' memory;
            the step does not read it).
        enc_states : torch.Tensor
            The encoder states to attend.
        enc_len : torch.LongTensor
            Their lengths in frames.

        Returns
        -------
        dec_out : torch.Tensor
            ``proj([g_l; s_l])``, for the output layer.
        hs : torch.Tensor or tuple of torch.Tensor
            The new RNN memory.
        c : torch.Tensor
            The context vector ``g_l``.
        w : torch.Tensor
            The attention weights.
        """
        dec_out, _, hs, c, w = self.step(inp, hs, enc_states, enc_len)
        return dec_out, hs, c, w

    def forward(self, inp_tensor, enc_states, wav_len, return_states=False):
        """Teacher-forced pass over all the steps.

        Arguments
        ---------
        inp_tensor : torch.Tensor
            Embeddings of the previous words [batch, steps, input_size].
        enc_states : torch.Tensor
            The encoder states to attend [batch, time, enc_dim].
        wav_len : torch.Tensor
            Their relative lengths.
        return_states : bool
            Also return the states ``s_l``.

        Returns
        -------
        outputs : torch.Tensor
            ``proj([g_l; s_l])`` of each step [batch, steps, hidden].
        attn : torch.Tensor
            The attention weights [batch, steps, time].
        states : torch.Tensor
            With ``return_states``: ``s_l`` of each step [batch, steps,
            hidden].
        """
        enc_len = torch.round(enc_states.shape[1] * wav_len).long()
        self.attn.reset()
        hs = None
        outputs, states, weights = [], [], []
        for t in range(inp_tensor.shape[1]):
            dec_out, state, hs, _, w = self.step(
                inp_tensor[:, t], hs, enc_states, enc_len
            )
            outputs.append(dec_out)
            states.append(state)
            weights.append(w)
        outputs = torch.stack(outputs, dim=1)
        attn = torch.stack(weights, dim=1)
        if return_states:
            return outputs, attn, torch.stack(states, dim=1)
        return outputs, attn
