"""Residual-BLSTM + E-transformer encoder: shapes, ablations, paper sizes,
residual paths, fixed-length input, the family's forward pass and the
recipe's brain."""

import os
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_ext.lobes.models.residual_blstm_etransformer import (
    ConvLayers,
    ETransformer,
    ResidualBLSTM,
    ResidualBLSTMETransformer,
    TimePooling,
    residual_forward,
)
from speechbrain_ext.nnet.windows import FixedLengthFrames
from speechbrain_ext.recipe.experiment import load_recipe_module

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RECIPE = os.path.join(
    ROOT,
    "recipes",
    "IEMOCAP",
    "emotion_recognition",
    "residual_BLSTM_Etransformer",
)
HPARAMS = os.path.join(RECIPE, "hparams")

# The overrides of the README, per model of the paper's Table 2
VARIANTS = {
    "full": {},
    "base1": {"residual_blstm": False},
    "base2": {"transformer": "plain"},
    "base3": {"residual_blstm": False, "transformer": "plain"},
    "base4": {"time_pooling": False},
    "base5": {"transformer": "none"},
    "base6": {"residual_blstm": False, "transformer": "none"},
    "base7": {
        "use_conv": False,
        "residual_blstm": False,
        "transformer": "none",
    },
}
SMALL = dict(
    conv_channels=16,
    hidden_size=8,
    ffn_size=32,
    d_model=16,
    nhead=2,
    d_ffn=32,
)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_ablation_builds_and_runs(name):
    torch.manual_seed(0)
    model = ResidualBLSTMETransformer(10, **SMALL, **VARIANTS[name])
    out = model(torch.randn(3, 21, 10))
    assert out.shape == (3, 32) and model.output_size == 32
    out = model(torch.randn(3, 21, 10), torch.tensor([1.0, 0.5, 0.2]))
    assert torch.isfinite(out).all()
    out.sum().backward()
    switches = {**VARIANTS["full"], **VARIANTS[name]}
    assert (model.conv is not None) == switches.get("use_conv", True)
    assert (model.time_pooling is not None) == switches.get(
        "time_pooling", True
    )
    assert all(
        b.residual == switches.get("residual_blstm", True) for b in model.blstms
    )
    kind = switches.get("transformer", "etransformer")
    assert len(model.transformers) == (0 if kind == "none" else 3)
    assert all(
        t.convolutions == (kind == "etransformer") for t in model.transformers
    )


def test_wrong_switches_fail():
    with pytest.raises(ValueError, match="transformer must be one of"):
        ResidualBLSTMETransformer(10, transformer="conformer")
    # a residual BLSTM straight on 40 log-mel cannot add its input
    with pytest.raises(ValueError, match="input_size == output_size"):
        ResidualBLSTMETransformer(40, use_conv=False)


def test_time_pooling_halves_the_frames():
    x = torch.arange(12.0).reshape(1, 6, 2)
    pool = TimePooling(dropout=0.2).eval()
    assert torch.equal(pool(x), x.reshape(1, 3, 2, 2).amax(2))
    seen = []
    model = ResidualBLSTMETransformer(10, **SMALL).eval()
    model.transformers[0].register_forward_hook(
        lambda m, i, o: seen.append(i[0].shape[1])
    )
    model(torch.randn(2, 40, 10))
    no_pool = ResidualBLSTMETransformer(10, **SMALL, time_pooling=False)
    no_pool.transformers[0].register_forward_hook(
        lambda m, i, o: seen.append(i[0].shape[1])
    )
    no_pool.eval()(torch.randn(2, 40, 10))
    assert seen == [20, 40]


def _zero_(*modules):
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.zero_()


