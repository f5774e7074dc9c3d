import math
import os
import re
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from speechbrain.decoders.seq2seq import (
    S2SRNNBeamSearcher,
    S2SRNNGreedySearcher,
)
from speechbrain.lobes.features import Fbank
from speechbrain.nnet.embedding import Embedding
from speechbrain.processing.features import InputNormalization
from speechbrain.utils.parameter_transfer import Pretrainer

from speechbrain_ext.dataio.word_tokens import (
    EOS,
    load_word_vocabulary,
    word_pipeline,
    word_vocabulary,
)
from speechbrain_ext.lobes.models.a2w import (
    PRETRAINED_MODULES,
    A2WEncoder,
    StackFrames,
    TanhOutputLayer,
    a2w_decoder,
    a2w_forward,
    a2w_teacher_forced,
    decoder_states,
    export_pretrained,
    pretrained_hooks,
)
from speechbrain_ext.nnet.RNN import AttendFirstRNNDecoder

VOCAB = 7  # 5 words, <unk>, <eos>
EOS_ID = VOCAB - 1


ORDERINGS = ("paper", "speechbrain")


def tiny_model(enc_hidden=8, dec_hidden=10, vocab=VOCAB, ordering="paper"):
    torch.manual_seed(0)
    return torch.nn.ModuleDict(
        {
            "normalize": InputNormalization(norm_type="global"),
            "enc": A2WEncoder(40, hidden_size=enc_hidden, num_layers=2),
            "emb": Embedding(num_embeddings=vocab, embedding_dim=6),
            "dec": a2w_decoder(
                ordering,
                rnn_type="lstm",
                attn_type="location",
                hidden_size=dec_hidden,
                attn_dim=dec_hidden,
                num_layers=1,
                enc_dim=2 * enc_hidden,
                input_size=6,
                channels=4,
                kernel_size=5,
            ),
            "seq_lin": TanhOutputLayer(dec_hidden, dec_hidden, vocab),
        }
    )


def search_options(embedding, decoder, linear, eos_index):
    """Arguments of SpeechBrain's searchers (``<eos>`` also begins)."""
    return dict(
        embedding=embedding,
        decoder=decoder,
        linear=linear,
        bos_index=eos_index,
        eos_index=eos_index,
        min_decode_ratio=0.0,
        max_decode_ratio=1.0,
    )


def test_stack_frames_is_a_reshape():
    x = torch.randn(2, 10, 4)
    y = StackFrames(3)(x)
    assert y.shape == (2, 3, 12)
    assert torch.equal(y[1, 2], x[1, 6:9].reshape(-1))


def test_stack_frames_refuses_short_input():
    with pytest.raises(ValueError, match="2 frames"):
        StackFrames(3)(torch.zeros(1, 2, 4))


