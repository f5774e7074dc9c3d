"""Stream encoders, co-attention fusions and layer selection (Li et al.)."""

import tempfile
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from speechbrain.dataio.encoder import CTCTextEncoder
from speechbrain.nnet.activations import Softmax
from speechbrain.nnet.RNN import LSTM
from speechbrain.processing.features import InputNormalization

from speechbrain_ext.lobes.models.coattention_fusion import (
    BiLSTMSelfAttentionEncoder,
    MFCCMaxPool,
    fused_asr_ser_forward,
    fusion_forward,
    restrict_param_groups,
    select_hidden_layer,
    stream_modules,
)
from speechbrain_ext.lobes.models.fbank_encoder import FbankEncoder
from speechbrain_ext.nnet.coattention import (
    CoAttention,
    CoAttentionFusion,
    EncodedStream,
    HierarchicalCoAttentionFusion,
    StreamFusion,
    fusion_output_size,
)

D = 16


def _stream(seq, n_real=None):
    mask = torch.ones(seq.shape[:2], dtype=torch.bool)
    if n_real is not None:
        mask[:, n_real:] = False
        seq = seq * mask.unsqueeze(-1)
    vector = (seq * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    return EncodedStream(seq, mask, vector)


def _padded(stream, extra):
    """The same stream with ``extra`` padding frames of garbage."""
    batch, _, dim = stream.sequence.shape
    garbage = 50.0 * torch.randn(batch, extra, dim)
    seq = torch.cat([stream.sequence, garbage], dim=1)
    mask = torch.cat(
        [stream.mask, torch.zeros(batch, extra, dtype=torch.bool)], dim=1
    )
    return EncodedStream(seq, mask, stream.vector)


# ---------------------------------------------------------------------------
# Stream encoder and MFCC front-end
# ---------------------------------------------------------------------------
def test_stream_encoder_shapes_and_paper_sizes():
    enc = BiLSTMSelfAttentionEncoder(input_size=40)
    assert enc.lstm.output_size == 64 and len(enc.lstm.forward_layers) == 2
    assert enc.lstm.dropout.p == 0.5 and enc.lstm.output_dropout
    assert enc.attention.att.num_heads == 16
    assert enc.attention.att.embed_dim == 64
    out = enc(torch.rand(3, 20, 40), torch.tensor([1.0, 0.5, 0.25]))
    assert out.sequence.shape == (3, 20, 64)
    assert out.vector.shape == (3, 64)
    assert out.mask.sum(1).tolist() == [20, 10, 5]
    assert torch.all(out.sequence[1, 10:] == 0)


def test_stream_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = BiLSTMSelfAttentionEncoder(input_size=8).eval()
    x = torch.randn(1, 13, 8)
    alone = enc(x, torch.ones(1))
    other = torch.randn(1, 30, 8)
    batch = torch.cat([torch.cat([x, 99 * torch.ones(1, 17, 8)], 1), other])
    together = enc(batch, torch.tensor([13 / 30, 1.0]))
    assert torch.allclose(alone.vector[0], together.vector[0], atol=1e-5)
    assert torch.allclose(
        alone.sequence[0], together.sequence[0, :13], atol=1e-5
    )


def test_stream_encoder_matches_packed_speechbrain_lstm():
    """The BiLSTM of the stream encoder gives the outputs of SpeechBrain's
    packed LSTM with the same weights (in evaluation mode)."""
    torch.manual_seed(0)
    enc = BiLSTMSelfAttentionEncoder(input_size=8, hidden_size=4).eval()
    packed = LSTM(hidden_size=4, input_size=8, num_layers=2, bidirectional=True)
    with torch.no_grad():
        layers = zip(enc.lstm.forward_layers, enc.lstm.backward_layers)
        for index, (ahead, back) in enumerate(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                for suffix, lstm in (("", ahead), ("_reverse", back)):
                    getattr(packed.rnn, f"{name}_l{index}{suffix}").copy_(
                        getattr(lstm, f"{name}_l0")
                    )
    x, lengths = torch.randn(3, 12, 8), torch.tensor([1.0, 0.5, 0.25])
    out = enc(x, lengths)
    h = packed.eval()(x, lengths=lengths)[0]
    h = torch.nn.functional.pad(h, (0, 0, 0, 12 - h.shape[1]))
    h = enc.projection(h * out.mask.unsqueeze(-1))
    h = enc.attention(
        h, h, h, key_padding_mask=~out.mask, return_attn_weights=False
    )
    expected = h * out.mask.unsqueeze(-1)
    assert torch.allclose(out.sequence, expected, atol=1e-5)


def test_stream_encoder_batch_without_full_length_utterance():
    enc = BiLSTMSelfAttentionEncoder(input_size=8).eval()
    out = enc(torch.randn(2, 10, 8), torch.tensor([0.5, 0.8]))
    assert out.sequence.shape == (2, 10, 64)


def test_mfcc_maxpool_pools_pairs_of_frames_and_ignores_padding():
    mfcc = MFCCMaxPool(n_mfcc=13, n_mels=23, pool_size=2).eval()
    wav = torch.rand(1, 7360)
    feats, lens = mfcc(wav, torch.ones(1))
    raw = mfcc.compute_features(wav)
    assert raw.shape[1] == 47  # odd: 7360 samples / 160 + 1
    assert feats.shape[1] == 24
    assert torch.allclose(feats[0, 0], raw[0, :2].max(0).values)
    # the last (odd) frame is pooled alone
    assert torch.allclose(feats[0, -1], raw[0, -1])
    batch = torch.cat([torch.cat([wav, torch.zeros(1, 8640)], 1)] * 2)
    batch[1] = torch.rand(16000)
    pooled, plens = mfcc(batch, torch.tensor([7360 / 16000, 1.0]))
    n = int(torch.round(plens[0] * pooled.shape[1]))
    assert n == feats.shape[1]
    assert torch.allclose(pooled[0, :n], feats[0], atol=1e-5)
    assert torch.all(pooled[0, n:] == 0)


def test_mfcc_maxpool_with_global_normalisation_is_finite():
    mfcc = MFCCMaxPool(normalize=InputNormalization(norm_type="global"))
    feats, _ = mfcc(torch.rand(3, 8000), torch.tensor([1.0, 0.6, 0.3]))
    assert feats.shape[-1] == 40 and torch.isfinite(feats).all()


# ---------------------------------------------------------------------------
# Co-attention and fusions
# ---------------------------------------------------------------------------
def test_coattention_queries_the_other_stream():
    torch.manual_seed(0)
    coatt = CoAttention(D, nhead=4).eval()
    a, b = _stream(torch.randn(2, 7, D)), _stream(torch.randn(2, 5, D))
    h_a, h_b = coatt(a.sequence, a.mask, b.sequence, b.mask)
    b2 = _stream(torch.randn(2, 5, D))
    h_a2, h_b2 = coatt(a.sequence, a.mask, b2.sequence, b2.mask)
    # a's queries read b's keys and values: a new b changes h_a ...
    assert not torch.allclose(h_a, h_a2, atol=1e-4)
    # ... and b's own attention result (over the same a) has b's length
    assert h_b.shape == (2, 5, D) and h_a.shape == (2, 7, D)
    # with a single key frame, h_a is b's value projection, whatever a is
    one = _stream(torch.randn(2, 1, D))
    out1, _ = coatt(a.sequence, a.mask, one.sequence, one.mask)
    other_a = torch.randn(2, 7, D)
    out2, _ = coatt(other_a, a.mask, one.sequence, one.mask)
    assert torch.allclose(out1, out2, atol=1e-5)


def test_coattention_ignores_padding_of_both_streams():
    torch.manual_seed(0)
    coatt = CoAttention(D, nhead=4).eval()
    a, b = _stream(torch.randn(1, 6, D)), _stream(torch.randn(1, 4, D))
    ref = coatt.pooled(a.sequence, a.mask, b.sequence, b.mask)
    pa, pb = _padded(a, 5), _padded(b, 3)
    out = coatt.pooled(pa.sequence, pa.mask, pb.sequence, pb.mask)
    assert torch.allclose(ref, out, atol=1e-5)
    assert ref.shape == (1, 2 * D)


def test_coattention_fusion_covers_every_pair():
    torch.manual_seed(0)
    fusion = CoAttentionFusion(3, D, nhead=4).eval()
    assert fusion.pairs == [(0, 1), (0, 2), (1, 2)]
    streams = [_stream(torch.randn(2, t, D)) for t in (9, 5, 3)]
    out = fusion(streams)
    assert out.shape == (2, fusion_output_size("coattention", 3, D))
    for k in range(3):
        changed = list(streams)
        changed[k] = _stream(torch.randn(*streams[k].sequence.shape))
        assert not torch.allclose(fusion(changed), out, atol=1e-4)


def test_hierarchical_fusion_uses_every_stream_and_ignores_padding():
    torch.manual_seed(0)
    fusion = HierarchicalCoAttentionFusion(3, D, nhead=4).eval()
    streams = [
        _stream(torch.randn(2, t, D), n) for t, n in ((9, 7), (5, 5), (4, 2))
    ]
    out = fusion(streams)
    assert out.shape == (2, 2 * D)
    for k in range(3):
        changed = list(streams)
        changed[k] = _stream(torch.randn(*streams[k].sequence.shape))
        assert not torch.allclose(fusion(changed), out, atol=1e-4)
    padded = [_padded(s, 4) for s in streams]
    assert torch.allclose(fusion(padded), out, atol=1e-5)


def test_hierarchical_fusion_order_matters():
    torch.manual_seed(0)
    fusion = HierarchicalCoAttentionFusion(3, D, nhead=4).eval()
    streams = [_stream(torch.randn(1, t, D)) for t in (6, 4, 3)]
    swapped = [streams[2], streams[1], streams[0]]
    assert not torch.allclose(fusion(streams), fusion(swapped), atol=1e-4)


def test_concat_fusion_is_the_stream_vectors():
    fusion = StreamFusion("concat", n_streams=2, d_model=D)
    a, b = _stream(torch.randn(2, 4, D)), _stream(torch.randn(2, 6, D))
    assert torch.equal(fusion([a, b]), torch.cat([a.vector, b.vector], -1))
    single = StreamFusion("concat", n_streams=1, d_model=D)
    assert torch.equal(single([a]), a.vector)
    with pytest.raises(ValueError, match="built for 2 streams"):
        fusion([a])


@pytest.mark.parametrize("method", ["concat", "coattention", "hierarchical"])
@pytest.mark.parametrize("n_streams", [2, 3])
def test_stream_fusion_output_size_matches(method, n_streams):
    fusion = StreamFusion(method, n_streams, d_model=D, nhead=4)
    streams = [_stream(torch.randn(2, 3 + i, D)) for i in range(n_streams)]
    out = fusion(streams)
    assert out.shape[-1] == fusion.output_size
    assert fusion.output_size == fusion_output_size(method, n_streams, D)


def test_unknown_fusion_method_is_an_error():
    with pytest.raises(ValueError, match="fusion method must be"):
        StreamFusion("sum", 2, D)


# ---------------------------------------------------------------------------
# Layer selection
# ---------------------------------------------------------------------------
def test_layer_selection_picks_the_wav2vec2_hidden_state():
    from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2

    from speechbrain_ext.synthetic.offline_models import build_wav2vec2

    # the layout of wav2vec2-base (post-layer-norm), with 4 layers
    src = build_wav2vec2(
        tempfile.mkdtemp(),
        num_hidden_layers=4,
        do_stable_layer_norm=False,
        feat_extract_norm="group",
    )
    w2v = Wav2Vec2(
        src,
        save_path=tempfile.mkdtemp(),
        freeze=True,
        freeze_feature_extractor=True,
        output_all_hiddens=True,
    ).eval()
    wav = torch.rand(1, 8000)
    hiddens = w2v(wav)
    assert hiddens.shape[0] == 5
    if w2v.normalize_wav:
        wav = torch.nn.functional.layer_norm(wav, wav.shape[1:])
    out = w2v.model(wav, output_hidden_states=True)
    for name, index in (("first", 0), ("middle", 2), ("final", 4)):
        chosen = select_hidden_layer(hiddens, name)
        assert torch.allclose(chosen, out.hidden_states[index], atol=1e-6)
    assert torch.allclose(
        select_hidden_layer(hiddens, "final"), out.last_hidden_state, atol=1e-6
    )


def test_wav2vec2_base_middle_layer_is_layer_6():
    hiddens = torch.arange(13.0).view(13, 1, 1, 1)
    assert int(select_hidden_layer(hiddens, "middle")) == 6


def test_fbank_encoder_stacks_all_layers_and_ignores_padding():
    torch.manual_seed(0)
    enc = FbankEncoder(
        InputNormalization(norm_type="global"),
        cnn_channels=[16, 16],
        rnn_size=8,
        rnn_layers=2,
        output_all_hiddens=True,
    )
    enc(torch.rand(4, 16000), torch.ones(4))  # statistics
    enc.eval()
    wav = torch.rand(1, 7333)
    alone = enc(wav, torch.ones(1))
    assert alone.shape[0] == 3
    batch = torch.cat(
        [torch.cat([wav, torch.zeros(1, 8667)], 1), torch.rand(1, 16000)]
    )
    together = enc(batch, torch.tensor([7333 / 16000, 1.0]))
    n = alone.shape[2]
    assert torch.allclose(alone[:, 0], together[:, 0, :n], atol=1e-5)
    with pytest.raises(ValueError, match="2 \\* rnn_size"):
        FbankEncoder(
            InputNormalization(),
            cnn_channels=[16, 8],
            rnn_size=8,
            output_all_hiddens=True,
        )


# ---------------------------------------------------------------------------
# Forward pass and stream selection
# ---------------------------------------------------------------------------
class StackedLayers(torch.nn.Module):
    """Waveform [batch, 80] -> 3 'layers' of 10 frames of 8 values."""

    def forward(self, wav, lens):
        frames = wav.view(wav.shape[0], -1, 8)
        return torch.stack([frames, frames + 10.0, frames + 20.0])


class Recorder(torch.nn.Module):
    """Records its input, returns a 64-d stream."""

    def __init__(self):
        super().__init__()
        self.inputs = []
        self.enc = BiLSTMSelfAttentionEncoder(input_size=8)

    def forward(self, x, lens):
        self.inputs.append(x)
        return self.enc(x, lens)


class Texts(torch.nn.Module):
    """Strings -> one 8-d frame per word (at least one)."""

    def __init__(self):
        super().__init__()
        self.read = []

    def forward(self, texts):
        self.read.append(list(texts))
        n = max(max(len(t.split()) for t in texts), 1)
        return torch.ones(len(texts), n, 8), torch.ones(len(texts))


def _tokenizer():
    tokenizer = CTCTextEncoder()
    tokenizer.update_from_iterable(list("ab "), sequence_input=False)
    tokenizer.insert_blank(index=0)
    return tokenizer


def _modules():
    torch.manual_seed(0)
    return {
        "encoder": StackedLayers(),
        "ctc_lin": torch.nn.Linear(8, 4),
        "hidden_encoder": Recorder(),
        "text_features": Texts(),
        "text_encoder": BiLSTMSelfAttentionEncoder(input_size=8),
        "fusion": StreamFusion("hierarchical", 2, 64),
        "emo_classifier": torch.nn.Linear(128, 4),
    }


@pytest.mark.parametrize("layer,offset", [("first", 0), ("middle", 10)])
def test_forward_hidden_stream_reads_the_chosen_layer(layer, offset):
    modules = _modules()
    wavs = torch.rand(2, 80)
    out = fused_asr_ser_forward(
        modules,
        wavs,
        torch.ones(2),
        log_softmax=Softmax(apply_log=True),
        hidden_layer=layer,
        tokenizer=_tokenizer(),
    )
    frames = wavs.view(2, -1, 8)
    assert torch.equal(modules["hidden_encoder"].inputs[0], frames + offset)
    # CTC reads the final layer
    expected = torch.log_softmax(modules["ctc_lin"](frames + 20.0), -1)
    assert torch.allclose(out["p_ctc"], expected, atol=1e-6)
    # the text stream read the hypotheses
    assert modules["text_features"].read[0] == [
        " ".join(h) for h in out["hyps"]
    ]
    assert out["p_emo"].shape == (2, 4)


def test_forward_text_stream_reads_given_transcripts():
    modules = _modules()
    out = fused_asr_ser_forward(
        modules,
        torch.rand(2, 80),
        torch.ones(2),
        log_softmax=Softmax(apply_log=True),
        tokenizer=_tokenizer(),
        texts=["A B", "B"],
        decode=False,
    )
    assert modules["text_features"].read == [["A B", "B"]]
    assert "hyps" not in out


def test_forward_text_stream_needs_asr_or_transcripts():
    modules = _modules()
    for name in ("encoder", "ctc_lin", "hidden_encoder"):
        del modules[name]
    modules["fusion"] = StreamFusion("concat", 1, 64)
    modules["emo_classifier"] = torch.nn.Linear(64, 4)
    with pytest.raises(ValueError, match="needs the ASR path"):
        fused_asr_ser_forward(
            modules, torch.rand(2, 80), torch.ones(2), Softmax(apply_log=True)
        )


def test_stream_modules_and_param_groups_follow_the_streams():
    modules = {
        name: torch.nn.Linear(2, 2)
        for name in (
            "encoder",
            "ctc_lin",
            "mfcc_frontend",
            "mfcc_encoder",
            "hidden_encoder",
            "text_features",
            "text_encoder",
            "fusion",
            "emo_classifier",
        )
    }
    kept = stream_modules(modules, ["hidden"])
    assert sorted(kept) == [
        "ctc_lin",
        "emo_classifier",
        "encoder",
        "fusion",
        "hidden_encoder",
    ]
    groups = {
        "model": {
            "modules": torch.nn.ModuleList(
                [modules["mfcc_encoder"], modules["hidden_encoder"]]
            ),
            "optimizer": None,
        }
    }
    restricted = restrict_param_groups(groups, kept)
    assert restricted["model"]["modules"] == [modules["hidden_encoder"]]
    del modules["text_features"]
    with pytest.raises(ValueError, match="text_features"):
        stream_modules(modules, ["mfcc", "text"])


def test_no_stream_is_the_asr_path_alone():
    """zero_shot_asr.yaml: no stream, no fusion, no emotion output."""
    modules = {
        name: torch.nn.Linear(2, 2)
        for name in ("encoder", "ctc_lin", "mfcc_encoder", "fusion")
    }
    modules["emo_classifier"] = torch.nn.Linear(2, 2)
    assert sorted(stream_modules(modules, [])) == ["ctc_lin", "encoder"]
    del modules["ctc_lin"]
    with pytest.raises(ValueError) as error:
        stream_modules(modules, [])
    assert str(error.value) == (
        "no stream and no ASR path (encoder, ctc_lin): nothing to run; "
        "choose streams among mfcc, hidden, text"
    )

    class Encoder(torch.nn.Module):
        def forward(self, wavs, wav_lens):
            return torch.zeros(3, wavs.shape[0], 10, 4)

    tok = CTCTextEncoder()
    tok.update_from_iterable(["A", " "])
    tok.insert_blank(index=0)
    ctc = torch.nn.Linear(4, 3)
    with torch.no_grad():
        ctc.weight.zero_()
        ctc.bias.zero_()
        ctc.bias[tok.lab2ind["A"]] = 5.0
    out = fused_asr_ser_forward(
        {"encoder": Encoder(), "ctc_lin": ctc},
        torch.rand(2, 800),
        torch.ones(2),
        log_softmax=Softmax(apply_log=True),
        tokenizer=tok,
    )
    assert sorted(out) == ["feat_lens", "hyps", "p_ctc"]
    # "A" on every frame: one "A" per utterance
    assert out["hyps"] == [["A"]] * 2


# ---------------------------------------------------------------------------
# The family's forward pass from the yaml's hyperparameters
# ---------------------------------------------------------------------------
def test_fusion_forward_text_stream_reads_the_hypothesis_not_the_words():
    """text_source: hyp (default): the batch's transcripts are ignored."""
    modules = _modules()
    out = fusion_forward(
        modules,
        SimpleNamespace(hidden_layer="first", blank_index=0),
        torch.rand(2, 80),
        torch.ones(2),
        sb.Stage.TRAIN,
        tokenizer=_tokenizer(),
        texts=["TRUE WORDS", "MORE TRUE WORDS"],
    )
    hyps = [" ".join(h) for h in out["hyps"]]
    assert modules["text_features"].read == [hyps]
    assert "TRUE WORDS" not in hyps
    assert torch.allclose(out["p_emo"].exp().sum(-1), torch.ones(2))


def test_fusion_forward_reads_the_yaml_keys():
    wavs = torch.rand(2, 80)
    frames = wavs.view(2, -1, 8)
    for layer, offset in (("first", 0.0), ("middle", 10.0), ("final", 20.0)):
        modules = _modules()
        fusion_forward(
            modules,
            SimpleNamespace(hidden_layer=layer),
            wavs,
            torch.ones(2),
            tokenizer=_tokenizer(),
        )
        seen = modules["hidden_encoder"].inputs[0]
        assert torch.equal(seen, frames + offset), layer
    # text_source: wrd (SER baselines): the true words, no decoding in
    # training
    modules = _modules()
    out = fusion_forward(
        modules,
        SimpleNamespace(text_source="wrd"),
        wavs,
        torch.ones(2),
        sb.Stage.TRAIN,
        tokenizer=_tokenizer(),
        texts=("A B", "B"),
    )
    assert modules["text_features"].read == [["A B", "B"]]
    assert "hyps" not in out and out["p_emo"].shape == (2, 4)
    # outside training the hypotheses are decoded (the WER is scored)
    out = fusion_forward(
        _modules(),
        SimpleNamespace(text_source="wrd"),
        wavs,
        torch.ones(2),
        sb.Stage.VALID,
        tokenizer=_tokenizer(),
        texts=["A B", "B"],
    )
    assert len(out["hyps"]) == 2
    with pytest.raises(ValueError, match="text_source: wrd needs"):
        fusion_forward(
            _modules(), SimpleNamespace(text_source="wrd"), wavs, torch.ones(2)
        )