def test_residual_blstm_adds_its_input():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 16)
    block = ResidualBLSTM(16, hidden_size=8, ffn_size=32, output_size=16)
    block.eval()
    hidden, _ = block.blstm(x)
    expected = block.ffn(hidden) + x
    assert torch.allclose(block(x), expected, atol=1e-6)
    # Eq. (1): with the FFN's last layer at zero, H = X
    _zero_(block.ffn[2])
    assert torch.allclose(block(x), x)
    plain = ResidualBLSTM(16, 8, 32, 16, residual=False).eval()
    _zero_(plain.ffn[2])
    assert torch.equal(plain(x), torch.zeros_like(x))
    # the same parameters with and without the residual connection
    n = sum(p.numel() for p in block.parameters())
    assert n == sum(p.numel() for p in plain.parameters())


def test_etransformer_adds_its_input():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 16)
    block = ETransformer(d_model=16, nhead=2, d_ffn=32).eval()
    inner = block.transformer(block.conv_in(x))[0]
    assert torch.allclose(block(x), block.conv_out(inner) + x, atol=1e-6)
    # Eq. (8): with the output convolution's LayerNorm at zero, Y = T
    _zero_(block.conv_out[2])
    assert torch.allclose(block(x), x)
    # Conv1d layers: convolution -> ReLU -> LayerNorm
    kinds = [type(m).__name__ for m in block.conv_in]
    assert kinds == ["Conv1d", "ReLU", "LayerNorm"]
    plain = ETransformer(16, 2, 32, convolutions=False).eval()
    assert not hasattr(plain, "conv_in")
    assert torch.allclose(plain(x), plain.transformer(x)[0])


def test_etransformer_encoder_layers():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 16)
    one = ETransformer(d_model=16, nhead=2, d_ffn=32).eval()
    # One layer: the parameter names of the one-layer module
    assert not any("extra_layers" in name for name in one.state_dict())
    two = ETransformer(d_model=16, nhead=2, d_ffn=32, encoder_layers=2).eval()
    assert len(two.extra_layers) == 1
    inner = two.transformer(two.conv_in(x))[0]
    inner = two.extra_layers[0](inner)[0]
    assert torch.allclose(two(x), two.conv_out(inner) + x, atol=1e-6)
    layer = sum(p.numel() for p in one.transformer.parameters())
    n_one = sum(p.numel() for p in one.parameters())
    assert sum(p.numel() for p in two.parameters()) == n_one + layer
    plain = ETransformer(16, 2, 32, convolutions=False, encoder_layers=3)
    plain.eval()
    hidden = plain.transformer(x)[0]
    for extra in plain.extra_layers:
        hidden = extra(hidden)[0]
    assert torch.allclose(plain(x), hidden, atol=1e-6)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="encoder_layers must be an"):
            ETransformer(16, 2, 32, encoder_layers=bad)


def test_conv_layers_residual_around_the_last_block():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 10)
    conv = ConvLayers(10, channels=16).eval()
    kinds = [type(m).__name__ for m in conv.blocks[0]]
    assert kinds == ["Conv1d", "BatchNorm1d", "ReLU"]
    before_last = conv.blocks[1](conv.blocks[0](x))
    # the last block outputs zero: the module outputs its input
    _zero_(conv.blocks[2][1])
    assert torch.allclose(conv(x), before_last)


def test_attention_and_statistics_ignore_the_padding():
    """With lengths, frames beyond them do not change the embeddings."""
    torch.manual_seed(0)
    model = ResidualBLSTMETransformer(
        10, **SMALL, use_conv=False, residual_blstm=False, transformer="plain"
    ).eval()
    x = torch.randn(2, 20, 10)
    lengths = torch.tensor([1.0, 0.5])
    noisy = x.clone()
    noisy[1, 10:] = 100.0
    assert torch.allclose(model(x, lengths), model(noisy, lengths), atol=1e-3)


