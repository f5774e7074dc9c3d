"""Structured self-attention, the A2W SER branches and the A2W loading."""

import os
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.decoders import S2SRNNGreedySearcher
from speechbrain.lobes.features import Fbank
from speechbrain.nnet.embedding import Embedding
from speechbrain.processing.features import InputNormalization

from speechbrain_ext.dataio.word_tokens import (
    load_word_vocabulary,
    save_word_vocabulary,
    word_vocabulary,
)
from speechbrain_ext.lobes.models.a2w import (
    A2WEncoder,
    TanhOutputLayer,
    a2w_decoder,
)
from speechbrain_ext.lobes.models.a2w_ser import (
    A2WTranscriber,
    BiLSTMStructuredAttention,
    a2w_asr_features,
    a2w_ser_forward,
    check_decoding_bound,
    decoder_states,
    load_a2w,
    load_a2w_vocabulary,
    pad_sequences,
)
from speechbrain_ext.nnet.structured_attention import (
    StructuredSelfAttentionPooling,
    attention_penalty,
)
from speechbrain_ext.nnet.windows import FixedLengthFrames
from speechbrain_ext.synthetic.random_a2w import build_random_a2w

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HPARAMS = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "A2W_attention", "hparams"
)


# ----------------------------------------------------------------------
# Structured self-attention
# ----------------------------------------------------------------------
def test_padding_frames_get_zero_weight_and_do_not_matter():
    torch.manual_seed(0)
    pool = StructuredSelfAttentionPooling(6, attention_size=5, n_heads=3)
    h = torch.randn(2, 10, 6)
    pooled, attn = pool(h, torch.tensor([1.0, 0.6]))
    assert torch.all(attn[1, :, 6:] == 0)
    assert torch.all(attn[1, :, :6] > 0)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 3))
    # garbage in the padding changes nothing
    noisy = h.clone()
    noisy[1, 6:] = 100.0 * torch.randn(4, 6)
    assert torch.allclose(pool(noisy, torch.tensor([1.0, 0.6]))[0], pooled)
    # the utterance alone gives the same vector
    alone, _ = pool(h[1:, :6], torch.ones(1))
    assert torch.allclose(alone[0], pooled[1], atol=1e-6)


def test_output_is_one_vector_per_head():
    pool = StructuredSelfAttentionPooling(4, attention_size=7, n_heads=5)
    h = torch.randn(3, 9, 4)
    pooled, attn = pool(h)
    assert pooled.shape == (3, 5 * 4) and attn.shape == (3, 5, 9)
    # head i's vector is its weighted sum of the frames
    head2 = (attn[:, 2].unsqueeze(-1) * h).sum(1)
    assert torch.allclose(pooled.view(3, 5, 4)[:, 2], head2, atol=1e-6)


def test_penalty_is_zero_for_orthogonal_one_hot_heads():
    one_hot = torch.zeros(2, 3, 6)
    for head, frame in enumerate([0, 2, 5]):
        one_hot[:, head, frame] = 1.0
    assert attention_penalty(one_hot).item() == 0.0
    uniform = torch.full((2, 3, 6), 1 / 6)
    # AA^T = 1/6 everywhere: 3 * (1 - 1/6)^2 + 6 * (1/6)^2
    expected = 3 * (5 / 6) ** 2 + 6 * (1 / 6) ** 2
    assert attention_penalty(uniform).item() == pytest.approx(expected)


