"""The pretrained CTC head of wav2vec2 and its vocabulary (Li et al.).

The zero-shot ASR path (zero_shot_asr.yaml) and ``ctc_head: pretrained``
read the released CTC head and tokenizer of a wav2vec2 ASR model; a tiny
random ``Wav2Vec2ForCTC`` saved offline stands in for
wav2vec2-base-960h.
"""

import hashlib
import json
import os
import re
import shutil

import pytest
import soundfile as sf
import speechbrain as sb
import torch
from safetensors.torch import load_file
from speechbrain.dataio.encoder import CTCTextEncoder
from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2
from speechbrain.nnet.activations import Softmax
from speechbrain.nnet.linear import Linear
from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

from speechbrain_ext.lobes.models.coattention_fusion import (
    fused_asr_ser_forward,
)
from speechbrain_ext.lobes.models.joint_asr_ser import ctc_greedy_transcripts
from speechbrain_ext.lobes.models.pretrained_ctc import (
    PretrainedCTCHead,
    ctc_head,
)
from speechbrain_ext.recipe.data import add_pretrained_ctc_tokens
from speechbrain_ext.synthetic.offline_models import (
    CHARACTER_VOCABULARY,
    build_wav2vec2,
    build_wav2vec2_ctc,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SAMPLES = os.path.join(ROOT, "tests", "samples", "ASR")
# wav2vec2-base's layout: no final layer norm in the encoder
BASE_LAYOUT = dict(
    do_stable_layer_norm=False, feat_extract_norm="group", conv_bias=False
)
SPECIAL = re.compile(r"<s>|</s>|<unk>")


@pytest.fixture(scope="module")
def ctc_folders(tmp_path_factory):
    """Tiny wav2vec2 ASR models: with and without a final layer norm."""
    root = tmp_path_factory.mktemp("w2v_ctc")
    return {
        "stable": build_wav2vec2_ctc(str(root / "stable"), seed=3),
        "base": build_wav2vec2_ctc(str(root / "base"), seed=3, **BASE_LAYOUT),
    }


def _wav(name="spk1_snt1.wav"):
    wav, rate = sf.read(os.path.join(SAMPLES, name), dtype="float32")
    assert rate == 16000
    return torch.from_numpy(wav).unsqueeze(0)


def _zero_shot_modules(source, tmp_path):
    encoder = Wav2Vec2(
        source,
        save_path=str(tmp_path / "cache"),
        freeze=True,
        freeze_feature_extractor=True,
        output_all_hiddens=True,
    ).eval()
    head = ctc_head("pretrained", 96, 32, source=source).eval()
    return {"encoder": encoder, "ctc_lin": head}


def _checksums(folder):
    return {
        name: hashlib.sha256(
            open(os.path.join(folder, name), "rb").read()
        ).hexdigest()
        for name in sorted(os.listdir(folder))
    }


# ---------------------------------------------------------------------------
# The head and its vocabulary come from the folder
# ---------------------------------------------------------------------------
def test_head_vocabulary_and_weights_come_from_the_folder(ctc_folders):
    folder = ctc_folders["base"]
    before = _checksums(folder)
    head = PretrainedCTCHead(folder)
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    assert head.out_features == len(vocab) == 32
    assert head.labels == sorted(vocab, key=vocab.get)
    assert head.labels == CHARACTER_VOCABULARY
    assert head.blank_index == vocab["<pad>"] == 0
    # the weights are those saved, not a new initialisation
    saved = load_file(os.path.join(folder, "model.safetensors"))
    assert torch.equal(head.lm_head.weight, saved["lm_head.weight"])
    assert torch.equal(head.lm_head.bias, saved["lm_head.bias"])
    # a logit by hand: no final norm in wav2vec2-base's layout
    x = torch.randn(2, 5, 96)
    by_hand = x @ saved["lm_head.weight"].T + saved["lm_head.bias"]
    assert torch.allclose(head.eval()(x), by_hand, atol=1e-5)
    # the user's folder is only read
    assert _checksums(folder) == before


@pytest.mark.parametrize("layout", ["stable", "base"])
def test_zero_shot_logits_and_hypotheses_are_the_released_models(
    ctc_folders, layout, tmp_path
):
    source = ctc_folders[layout]
    modules = _zero_shot_modules(source, tmp_path)
    head = modules["ctc_lin"]
    wav = _wav()
    with torch.no_grad():
        out = fused_asr_ser_forward(
            modules,
            wav,
            torch.ones(1),
            log_softmax=Softmax(apply_log=True),
            tokenizer=head.tokenizer,
            blank_index=head.blank_index,
        )
    assert sorted(out) == ["feat_lens", "hyps", "p_ctc"]  # no emotion
    released = Wav2Vec2ForCTC.from_pretrained(source).eval()
    with torch.no_grad():
        # the input that SpeechBrain's Wav2Vec2 gives the model
        same_input = torch.nn.functional.layer_norm(wav, wav.shape[1:])
        logits = released(same_input).logits
        # transformers' own feature extraction (normalisation epsilon 1e-7
        # instead of layer_norm's 1e-5)
        processor = Wav2Vec2Processor.from_pretrained(source)
        values = processor(
            wav[0].numpy(), sampling_rate=16000, return_tensors="pt"
        ).input_values
        own_logits = released(values).logits
    assert out["p_ctc"].shape == logits.shape == (1, logits.shape[1], 32)
    assert torch.allclose(out["p_ctc"], logits.log_softmax(-1), atol=1e-4)
    assert torch.allclose(out["p_ctc"], own_logits.log_softmax(-1), atol=1e-2)
    ids = own_logits.argmax(-1)
    assert torch.equal(out["p_ctc"].argmax(-1), ids)
    # transformers' greedy CTC decoding (repeats merged, blanks dropped,
    # | between words), its special tokens then dropped
    text = SPECIAL.sub("", processor.batch_decode(ids)[0])
    assert out["hyps"] == [text.split()]
    assert out["hyps"][0], "the random model transcribes something"


def test_the_final_norm_of_stable_layer_norm_models_is_applied(
    ctc_folders, tmp_path
):
    """Without it the logits are not those of the released model."""
    source = ctc_folders["stable"]
    modules = _zero_shot_modules(source, tmp_path)
    head = modules["ctc_lin"]
    assert isinstance(head.final_norm, torch.nn.LayerNorm)
    wav = _wav()
    with torch.no_grad():
        hiddens = modules["encoder"](wav, torch.ones(1))
        logits = (
            Wav2Vec2ForCTC.from_pretrained(source)
            .eval()(torch.nn.functional.layer_norm(wav, wav.shape[1:]))
            .logits
        )
        assert torch.allclose(head(hiddens[-1]), logits, atol=1e-4)
        assert not torch.allclose(head.lm_head(hiddens[-1]), logits, atol=0.1)
    # a head that reads the model's output does not normalise again
    assert isinstance(
        PretrainedCTCHead(source, reads_hidden_states=False).final_norm,
        torch.nn.Identity,
    )


# ---------------------------------------------------------------------------
# Decoding and targets in the pretrained vocabulary
# ---------------------------------------------------------------------------
def test_greedy_decoding_with_the_pretrained_tokenizer(ctc_folders):
    tokenizer = PretrainedCTCHead(ctc_folders["base"]).tokenizer
    ids = {token: i for i, token in enumerate(CHARACTER_VOCABULARY)}
    # H H <pad> E L <pad> L O | | I T ' S <unk> </s> (then padding frames)
    frames = ["H", "H", "<pad>", "E", "L", "<pad>", "L", "O", "|", "|"]
    frames += ["I", "T", "'", "S", "<unk>", "</s>", "Z", "Z"]
    best = torch.tensor([[ids[t] for t in frames]])
    p = torch.nn.functional.one_hot(best, 32).float().log()
    lens = torch.tensor([16 / 18])
    assert ctc_greedy_transcripts(p, lens, tokenizer, 0) == [["HELLO", "IT'S"]]
    # the character encoder of a new CTC layer decodes as before
    tok = CTCTextEncoder()
    tok.update_from_iterable(["A", "B", " "])
    tok.insert_blank(index=0)
    frames = [tok.lab2ind[c] for c in "AB BA"]
    p = torch.nn.functional.one_hot(torch.tensor([frames]), 5).float().log()
    assert ctc_greedy_transcripts(p, torch.ones(1), tok) == [["AB", "BA"]]


def test_ctc_targets_in_the_pretrained_vocabulary(ctc_folders):
    tokenizer = PretrainedCTCHead(ctc_folders["base"]).tokenizer
    data = sb.dataio.dataset.DynamicItemDataset(
        {"a": {"wrd": " IT'S  OK "}, "b": {"wrd": ""}, "c": {"wrd": "A1"}}
    )
    add_pretrained_ctc_tokens([data], tokenizer)
    data.set_output_keys(["wrd", "tokens"])
    tokens = [CHARACTER_VOCABULARY[i] for i in data[0]["tokens"].tolist()]
    assert tokens == ["I", "T", "'", "S", "|", "O", "K"]
    assert data[0]["wrd"] == " IT'S  OK "
    assert data[1]["tokens"].tolist() == []
    assert data[2]["tokens"].tolist() == [7, 3]  # A, then <unk> for 1


# ---------------------------------------------------------------------------
# ctc_head: new or pretrained, and bad folders
# ---------------------------------------------------------------------------
def test_ctc_head_new_is_the_character_layer_of_before():
    torch.manual_seed(0)
    new = ctc_head("new", input_size=16, n_neurons=7)
    torch.manual_seed(0)
    before = Linear(input_size=16, n_neurons=7)
    assert type(new) is Linear
    assert new.state_dict().keys() == before.state_dict().keys()
    assert all(
        torch.equal(a, b)
        for a, b in zip(new.state_dict().values(), before.state_dict().values())
    )


def test_ctc_head_checks_against_the_recipe(ctc_folders):
    source = ctc_folders["base"]
    with pytest.raises(ValueError, match="ctc_head must be new or pretrained"):
        ctc_head("released", 96, 32, source=source)
    with pytest.raises(ValueError) as error:
        ctc_head("pretrained", 768, 32, source=source)
    assert str(error.value) == (
        f"{source}: its CTC head reads 96 features but the encoder gives "
        "768 (encoder_dim)"
    )
    with pytest.raises(ValueError) as error:
        ctc_head("pretrained", 96, 32, source=source, blank_index=31)
    assert str(error.value) == (
        f"{source}: the CTC blank is the pad token '<pad>' at index 0, but "
        "blank_index is 31: set blank_index: 0"
    )


def test_folder_without_ctc_head_or_vocabulary_is_refused(
    ctc_folders, tmp_path
):
    # a wav2vec2 without CTC head (a pretraining checkpoint)
    encoder_only = build_wav2vec2(str(tmp_path / "encoder_only"))
    shutil.copy(
        os.path.join(ctc_folders["base"], "vocab.json"),
        os.path.join(encoder_only, "vocab.json"),
    )
    with pytest.raises(ValueError) as error:
        PretrainedCTCHead(encoder_only)
    assert str(error.value).startswith(
        f"{encoder_only} holds no CTC head (lm_head.bias, lm_head.weight "
        "missing from its weights)"
    )
    # a CTC model without its tokenizer files
    no_vocab = str(tmp_path / "no_vocab")
    shutil.copytree(ctc_folders["base"], no_vocab)
    os.remove(os.path.join(no_vocab, "vocab.json"))
    before = _checksums(no_vocab)
    with pytest.raises(FileNotFoundError) as error:
        PretrainedCTCHead(no_vocab)
    assert str(error.value).startswith(f"{no_vocab} has no vocab.json")
    assert _checksums(no_vocab) == before
    # a vocabulary that is not the head's
    other = str(tmp_path / "other_vocab")
    shutil.copytree(ctc_folders["base"], other)
    with open(os.path.join(other, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(CHARACTER_VOCABULARY[:30])}, f)
    with pytest.raises(ValueError) as error:
        PretrainedCTCHead(other)
    assert str(error.value) == (
        f"{other}: the CTC head has 32 outputs but its tokenizer has 30 "
        "tokens; the vocabulary does not belong to these weights"
    )