def test_fixed_length_cuts_and_pads():
    feats = torch.randn(2, 8, 3)
    cut = FixedLengthFrames(max_duration=0.05, frame_rate=100)
    out, lens = cut(feats, torch.tensor([1.0, 0.5]))
    assert out.shape == (2, 5, 3)
    assert torch.equal(out[0], feats[0, :5])
    assert torch.equal(out[1, :4], feats[1, :4])
    assert torch.equal(out[1, 4:], torch.zeros(1, 3))
    assert (lens * 5).long().tolist() == [5, 4]
    out, lens = FixedLengthFrames(0.16)(feats, torch.tensor([1.0, 0.5]))
    assert out.shape == (2, 16, 3)
    assert torch.equal(out[0, :8], feats[0])
    assert out[0, 8:].abs().sum() == 0 and out[1, 4:].abs().sum() == 0
    assert (lens * 16).long().tolist() == [8, 4]


def _load(name, overrides=None):
    defaults = {"data_folder": "IEMOCAP"}
    if name == "train.yaml":  # the corpora are placeholders
        defaults["musan_folder"] = "musan"
    with open(os.path.join(HPARAMS, name), encoding="utf-8") as f:
        return load_hyperpyyaml(f, {**defaults, **(overrides or {})})


def test_paper_size_configuration():
    """train.yaml: the sizes of Section 2 and the parameter count."""
    hparams = _load("train.yaml")
    model = hparams["encoder"]
    assert hparams["n_mels"] == 40
    assert hparams["max_duration"] == 4.0
    assert hparams["fixed_length"].max_frames == 400
    assert hparams["batch_size"] == 32 and hparams["lr"] == 1e-4
    fbank = hparams["compute_features"]
    assert fbank(torch.zeros(1, 64000)).shape == (1, 401, 40)
    # 3-Conv-Layers: kernels 5, 3, 3, 128 channels, stride 1
    convs = [block[0].conv for block in model.conv.blocks]
    assert [c.kernel_size[0] for c in convs] == [5, 3, 3]
    assert [c.out_channels for c in convs] == [128] * 3
    assert all(c.stride == (1,) for c in convs)
    # two residual-BLSTMs: 128 units per direction, FFN 256 -> 512 -> 128
    assert len(model.blstms) == 2
    for block in model.blstms:
        assert block.residual and block.dropout.p == 0.2
        assert block.blstm.rnn.hidden_size == 128
        assert block.blstm.rnn.bidirectional
        assert [block.ffn[0].in_features, block.ffn[0].out_features] == [
            256,
            512,
        ]
        assert block.ffn[2].out_features == 128
    assert model.time_pooling.pool.pool_layer.kernel_size == 2
    assert model.time_pooling.pool.pool_layer.stride == 2
    assert model.time_pooling.dropout.p == 0.2
    # three E-transformers of one encoder layer: conv k3 128, 8 heads,
    # d_model 128
    assert len(model.transformers) == 3
    assert hparams["transformer_encoder_layers"] == 1
    for block in model.transformers:
        assert len(block.extra_layers) == 0
        assert block.conv_in[0].conv.kernel_size == (3,)
        attention = block.transformer.self_att.att
        assert attention.num_heads == 8 and attention.embed_dim == 128
    # Parameters, from the layer sizes
    conv = (40 * 5 + 1) * 128 + 2 * (128 * 3 + 1) * 128 + 3 * 2 * 128
    lstm = 2 * 4 * 128 * (128 + 128 + 2)
    ffn = (256 + 1) * 512 + (512 + 1) * 128
    conv1d_ln = (128 * 3 + 1) * 128 + 2 * 128
    attention = 4 * (128 + 1) * 128
    transformer_ffn = (128 + 1) * 512 + (512 + 1) * 128
    etransformer = 2 * conv1d_ln + attention + transformer_ffn + 2 * 2 * 128
    expected = conv + 2 * (lstm + ffn) + 3 * etransformer
    assert sum(p.numel() for p in model.parameters()) == expected == 1939968
    classifier = hparams["classifier"]
    assert classifier.w.in_features == 256 == model.output_size
    assert classifier.w.out_features == 4