def test_encoder_output_and_lengths():
    enc = A2WEncoder(40, hidden_size=8, num_layers=2).eval()
    feats = torch.randn(3, 33, 40)
    lens = torch.tensor([1.0, 0.5, 0.2])
    out = enc(feats, lens)
    assert out.shape == (3, 11, 16)
    # a shorter utterance is encoded as if alone, padding ignored
    n = round(0.5 * 33)
    alone = enc(feats[1:2, :n], torch.ones(1))
    assert torch.allclose(alone[0], out[1, : alone.shape[1]], atol=1e-6)


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_teacher_forced_shapes_and_gradient(ordering):
    modules = tiny_model(ordering=ordering)
    feats = torch.randn(2, 30, 40)
    lens = torch.tensor([1.0, 0.8])
    tokens_bos = torch.tensor([[EOS_ID, 1, 2, 3], [EOS_ID, 4, 0, 0]])
    enc, dec, log_probs = a2w_teacher_forced(modules, feats, lens, tokens_bos)
    assert enc.shape == (2, 10, 16)
    assert dec.shape == (2, 4, 10)
    assert log_probs.shape == (2, 4, VOCAB)
    log_probs[:, :, 1].sum().backward()
    first_layer = modules["enc"].rnn.forward_layers[0]
    assert first_layer.weight_ih_l0.grad.abs().sum() > 0


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_teacher_forced_pass_learns_one_utterance(ordering):
    modules = tiny_model(ordering=ordering)
    feats = torch.randn(1, 30, 40)
    lens = torch.ones(1)
    tokens_bos = torch.tensor([[EOS_ID, 1, 2, 3]])
    tokens_eos = torch.tensor([[1, 2, 3, EOS_ID]])
    opt = torch.optim.Adam(modules.parameters(), lr=0.03)
    losses = []
    for _ in range(40):
        _, _, log_probs = a2w_teacher_forced(modules, feats, lens, tokens_bos)
        loss = torch.nn.functional.nll_loss(
            log_probs.view(-1, VOCAB), tokens_eos.view(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_searchers_accept_the_output_layer(ordering):
    modules = tiny_model(ordering=ordering).eval()
    enc = modules["enc"](torch.randn(2, 30, 40), torch.ones(2))
    common = search_options(
        modules["emb"], modules["dec"], modules["seq_lin"], EOS_ID
    )
    hyps, *_ = S2SRNNBeamSearcher(beam_size=4, **common)(enc, torch.ones(2))
    assert len(hyps) == 2
    greedy, *_ = S2SRNNGreedySearcher(**common)(enc, torch.ones(2))
    assert len(greedy) == 2
    assert all(0 <= t < VOCAB for hyp in hyps + greedy for t in hyp)


# ---------------------------------------------------------------------------
# a2w_forward: the recipe's forward pass (prediction contract)
# ---------------------------------------------------------------------------
WORDS = word_vocabulary(["A", "B", "C", "D", "E"], eos=True)


class RecordingSearch:
    """A searcher that records its calls and returns fixed word ids."""

    def __init__(self, hyps):
        self.hyps, self.calls = hyps, 0

    def __call__(self, enc_states, wav_lens):
        self.calls += 1
        return self.hyps, None, None, None


def forward_hparams():
    return SimpleNamespace(
        compute_features=Fbank(n_mels=40),
        valid_search=RecordingSearch([[1, 2], [0]]),
        test_search=RecordingSearch([[3], [4, 5]]),
    )


def test_a2w_forward_decodes_greedy_in_validation_beam_in_test():
    modules = tiny_model()
    hparams = forward_hparams()
    wavs, lens = torch.randn(2, 4000), torch.tensor([1.0, 0.6])
    modules["normalize"](hparams.compute_features(wavs), lens)  # statistics
    modules.eval()
    tokens_bos = torch.tensor([[EOS_ID, 1, 2], [EOS_ID, 3, 0]])
    train = a2w_forward(
        modules,
        hparams,
        wavs,
        lens,
        stage=sb.Stage.TRAIN,
        tokens_bos=tokens_bos,
    )
    assert sorted(train) == ["enc_states", "log_probs"]
    assert train["log_probs"].shape == (2, 3, VOCAB)
    assert hparams.valid_search.calls == hparams.test_search.calls == 0
    valid = a2w_forward(
        modules,
        hparams,
        wavs,
        lens,
        stage=sb.Stage.VALID,
        vocabulary=WORDS,
        tokens_bos=tokens_bos,
    )
    assert valid["hyps"] == [["A", "B"], ["<unk>"]]
    # inference: the beam search, without teacher forcing
    test = a2w_forward(modules, hparams, wavs, lens, vocabulary=WORDS)
    assert sorted(test) == ["enc_states", "hyps"]
    assert test["hyps"] == [["C"], ["D", "E"]]
    assert (hparams.valid_search.calls, hparams.test_search.calls) == (1, 1)
    # the encoder states are those of the teacher-forced pass
    _, _, log_probs = a2w_teacher_forced(
        modules,
        modules["normalize"](hparams.compute_features(wavs), lens),
        lens,
        tokens_bos,
    )
    assert torch.allclose(valid["log_probs"], log_probs)


def test_a2w_forward_needs_the_vocabulary_to_decode():
    with pytest.raises(ValueError, match="needs the vocabulary"):
        a2w_forward(
            tiny_model().eval(),
            forward_hparams(),
            torch.randn(1, 4000),
            torch.ones(1),
            stage=sb.Stage.VALID,
        )


# ---------------------------------------------------------------------------
# The paper's decoder ordering (equations 6-11)
# ---------------------------------------------------------------------------
def spy_on_decoder(dec):
    """Records the attention's query and output and the LSTM's input and
    output at every step."""
    seen = {"query": [], "context": [], "cell_input": [], "cell_output": []}

    def on_attention(module, args, output):
        seen["query"].append(args[2].detach().clone())
        seen["context"].append(output[0].detach().clone())

    def on_cell(module, args, output):
        seen["cell_input"].append(args[0].detach().clone())
        seen["cell_output"].append(output[0].detach().clone())

    dec.attn.register_forward_hook(on_attention)
    dec.rnn.register_forward_hook(on_cell)
    return seen


# A small location-aware decoder: 6-dim inputs, 16-dim encoder states
DECODER = dict(
    rnn_type="lstm",
    attn_type="location",
    hidden_size=10,
    attn_dim=8,
    num_layers=1,
    enc_dim=16,
    input_size=6,
    channels=4,
    kernel_size=5,
)


def paper_decoder(num_layers=1):
    torch.manual_seed(0)
    return AttendFirstRNNDecoder(**{**DECODER, "num_layers": num_layers}).eval()


@pytest.mark.parametrize("num_layers", [1, 2])
def test_paper_decoder_attends_with_the_previous_state(num_layers):
    dec = paper_decoder(num_layers)
    seen = spy_on_decoder(dec)
    inp = torch.randn(3, 5, 6)
    enc, lens = torch.randn(3, 12, 16), torch.tensor([1.0, 0.75, 0.5])
    outputs, attn, states = dec(inp, enc, lens, return_states=True)
    assert outputs.shape == (3, 5, 10) and states.shape == (3, 5, 10)
    assert attn.shape == (3, 5, 12)
    assert len(seen["query"]) == 5
    # step 1 attends with s_0 = 0, step l with s_{l-1}
    assert torch.equal(seen["query"][0], torch.zeros(3, 10))
    for step in range(1, 5):
        assert torch.equal(seen["query"][step], states[:, step - 1])
    for step in range(5):
        # the states returned are those of the LSTM (its last layer) ...
        assert torch.equal(states[:, step], seen["cell_output"][step])
        # ... which reads [embedding(w_{l-1}); g_l], g_l of the same step
        cell_input = seen["cell_input"][step]
        assert torch.equal(cell_input[:, :6], inp[:, step])
        assert torch.equal(cell_input[:, 6:], seen["context"][step])
        # the output layer reads proj([g_l; s_l])
        both = torch.cat([seen["context"][step], states[:, step]], dim=1)
        assert torch.allclose(outputs[:, step], dec.proj(both))
    # no attention weight on the padding frames
    assert torch.all(attn[2, :, 6:] == 0)


def test_speechbrain_decoder_attends_with_the_new_state():
    """The contrast: SpeechBrain's ordering queries with the state s_l
    that the LSTM has just computed."""
    dec = a2w_decoder("speechbrain", **DECODER).eval()
    seen = spy_on_decoder(dec)
    dec(torch.randn(2, 4, 6), torch.randn(2, 12, 16), torch.ones(2))
    for step in range(4):
        assert torch.equal(seen["query"][step], seen["cell_output"][step])


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_decoder_states_are_what_the_ser_branch_should_read(ordering):
    modules = tiny_model(ordering=ordering).eval()
    seen = spy_on_decoder(modules["dec"])
    enc = torch.randn(2, 10, 16)
    tokens_bos = torch.tensor([[EOS_ID, 1, 2], [EOS_ID, 3, 0]])
    states, log_probs = decoder_states(modules, enc, torch.ones(2), tokens_bos)
    outputs, _ = modules["dec"](modules["emb"](tokens_bos), enc, torch.ones(2))
    lstm_states = torch.stack(seen["cell_output"][:3], dim=1)
    assert states.shape == (2, 3, 10)
    if ordering == "paper":  # s_l itself
        assert torch.equal(states, lstm_states)
        assert not torch.allclose(states, outputs)
    else:  # proj([c_l; s_l]), the input of the output layer
        assert torch.equal(states, outputs)
        assert not torch.allclose(states, lstm_states)
    expected = torch.log_softmax(modules["seq_lin"](outputs), dim=-1)
    assert torch.allclose(log_probs, expected)


def test_paper_decoder_steps_match_the_teacher_forced_pass():
    """Greedy search (``forward_step``) and the teacher-forced pass
    (``forward``) compute the same model."""
    modules = tiny_model(ordering="paper").eval()
    enc = modules["enc"](torch.randn(1, 30, 40), torch.ones(1))
    step_logits = []
    searcher = S2SRNNGreedySearcher(
        **search_options(
            modules["emb"], modules["dec"], modules["seq_lin"], EOS_ID
        )
    )
    forward_step = searcher.forward_step

    def recording(*args):
        logits, memory, attn = forward_step(*args)
        step_logits.append(logits)
        return logits, memory, attn

    searcher.forward_step = recording
    hyp, *_ = searcher(enc, torch.ones(1))
    tokens_bos = torch.tensor([[EOS_ID] + hyp[0]])
    _, log_probs = decoder_states(modules, enc, torch.ones(1), tokens_bos)
    # one step per word of the hypothesis, and one for its eos if reached
    n = len(step_logits)
    assert n in (len(hyp[0]), len(hyp[0]) + 1) and n > 2
    # the greedy searcher's steps give logits
    stepped = torch.log_softmax(torch.stack(step_logits, dim=1), dim=-1)
    assert torch.allclose(stepped, log_probs[:, :n], atol=1e-5)


def test_unknown_ordering_is_refused():
    with pytest.raises(ValueError, match="not 'bahdanau'"):
        a2w_decoder("bahdanau", **DECODER)


# ---------------------------------------------------------------------------
# Beam search against greedy decoding
# ---------------------------------------------------------------------------
# Tokens 0..3 are words, 4 is <eos> (and bos). The output distribution is a
# bigram table of the previous token: the decoder passes the one-hot
# embedding of the previous token through, the output layer holds the log
# probabilities. Greedy takes A (0.5) first, but every continuation of A is
# unlikely (at most 0.3); B (0.4) is almost always followed by <eos> (0.95).
A, B, C, D, END = range(5)
BIGRAM = {
    END: {A: 0.5, B: 0.4, C: 0.05, D: 0.04, END: 0.01},
    A: {A: 0.2, B: 0.19, C: 0.3, D: 0.3, END: 0.01},
    B: {A: 0.01, B: 0.02, C: 0.01, D: 0.01, END: 0.95},
    C: {A: 0.003, B: 0.003, C: 0.002, D: 0.002, END: 0.99},
    D: {A: 0.003, B: 0.003, C: 0.002, D: 0.002, END: 0.99},
}


class PassThroughAttention(torch.nn.Module):
    """Content attention stand-in: uniform weights, no parameters."""

    def reset(self):
        pass

    def forward(self, enc_states, enc_len, dec_state):
        w = torch.full(enc_states.shape[:2], 1.0 / enc_states.shape[1])
        return torch.zeros(enc_states.shape[0], 1), w


class BigramDecoder(torch.nn.Module):
    """``AttentionalRNNDecoder.forward_step`` returning its input."""

    attn_type = "content"
    attn_dim = 1

    def __init__(self):
        super().__init__()
        self.attn = PassThroughAttention()

    def forward_step(self, inp, hs, c, enc_states, enc_len):
        hs = torch.zeros(1, inp.shape[0], 1), torch.zeros(1, inp.shape[0], 1)
        w = torch.full(enc_states.shape[:2], 1.0 / enc_states.shape[1])
        return inp, hs, c, w


def bigram_model():
    emb = torch.nn.Embedding(5, 5)
    lin = TanhOutputLayer(5, 5, 5)
    with torch.no_grad():
        emb.weight.copy_(torch.eye(5))
        # tanh(20 * one-hot) = one-hot up to 1e-17: the output layer reads
        # the row of the previous token from its weight matrix
        lin.hidden.weight.copy_(20 * torch.eye(5))
        lin.hidden.bias.zero_()
        table = torch.tensor(
            [[BIGRAM[prev][nxt] for prev in range(5)] for nxt in range(5)]
        )
        lin.w.weight.copy_(table.log())
        lin.w.bias.zero_()
    return emb, BigramDecoder(), lin


def total_log_prob(hyp):
    tokens = [END] + list(hyp) + [END]
    return sum(math.log(BIGRAM[p][n]) for p, n in zip(tokens, tokens[1:]))


def test_beam_search_beats_greedy_decoding():
    common = search_options(*bigram_model(), END)
    enc = torch.zeros(1, 6, 3)
    lens = torch.ones(1)
    greedy, *_ = S2SRNNGreedySearcher(**common)(enc, lens)
    beam, *_ = S2SRNNBeamSearcher(beam_size=4, **common)(enc, lens)
    assert greedy[0] in ([A, C], [A, D])
    assert beam[0] == [B]
    assert beam[0] != greedy[0]
    assert total_log_prob(beam[0]) > total_log_prob(greedy[0]) + 0.5


def test_beam_of_width_one_is_greedy():
    common = search_options(*bigram_model(), END)
    enc = torch.zeros(1, 6, 3)
    beam, *_ = S2SRNNBeamSearcher(beam_size=1, **common)(enc, torch.ones(1))
    assert beam[0][0] == A


# ---------------------------------------------------------------------------
# Export and Pretrainer loading
# ---------------------------------------------------------------------------
def exported(tmp_path, **dims):
    modules = tiny_model(**dims)  # dims: sizes and ordering
    modules["normalize"](torch.randn(2, 30, 40), torch.ones(2))
    vocab = word_vocabulary(["A", "B", "C", "D", "E"], eos=True)
    paths = export_pretrained(modules, str(tmp_path / "pretrained"), vocab)
    return modules, paths


def pretrainer_for(modules, folder, collect_in):
    return Pretrainer(
        collect_in=str(collect_in),
        loadables={name: modules[name] for name in PRETRAINED_MODULES},
        paths={
            n: os.path.join(folder, f"{n}.ckpt") for n in PRETRAINED_MODULES
        },
        custom_hooks=pretrained_hooks(),
    )


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_export_then_pretrainer_restores_the_model(tmp_path, ordering):
    source, paths = exported(tmp_path, ordering=ordering)
    folder = os.path.dirname(paths["enc"])
    assert sorted(os.listdir(folder)) == sorted(
        [f"{n}.ckpt" for n in PRETRAINED_MODULES] + ["vocabulary.txt"]
    )
    vocabulary = load_word_vocabulary(paths["vocabulary"])
    words = vocabulary.decode_ndim(range(len(vocabulary)))
    assert words[0] == "<unk>" and words[-1] == EOS and len(words) == VOCAB

    target = tiny_model(ordering=ordering)
    for p in target.parameters():
        torch.nn.init.normal_(p)
    pretrainer = pretrainer_for(target, folder, tmp_path / "collect")
    pretrainer.collect_files()
    pretrainer.load_collected()
    for name in ["enc", "emb", "dec", "seq_lin"]:
        for (k, a), b in zip(
            source[name].state_dict().items(),
            target[name].state_dict().values(),
        ):
            assert torch.equal(a, b), (name, k)
    assert torch.equal(
        source["normalize"].glob_mean, target["normalize"].glob_mean
    )
    feats = torch.randn(1, 30, 40)
    tokens = torch.tensor([[EOS_ID, 1, 2]])
    out_a = a2w_teacher_forced(source.eval(), feats, torch.ones(1), tokens)
    out_b = a2w_teacher_forced(target.eval(), feats, torch.ones(1), tokens)
    assert torch.allclose(out_a[2], out_b[2])


def test_pretrainer_shape_mismatch_names_file_parameter_shapes(tmp_path):
    _, paths = exported(tmp_path, dec_hidden=10)
    folder = os.path.dirname(paths["enc"])
    target = tiny_model(dec_hidden=12)
    pretrainer = pretrainer_for(target, folder, tmp_path / "collect")
    pretrainer.collect_files()
    with pytest.raises(ValueError) as error:
        pretrainer.load_collected()
    message = str(error.value)
    assert os.path.realpath(paths["dec"]) in message
    assert "parameter 'proj.weight'" in message
    assert re.search(r"shape \(\d+(, \d+)*\) in the checkpoint", message)
    assert re.search(r"but \(\d+(, \d+)*\) in the model", message)


@pytest.mark.parametrize(
    "saved, wanted", [("paper", "speechbrain"), ("speechbrain", "paper")]
)
def test_pretrainer_names_a_decoder_of_the_other_ordering(
    tmp_path, saved, wanted
):
    _, paths = exported(tmp_path, ordering=saved)
    folder = os.path.dirname(paths["enc"])
    target = tiny_model(ordering=wanted)
    before = target["dec"].state_dict()
    pretrainer = pretrainer_for(target, folder, tmp_path / "collect")
    pretrainer.collect_files()
    with pytest.raises(ValueError) as error:
        pretrainer.load_collected()
    assert str(error.value) == (
        f"{os.path.realpath(paths['dec'])} holds a decoder of "
        f"decoder_ordering '{saved}' but the model's decoder has "
        f"decoder_ordering '{wanted}' (set decoder_ordering to the "
        "pre-training's)"
    )
    after = target["dec"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_word_pipeline_uses_eos_as_bos():
    vocab = word_vocabulary(["THE", "CAT"], eos=True)
    wrd, bos, eos, tokens = word_pipeline("THE DOG CAT", vocab)
    assert bos.tolist() == [3, 1, 0, 2]
    assert eos.tolist() == [1, 0, 2, 3]
    assert tokens.tolist() == [1, 0, 2]
