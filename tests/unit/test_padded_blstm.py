"""PaddedBLSTM against a packed bidirectional torch LSTM."""

import torch

from speechbrain_ext.nnet.RNN import PaddedBLSTM, reverse_padded


def _packed_reference(blstm):
    """A torch.nn.LSTM(bidirectional=True) with the weights of ``blstm``."""
    first = blstm.forward_layers[0]
    reference = torch.nn.LSTM(
        first.input_size,
        first.hidden_size,
        num_layers=len(blstm.forward_layers),
        bidirectional=True,
        batch_first=True,
    )
    with torch.no_grad():
        layers = zip(blstm.forward_layers, blstm.backward_layers)
        for index, (ahead, back) in enumerate(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l{index}").copy_(
                    getattr(ahead, f"{name}_l0")
                )
                getattr(reference, f"{name}_l{index}_reverse").copy_(
                    getattr(back, f"{name}_l0")
                )
    return reference


def test_matches_packed_bidirectional_lstm():
    torch.manual_seed(0)
    blstm = PaddedBLSTM(input_size=6, hidden_size=5, num_layers=3).eval()
    reference = _packed_reference(blstm).eval()
    x = torch.randn(4, 20, 6)
    counts = torch.tensor([20, 13, 7, 1])
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, counts, batch_first=True, enforce_sorted=False
    )
    expected, _ = reference(packed)
    expected, _ = torch.nn.utils.rnn.pad_packed_sequence(
        expected, batch_first=True, total_length=20
    )
    out = blstm(x, counts / 20.0)
    assert torch.allclose(out, expected, atol=1e-5)


def test_gradients_match_packed_lstm():
    torch.manual_seed(1)
    blstm = PaddedBLSTM(input_size=3, hidden_size=4, num_layers=2)
    reference = _packed_reference(blstm)
    x = torch.randn(3, 9, 3)
    counts = torch.tensor([9, 5, 2])
    blstm(x, counts / 9.0).pow(2).sum().backward()
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, counts, batch_first=True, enforce_sorted=False
    )
    out, _ = reference(packed)
    torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)[0].pow(
        2
    ).sum().backward()
    ours = blstm.backward_layers[1].weight_hh_l0.grad
    theirs = reference.weight_hh_l1_reverse.grad
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_reverse_padded_is_an_involution():
    x = torch.randn(3, 6, 2)
    counts = torch.tensor([6, 4, 1])
    once = reverse_padded(x, counts)
    assert torch.equal(once[1, :4], x[1, :4].flip(0))
    assert torch.equal(once[1, 4:], x[1, 4:])
    assert torch.equal(reverse_padded(once, counts), x)


def test_output_dropout_drops_the_last_layer_in_training_only():
    torch.manual_seed(2)
    blstm = PaddedBLSTM(3, 8, dropout=0.5, output_dropout=True)
    x = torch.randn(2, 30, 3)
    plain = PaddedBLSTM(3, 8, dropout=0.5)
    plain.load_state_dict(blstm.state_dict())
    assert torch.equal(blstm.eval()(x), plain.eval()(x))
    dropped = blstm.train()(x)
    reference = plain.eval()(x)
    kept = dropped != 0
    assert 0.3 < kept.float().mean() < 0.7
    assert torch.allclose(dropped[kept], 2 * reference[kept], atol=1e-6)