@pytest.mark.parametrize("name", ["base4", "base7"])
def test_yaml_switches_give_the_ablations(name):
    hparams = _load("train_demo.yaml", VARIANTS[name])
    model = hparams["encoder"]
    assert (model.conv is None) == (name == "base7")
    assert (model.time_pooling is None) == (name == "base4")
    # the variant names the output folder
    assert hparams["variant"] in hparams["output_folder"]


def test_protocol_keys_reach_the_preparation():
    """train.yaml: the paper's random 5-fold split by default, stratified,
    leave-one-session-out as an override."""
    hparams = _load("train.yaml")
    assert hparams["protocol"] == "random_kfold"
    assert (hparams["n_folds"], hparams["valid_percent"]) == (5, 10)
    prepare = hparams["data_preparation"][0]
    assert prepare.keywords["protocol"] == "random_kfold"
    assert prepare.keywords["n_folds"] == 5
    assert prepare.keywords["valid_percent"] == 10
    assert prepare.keywords["seed"] == hparams["split_seed"]
    # the split does not follow the training seed
    other = _load("train.yaml", {"seed": 7})
    assert (
        other["data_preparation"][0].keywords["seed"] == hparams["split_seed"]
    )
    assert "/random_kfold1/" in hparams["output_folder"]
    session = _load("train.yaml", {"protocol": "session", "fold": 2})
    assert session["data_preparation"][0].keywords["protocol"] == "session"
    assert "/session2/" in session["output_folder"]
    demo = _load("train_demo.yaml")
    assert demo["protocol"] == "session"
    assert demo["data_preparation"][1].keywords["n_folds"] == 5


@pytest.mark.parametrize("name", ["train.yaml", "train_demo.yaml"])
def test_encoder_layers_per_etransformer_from_the_yaml(name):
    hparams = _load(name, {"transformer_encoder_layers": 2})
    blocks = hparams["encoder"].transformers
    assert len(blocks) == 3
    assert all(len(block.extra_layers) == 1 for block in blocks)
    # its own output folder: checkpoints of another depth are not resumed
    assert "_etransformer_enc2_" in hparams["output_folder"]
    assert "_etransformer_enc1_" in _load(name)["output_folder"]


def _small_demo(tmp_path):
    """train_demo.yaml at a few parameters, for quick forward passes."""
    overrides = {"output_folder": str(tmp_path), "max_duration": 0.5}
    return _load("train_demo.yaml", {**SMALL, **overrides})


def test_residual_forward_is_the_models_pipeline(tmp_path):
    """Fbank -> normalisation -> 50 frames -> encoder -> classifier, read
    from the waveforms it is given."""
    hparams = _small_demo(tmp_path)
    modules = torch.nn.ModuleDict(hparams["modules"])
    attrs = SimpleNamespace(**hparams)
    wavs, lens = torch.randn(3, 8000), torch.tensor([1.0, 0.6, 0.3])
    # the normalisation statistics follow the first epoch's batches only
    modules.train()
    residual_forward(modules, attrs, wavs, lens, sb.Stage.TRAIN, epoch=1)
    count = modules["normalize"].count
    residual_forward(modules, attrs, wavs, lens, sb.Stage.TRAIN, epoch=2)
    assert modules["normalize"].count == count > 0
    modules.eval()
    out = residual_forward(modules, attrs, wavs, lens)
    assert sorted(out) == ["p_emo"]
    feats = modules["normalize"](hparams["compute_features"](wavs), lens)
    feats, _ = FixedLengthFrames(0.5)(feats, lens)
    logits = modules["classifier"](modules["encoder"](feats))
    expected = hparams["log_softmax"](logits)
    assert out["p_emo"].shape == (3, 4)
    assert torch.allclose(out["p_emo"], expected, atol=1e-4)
    noisy = residual_forward(modules, attrs, wavs + torch.randn(3, 8000), lens)
    assert not torch.allclose(noisy["p_emo"], out["p_emo"])