def test_penalty_pushes_heads_apart():
    torch.manual_seed(0)
    pool = StructuredSelfAttentionPooling(8, attention_size=8, n_heads=4)
    h = torch.randn(4, 12, 8)
    optimizer = torch.optim.Adam(pool.parameters(), lr=0.05)
    first = attention_penalty(pool(h)[1]).item()
    for _ in range(60):
        loss = attention_penalty(pool(h)[1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


# ----------------------------------------------------------------------
# Branch encoder and acoustic front end
# ----------------------------------------------------------------------
def test_branch_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = BiLSTMStructuredAttention(
        5, hidden_size=6, n_heads=2, attention_size=4
    ).eval()
    x = torch.randn(2, 15, 5)
    x[1, 9:] = 50.0
    vector, attn = enc(x, torch.tensor([1.0, 9 / 15]))
    alone, _ = enc(x[1:, :9], torch.ones(1))
    assert vector.shape == (2, 2 * 2 * 6) and enc.output_size == 24
    assert torch.allclose(alone[0], vector[1], atol=1e-5)
    assert torch.all(attn[1, :, 9:] == 0)


def test_branch_classifier_learns():
    """BiLSTM + attention + FC tells rising from falling sequences."""
    torch.manual_seed(0)
    enc = BiLSTMStructuredAttention(
        1, hidden_size=8, n_heads=2, attention_size=8, dropout=0.0
    )
    head = torch.nn.Linear(enc.output_size, 2)
    params = list(enc.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=0.01)
    ramp = torch.linspace(-1, 1, 12)
    x = torch.stack([ramp, -ramp] * 8).unsqueeze(-1)
    x = x + 0.3 * torch.randn_like(x)
    y = torch.tensor([0, 1] * 8)
    lens = torch.ones(16)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(head(enc(x, lens)[0]), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_fixed_length_cuts_and_pads():
    cut = FixedLengthFrames(max_duration=0.3, frame_rate=100)
    feats = torch.ones(2, 50, 4)
    out, lens = cut(feats, torch.tensor([1.0, 0.4]))
    assert out.shape == (2, 30, 4)
    assert (lens * 30).round().tolist() == [30.0, 20.0]
    assert out[1, 20:].abs().sum() == 0 and out[1, :20].sum() == 80
    short, lens = cut(torch.ones(1, 12, 4), torch.ones(1))
    assert short.shape == (1, 30, 4) and short[0, 12:].abs().sum() == 0
    assert (lens * 30).round().tolist() == [12.0]
    unpadded, _ = FixedLengthFrames(0.3, pad=False)(
        torch.ones(1, 12, 4), torch.ones(1)
    )
    assert unpadded.shape == (1, 12, 4)


def test_pad_sequences_with_bos():
    ids, lens = pad_sequences([[3], [4, 5, 6]], prefix=9)
    assert ids.tolist() == [[9, 3, 0, 0], [9, 4, 5, 6]]
    assert (lens * 4).tolist() == [2.0, 4.0]


# ----------------------------------------------------------------------
# A2W side of the ASR-SER model
# ----------------------------------------------------------------------
VOCAB = word_vocabulary(["A", "B", "C"], eos=True)
WORDS = ["<unk>", "A", "B", "C", "<eos>"]


def _a2w_modules(ordering="paper"):
    torch.manual_seed(0)
    mods = torch.nn.ModuleDict(
        {
            "normalize": InputNormalization(norm_type="global"),
            "enc": A2WEncoder(8, hidden_size=6, num_layers=1),
            "emb": Embedding(num_embeddings=5, embedding_dim=4),
            "dec": a2w_decoder(
                ordering,
                rnn_type="lstm",
                attn_type="location",
                hidden_size=10,
                attn_dim=10,
                num_layers=1,
                enc_dim=12,
                input_size=4,
                channels=2,
                kernel_size=3,
            ),
            "seq_lin": TanhOutputLayer(10, 10, 5),
        }
    )
    # global statistics, as a pre-trained model has them
    mods["normalize"](torch.randn(4, 30, 8), torch.ones(4))
    return mods


def _searcher(mods):
    return S2SRNNGreedySearcher(
        embedding=mods["emb"],
        decoder=mods["dec"],
        linear=mods["seq_lin"],
        bos_index=4,
        eos_index=4,
        min_decode_ratio=0.0,
        max_decode_ratio=1.0,
    )


@pytest.mark.parametrize("ordering", ["paper", "speechbrain"])
def test_asr_features_teacher_forced_and_from_hypothesis(ordering):
    mods = _a2w_modules(ordering).eval()
    feats, lens = torch.randn(2, 30, 8), torch.tensor([1.0, 0.7])
    tokens, token_lens = pad_sequences([[1, 2], [3]], prefix=4)
    train = a2w_asr_features(mods, feats, lens, tokens, token_lens)
    assert train["states"].shape == (2, 3, 10)
    assert train["p_seq"].shape == (2, 3, 5) and "hyp_ids" not in train
    batch = (mods, feats, lens, tokens, token_lens, _searcher(mods))
    oracle = a2w_asr_features(*batch, states_from="wrd")
    assert torch.equal(oracle["states"], train["states"])
    hyp = a2w_asr_features(*batch, states_from="hyp", bos_index=4)
    # the states given the hypothesis are those of a teacher-forced pass
    # on it, one per hypothesis word plus the bos step
    hyp_tokens, hyp_lens = pad_sequences(hyp["hyp_ids"], prefix=4)
    enc = mods["enc"](mods["normalize"](feats, lens), lens)
    expected, _ = decoder_states(mods, enc, lens, hyp_tokens)
    assert torch.allclose(hyp["states"], expected)
    assert torch.allclose(hyp["state_lens"], hyp_lens)
    assert 4 not in [i for h in hyp["hyp_ids"] for i in h]


def test_asr_features_are_the_lstm_states_in_the_paper_ordering():
    mods = _a2w_modules("paper").eval()
    cell_outputs = []
    mods["dec"].rnn.register_forward_hook(
        lambda module, args, output: cell_outputs.append(output[0])
    )
    feats, lens = torch.randn(2, 30, 8), torch.ones(2)
    tokens, token_lens = pad_sequences([[1, 2], [3]], prefix=4)
    out = a2w_asr_features(mods, feats, lens, tokens, token_lens)
    assert torch.equal(out["states"], torch.stack(cell_outputs, dim=1))


def _asr_ser_model(ordering="paper"):
    """The A2W modules with the SER branches of the ASR-SER model."""
    mods = _a2w_modules(ordering)
    mods["ser_normalize"] = InputNormalization(norm_type="global")
    mods["audio_branch"] = BiLSTMStructuredAttention(
        8, hidden_size=4, n_heads=2, attention_size=6
    )
    mods["text_branch"] = BiLSTMStructuredAttention(
        10, hidden_size=4, n_heads=2, attention_size=6
    )
    mods["emo_classifier"] = torch.nn.Linear(32, 4)
    mods["ser_normalize"](torch.randn(4, 30, 8), torch.ones(4))
    hparams = SimpleNamespace(
        compute_features=Fbank(n_mels=8),
        fixed_length=FixedLengthFrames(max_duration=0.5),
        valid_search=_searcher(mods),
        test_search=_searcher(mods),
        ser_decoder_input="hyp",
        bos_index=4,
    )
    return mods, hparams


def test_family_forward_follows_the_prediction_contract():
    mods, hparams = _asr_ser_model()
    mods.eval()
    wavs, lens = torch.randn(2, 8000), torch.tensor([1.0, 0.6])
    tokens = pad_sequences([[1, 2], [3]], prefix=4)
    train = a2w_ser_forward(
        mods, hparams, wavs, lens, sb.Stage.TRAIN, VOCAB, tokens=tokens
    )
    assert sorted(train) == ["attentions", "p_emo", "p_seq"]
    assert train["p_seq"].shape == (2, 3, 5) and len(train["attentions"]) == 2
    # test and inference: the beam (here greedy) search's words; the
    # transcript, when there is one, only adds the L_ASR inputs
    test = a2w_ser_forward(
        mods, hparams, wavs, lens, sb.Stage.TEST, VOCAB, tokens=tokens
    )
    served = a2w_ser_forward(mods, hparams, wavs, lens, vocabulary=VOCAB)
    assert "p_seq" not in served and "p_seq" in test
    assert served["hyps"] == test["hyps"] and len(served["hyps"]) == 2
    assert all(w in WORDS[:-1] for hyp in served["hyps"] for w in hyp)
    assert torch.allclose(served["p_emo"], test["p_emo"])
    assert served["p_emo"].shape == (2, 4)
    assert torch.allclose(served["p_emo"].exp().sum(-1), torch.ones(2))
    # the oracle reads the transcript's states: it needs the transcript
    hparams.ser_decoder_input = "wrd"
    with pytest.raises(ValueError, match="give a searcher and states_from"):
        a2w_ser_forward(mods, hparams, wavs, lens, vocabulary=VOCAB)


def test_baseline_forward_reads_texts_or_the_a2w_transcripts():
    mods, hparams = _asr_ser_model()
    words = word_vocabulary(["A", "B"])
    baseline = torch.nn.ModuleDict(
        {
            "asr_model": torch.nn.ModuleDict(
                {
                    k: mods[k]
                    for k in ("normalize", "enc", "emb", "dec", "seq_lin")
                }
            ),
            "word_emb": Embedding(num_embeddings=3, embedding_dim=5),
            "text_branch": BiLSTMStructuredAttention(
                5, hidden_size=4, n_heads=2, attention_size=6
            ),
            "emo_classifier": torch.nn.Linear(16, 4),
        }
    ).eval()
    wavs, lens = torch.randn(2, 8000), torch.ones(2)
    given = a2w_ser_forward(
        baseline, hparams, wavs, lens, text_vocab=words, texts=["A B", "C"]
    )
    assert "hyps" not in given and given["p_emo"].shape == (2, 4)
    decoded = a2w_ser_forward(
        baseline, hparams, wavs, lens, vocabulary=VOCAB, text_vocab=words
    )
    feats = hparams.compute_features(wavs)
    expected = A2WTranscriber(baseline["asr_model"], _searcher(mods), VOCAB)
    texts = expected(feats, lens)
    assert [" ".join(h) for h in decoded["hyps"]] == texts
    again = a2w_ser_forward(
        baseline, hparams, wavs, lens, text_vocab=words, texts=texts
    )
    assert torch.allclose(again["p_emo"], decoded["p_emo"])


def test_transcriber_decodes_each_utterance_once_per_condition():
    mods = _a2w_modules()
    calls = []
    searcher = _searcher(mods)

    def counting(enc, lens):
        calls.append(enc.shape[0])
        return searcher(enc, lens)

    transcribe = A2WTranscriber(mods, counting, VOCAB)
    feats, lens = torch.randn(2, 30, 8), torch.ones(2)
    first = transcribe(feats, lens, ["u1", "u2"])
    again = transcribe(feats, lens, ["u2", "u1"])
    assert again == first[::-1] and calls == [2]
    transcribe(feats, lens, ["u1", "u3"])
    assert calls == [2, 1]
    transcribe(feats, lens, ["u1"], condition="noise_5dB")
    assert calls == [2, 1, 1]
    # training batches (augmented audio): decoded every time, not cached
    assert transcribe(feats, lens) == first and calls == [2, 1, 1, 2]
    assert len(transcribe.cache) == 4
    assert not mods.training  # decoded in evaluation mode
    assert all(w in WORDS for text in first for w in text.split())


def test_vocabulary_checks(tmp_path):
    path = tmp_path / "vocabulary.txt"
    save_word_vocabulary(word_vocabulary(["A"], eos=True), str(path))
    vocabulary = load_a2w_vocabulary(str(path), 3)
    assert vocabulary.decode_ndim(range(3)) == ["<unk>", "A", "<eos>"]
    with pytest.raises(ValueError, match="lists 3 units.*output_neurons=4"):
        load_a2w_vocabulary(str(path), 4)
    save_word_vocabulary(word_vocabulary(["A", "<eos>"]), str(path))
    with pytest.raises(ValueError, match="ends with <eos>"):
        load_a2w_vocabulary(str(path))
    # a list of one word per line is read too
    path.write_text("<unk>\nA\n<eos>\n")
    assert len(load_a2w_vocabulary(str(path), 3)) == 3
    path.write_text("A\n<unk>\n<eos>\n")
    with pytest.raises(ValueError, match=f"{path}: .*starts with <unk>"):
        load_a2w_vocabulary(str(path))
    with pytest.raises(FileNotFoundError, match="pretrained_path"):
        load_a2w_vocabulary(str(tmp_path / "none.txt"))


# ----------------------------------------------------------------------
# Loading the pre-trained export through the recipe's Pretrainer
# ----------------------------------------------------------------------
def _demo_hparams(pretrained, **overrides):
    overrides = {"pretrained_path": str(pretrained), **overrides}
    with open(os.path.join(HPARAMS, "train_demo.yaml")) as fin:
        return load_hyperpyyaml(fin, overrides)


@pytest.mark.parametrize("ordering", ["paper", "speechbrain"])
def test_pretrainer_loads_the_export(tmp_path, ordering):
    export = build_random_a2w(
        os.path.join(HPARAMS, "train_demo.yaml"),
        str(tmp_path / "pretrained"),
        words=["HELLO", "WORLD"],
        overrides={"decoder_ordering": ordering},
        seed=3,
    )
    saved = torch.load(os.path.join(export, "enc.ckpt"))
    saved_dec = torch.load(os.path.join(export, "dec.ckpt"))
    hparams = _demo_hparams(export, decoder_ordering=ordering)
    vocabulary = load_a2w(
        hparams["pretrainer"],
        os.path.join(export, "vocabulary.txt"),
        hparams["output_neurons"],
    )
    words = vocabulary.decode_ndim(range(len(vocabulary)))
    assert words[:3] == ["<unk>", "HELLO", "WORLD"]
    # the copy the recipe saves for inference
    copy = tmp_path / "save" / "vocabulary.txt"
    again = load_a2w(
        hparams["pretrainer"],
        os.path.join(export, "vocabulary.txt"),
        hparams["output_neurons"],
        str(copy),
    )
    assert again.lab2ind == vocabulary.lab2ind
    assert load_word_vocabulary(str(copy)).lab2ind == vocabulary.lab2ind
    assert words[-1] == "<eos>"
    assert len(vocabulary) == hparams["output_neurons"]
    loaded = hparams["enc"].state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    loaded_dec = hparams["dec"].state_dict()
    assert sorted(saved_dec) == sorted(loaded_dec)
    assert all(torch.equal(saved_dec[k], loaded_dec[k]) for k in saved_dec)
    assert ("attend_first" in saved_dec) == (ordering == "paper")
    stats = torch.load(os.path.join(export, "normalize.ckpt"))
    assert torch.equal(hparams["normalize"].glob_mean, stats["glob_mean"])


def _load_a2w_error(export, **dims):
    """The message of ``load_a2w`` refusing ``export`` for a demo model
    built with ``dims``."""
    hparams = _demo_hparams(export, **dims)
    with pytest.raises(ValueError) as error:
        load_a2w(
            hparams["pretrainer"],
            os.path.join(export, "vocabulary.txt"),
            hparams["output_neurons"],
        )
    return str(error.value)


def test_shape_mismatch_names_file_parameter_and_shapes(tmp_path):
    export = build_random_a2w(
        os.path.join(HPARAMS, "train_demo.yaml"), str(tmp_path / "pretrained")
    )
    message = _load_a2w_error(export, enc_hidden=64)
    assert os.path.join(export, "enc.ckpt") in message
    assert "parameter 'rnn.forward_layers.0.weight_ih_l0'" in message
    assert "(512, 120)" in message and "(256, 120)" in message


# ----------------------------------------------------------------------
# The paper's data options in the yamls
# ----------------------------------------------------------------------


def _iemocap_preparation(name, arguments=()):
    """The prepare_iemocap step of a yaml, after command-line overrides."""
    import speechbrain as sb

    path = os.path.join(HPARAMS, name)
    _, _, overrides = sb.parse_arguments(
        [
            path,
            "--data_folder=IEMOCAP",
            "--pretrained_path=P",
            "--musan_folder=M",
            *arguments,
        ]
    )
    with open(path, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides, overrides_must_match=False)
    (step,) = [
        step
        for step in hparams["data_preparation"]
        if step.func.__name__ == "prepare_iemocap"
    ]
    return step.keywords


@pytest.mark.parametrize(
    "name",
    [
        "train.yaml",
        "audio_baseline.yaml",
        "text_baseline.yaml",
        "combined_baseline.yaml",
        "train_demo.yaml",
    ],
)
def test_yamls_leave_out_utterances_over_20_s_and_merge_exc(name):
    options = _iemocap_preparation(name)
    assert options["max_utterance_seconds"] == 20.0
    assert options["label_map"] == {"exc": "hap"}
    assert options["protocol"] == "session"


def test_table_4_and_table_5_overrides():
    from speechbrain_ext.dataio.iemocap_prepare import (
        expected_full_release_counts,
    )

    table4 = _iemocap_preparation(
        "train.yaml", ["--improvised_only=True", "--label_map={exc: exc}"]
    )
    assert table4["improvised_only"] is True
    assert table4["label_map"] == {"exc": "exc"}
    # exc is out of the four classes, the count check expects 4490
    counts = expected_full_release_counts(
        table4["label_map"], table4["emotions"]
    )
    assert sum(n for _, n in counts.values()) == 4490
    assert table4["max_utterance_seconds"] == 20.0
    # a mapping on the command line is merged into the yaml's: {} keeps exc
    # merged (hence the README's {exc: exc})
    merged = _iemocap_preparation("train.yaml", ["--label_map={}"])
    assert merged["label_map"] == {"exc": "hap"}
    table5 = _iemocap_preparation("audio_baseline.yaml", ["--protocol=random"])
    assert table5["protocol"] == "random"
    assert table5["split_ratio"] == [80, 10, 10]
    assert table5["max_utterance_seconds"] == 20.0


def test_export_of_the_other_ordering_is_named(tmp_path):
    export = build_random_a2w(
        os.path.join(HPARAMS, "train_demo.yaml"),
        str(tmp_path / "pretrained"),
        overrides={"decoder_ordering": "speechbrain"},
    )
    message = _load_a2w_error(export, decoder_ordering="paper")
    assert message.startswith(os.path.join(export, "dec.ckpt"))
    assert "decoder_ordering 'speechbrain'" in message
    assert "model's decoder has decoder_ordering 'paper'" in message


YAMLS = [
    "train.yaml",
    "audio_baseline.yaml",
    "text_baseline.yaml",
    "combined_baseline.yaml",
    "train_demo.yaml",
    "audio_baseline_demo.yaml",
    "text_baseline_demo.yaml",
    "combined_baseline_demo.yaml",
]


@pytest.mark.parametrize("name", YAMLS)
def test_every_yaml_noise_trains_on_train_pools_and_tests_paper7(name):
    import speechbrain as sb
    from speechbrain.augment.time_domain import AddNoise

    from speechbrain_ext.augment.noise_pools import NOISE_KEYS

    path = os.path.join(HPARAMS, name)
    _, _, overrides = sb.parse_arguments(
        [path, "--data_folder=IEMOCAP", "--pretrained_path=P"]
        + ([] if name.endswith("_demo.yaml") else ["--musan_folder=M"])
        + ["--noise_prob=1.0"]
    )
    with open(path, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides, overrides_must_match=False)
    assert set(NOISE_KEYS) <= set(hparams)
    assert hparams["test_conditions"] == "paper7"
    assert (hparams["snr_low"], hparams["snr_high"]) == (5, 35)
    (musan,) = [
        step.keywords
        for step in hparams["data_preparation"]
        if step.func.__name__ == "prepare_musan"
    ]
    assert musan["data_folder"] == hparams["musan_folder"]
    assert musan["save_folder"] == hparams["noise_folder"]
    augment = hparams["noise_augment"]
    assert hparams["train_augment"] == [augment]
    assert augment.concat_original and augment.augment_prob == 1.0
    pools = [noise.csv_file for noise in augment.augmentations.values()]
    assert all(isinstance(n, AddNoise) for n in augment.augmentations.values())
    folder = hparams["noise_folder"]
    assert sorted(pools) == [
        os.path.join(folder, f"{c}_train.csv")
        for c in ("music", "noise", "speech")
    ]


# ----------------------------------------------------------------------
# Decoding that stops
# ----------------------------------------------------------------------
@pytest.mark.parametrize("search", ["test_search", "valid_search"])
def test_decoder_whose_eos_never_wins_stops_at_the_data_bound(tmp_path, search):
    export = build_random_a2w(
        os.path.join(HPARAMS, "train_demo.yaml"), str(tmp_path / "a2w")
    )
    hparams = _demo_hparams(export)
    # the bound is the yaml's words per second of audio, per encoder frame
    frame_seconds = hparams["n_stack"] / 100
    assert hparams["max_decode_ratio"] == pytest.approx(
        hparams["max_words_per_second"] * frame_seconds
    )
    eos = hparams["eos_index"]
    with torch.no_grad():  # eos never wins, whatever the audio
        hparams["seq_lin"].w.bias[eos] = -1e4
    seconds = 3.0
    feats = torch.randn(2, int(seconds * 100), hparams["n_mels"])
    lens = torch.ones(2)
    enc = hparams["enc"](hparams["normalize"](feats, lens), lens)
    hyps = hparams[search](enc, lens)[0]
    steps = int(enc.shape[1] * hparams["max_decode_ratio"])
    assert steps == int(seconds * hparams["max_words_per_second"])
    # the beam search spends its last step on the eos it forces
    words = steps - 1 if search == "test_search" else steps
    assert [len(hyp) for hyp in hyps] == [words, words]
    assert all(eos not in hyp for hyp in hyps)


def test_decoding_bound_is_checked_against_the_training_set(tmp_path, caplog):
    manifest = tmp_path / "train.json"
    manifest.write_text(
        '{"slow": {"duration": 2.0, "wrd": "I AM HERE"},'
        ' "fast": {"duration": 1.0, "wrd": "I AM SO PROUD OF YOU"}}'
    )
    with caplog.at_level("WARNING"):
        assert check_decoding_bound(str(manifest), 6.5) == 6.0
    assert caplog.text == ""
    with caplog.at_level("WARNING"):
        assert check_decoding_bound(str(manifest), 5.4) == 6.0
    assert (
        f"{manifest}: utterance fast has 6.00 words per second, more than "
        "max_words_per_second=5.4" in caplog.text
    )