def test_recipe_scores_the_audio_of_the_test_condition(tmp_path):
    """The recipe's forward pass reads the batch's sig, which the core
    mixes the condition's noise into; the core scores its p_emo."""
    hparams = _small_demo(tmp_path)
    noise = torch.randn(2, 8000)

    def mixer(wavs, wav_lens, ids, condition):
        return wavs + noise

    recipe = load_recipe_module(os.path.join(RECIPE, "train.py"))
    brain = recipe.EmotionBrain(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts={"device": "cpu"},
        param_groups=hparams["param_groups"],
        condition_mixer=mixer,
        selection_metric=hparams["selection_metric"],
    )
    wavs = torch.randn(2, 8000)
    batch = PaddedBatch(
        [
            {"id": f"u{i}", "sig": wavs[i], "emo_encoded": torch.tensor([i])}
            for i in range(2)
        ]
    )
    # a training pass gives the normalisation its statistics
    brain.compute_forward(batch, sb.Stage.TRAIN)
    brain.modules.eval()
    brain.on_stage_start(sb.Stage.TEST)
    clean = brain.compute_forward(batch, sb.Stage.TEST)
    brain.test_condition = SimpleNamespace(name="noise_5dB")
    prepared = brain.prepare_batch(batch, sb.Stage.TEST)
    noisy = brain.compute_forward(prepared, sb.Stage.TEST)
    expected = residual_forward(
        brain.modules, brain.hparams, wavs + noise, torch.ones(2)
    )
    assert torch.allclose(noisy["p_emo"], expected["p_emo"], atol=1e-4)
    assert not torch.allclose(noisy["p_emo"], clean["p_emo"])
    brain.evaluate_batch(batch, sb.Stage.TEST)
    records = brain.stage_metrics.records
    assert [r["id"] for r in records] == ["u0", "u1"]
    assert [r["emo"] for r in records] == ["neu", "hap"]
    # the scored predictions are those of the noisy audio
    labels = hparams["emotions"]
    best = noisy["p_emo"].argmax(-1).tolist()
    assert [r["pred"] for r in records] == [labels[i] for i in best]
    assert brain.selection_metric == "UA"


@pytest.mark.parametrize("name", ["train.yaml", "train_demo.yaml"])
def test_noise_training_and_conditions_from_the_yaml(name):
    """Clean training and the seven conditions by default; noise_prob 1.0
    adds a noisy copy of every batch from the MUSAN training pools, in its
    own output folder."""
    hparams = _load(name)
    assert hparams["test_conditions"] == "paper7"
    assert (hparams["snr_low"], hparams["snr_high"]) == (5, 35)
    assert hparams["noise_prob"] == 0.0
    assert hparams["train_augment"] == [hparams["noise_augment"]]
    augment = hparams["noise_augment"]
    assert augment.augment_prob == 0.0 and augment.concat_original
    pools = hparams["noise_folder"]
    assert pools.startswith(hparams["output_folder"])
    assert [a.csv_file for a in augment.augmentations.values()] == [
        f"{pools}/{category}_train.csv"
        for category in ("noise", "music", "speech")
    ]
    assert all(a.pad_noise for a in augment.augmentations.values())
    prepare = hparams["data_preparation"][-1]
    assert prepare.func.__name__ == "prepare_musan"
    assert prepare.keywords["data_folder"] == hparams["musan_folder"]
    assert prepare.keywords["save_folder"] == pools
    if name == "train_demo.yaml":
        assert hparams["musan_folder"] == "data/synthemo/musan"
    noisy = _load(name, {"noise_prob": 1.0})
    assert noisy["noise_augment"].augment_prob == 1.0
    assert noisy["output_folder"] != hparams["output_folder"]
    assert "_noise1.0/" in noisy["output_folder"]
