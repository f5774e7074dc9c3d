"""The one inference interface on the run of a family other than the joint.

A toy family (this module's :func:`toy_forward`: an encoder of 400-sample
frames, an emotion head and a word head decoded with a vocabulary read by
a function) is exported the way a recipe's ``train.py`` exports its run,
then loaded and run through every entry point of the interface.
"""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.inference.interfaces import foreign_class

from speechbrain_ext.dataio.word_tokens import (
    load_word_vocabulary,
    save_word_vocabulary,
    word_vocabulary,
)
from speechbrain_ext.inference import (
    ContextFile,
    RecipeInterface,
    export_for_inference,
    load_model,
)
from speechbrain_ext.inference.cli import main
from tests.file_checks import tree_hashes

LABELS = ["neu", "hap", "sad"]
WORDS = ["<unk>", "HELLO", "WORLD", "YES", "NO"]
TOY_YAML = """output_folder: results/toy
save_folder: !ref <output_folder>/save
log_softmax: !new:speechbrain.nnet.activations.Softmax
  apply_log: True
encoder: !new:torch.nn.Linear
  in_features: 400
  out_features: 8
emo_head: !new:torch.nn.Linear
  in_features: 8
  out_features: 3
word_head: !new:torch.nn.Linear
  in_features: 8
  out_features: 5
modules:
  encoder: !ref <encoder>
  emo_head: !ref <emo_head>
  word_head: !ref <word_head>
net: !new:torch.nn.ModuleList
  - [!ref <encoder>, !ref <emo_head>, !ref <word_head>]
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
  limit: 1
checkpointer: !new:speechbrain_ext.utils.checkpoints.ResumableCheckpointer
  checkpoints_dir: !ref <save_folder>
  recoverables:
    net: !ref <net>
    counter: !ref <epoch_counter>
"""


def toy_forward(
    modules, hparams, wavs, wav_lens, stage=sb.Stage.TEST, vocabulary=None
):
    """Frames -> mean embedding -> emotion and one word per utterance."""
    frames = wavs.unfold(1, 400, 400)
    embedding = modules["encoder"](frames).mean(dim=1)
    out = {}
    if "emo_head" in modules:
        out["p_emo"] = hparams.log_softmax(modules["emo_head"](embedding))
    if vocabulary is not None:
        best = modules["word_head"](embedding).argmax(-1).tolist()
        out["hyps"] = [vocabulary.decode_ndim([i]) for i in best]
    return out


def nan_forward(modules, hparams, wavs, wav_lens, stage=sb.Stage.TEST):
    """An emotion head whose probabilities are not finite."""
    out = toy_forward(modules, hparams, wavs, wav_lens, stage)
    return {"p_emo": out["p_emo"] * float("nan")}


def toy_run(folder, extra_yaml=""):
    """A toy run folder as a recipe leaves it: hyperparams, checkpoint,
    label encoder and vocabulary in the save folder."""
    os.makedirs(folder)
    text = TOY_YAML + extra_yaml
    overrides = {"output_folder": str(folder)}
    with open(os.path.join(folder, "hyperparams.yaml"), "w") as f:
        f.write("# Generated 2026-01-01 from:\n# /src/recipes/Toy/toy/a.yaml\n")
        f.write(resolve_references(text, overrides).getvalue())
    torch.manual_seed(0)
    hparams = load_hyperpyyaml(text, overrides)
    save = hparams["save_folder"]
    os.makedirs(save, exist_ok=True)  # the checkpointer made it
    labels = CategoricalEncoder()
    labels.update_from_iterable(LABELS)
    labels.save(os.path.join(save, "emo_encoder.txt"))
    save_word_vocabulary(
        word_vocabulary(WORDS[1:]), os.path.join(save, "vocabulary.txt")
    )
    hparams["checkpointer"].save_checkpoint(meta={"error": 1.0})
    return hparams


CONTEXT = {
    "label_encoder": ContextFile(CategoricalEncoder, "emo_encoder.txt"),
    "vocabulary": ContextFile(load_word_vocabulary, "vocabulary.txt"),
}


@pytest.fixture
def toy(tmp_path):
    run = tmp_path / "run"
    hparams = toy_run(run)
    export_for_inference(str(run), forward=toy_forward, context=CONTEXT)
    return run, hparams


def _exported_toy(tmp_path, forward, context_name):
    """The loaded model of a toy run exported with one context file."""
    run = tmp_path / "run"
    toy_run(run)
    context = {context_name: CONTEXT[context_name]}
    export_for_inference(str(run), forward=forward, context=context)
    return load_model(str(run))


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "one_second.wav"
    rng = np.random.default_rng(0)
    sf.write(path, 0.1 * rng.standard_normal(16000), 16000)
    return str(path)


def test_export_names_forward_context_and_module_recoverables(toy):
    run, _ = toy
    text = (run / "inference.yaml").read_text()
    inference = text[text.index("\n# Inference") :]
    save = run / "save"
    assert f"forward: !name:{toy_forward.__module__}.toy_forward\n" in text
    assert (
        "label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder\n"
        in inference
    )
    assert (
        "context:\n  vocabulary: !apply:speechbrain_ext.dataio."
        f"word_tokens.load_word_vocabulary\n    - {save}/"
        "vocabulary.txt\n" in inference
    )
    # the checkpoint's module recoverables, not the epoch counter
    assert "    net: !ref <net>\n" in inference
    assert "counter" not in inference
    assert f"    label_encoder: {save}/emo_encoder.txt\n" in inference
    assert (
        (run / "custom_interface.py")
        .read_text()
        .endswith("import RecipeInterface  # noqa: F401\n")
    )


def test_modules_of_the_best_checkpoint_are_loaded(toy):
    run, hparams = toy
    ckpt = next((run / "save").glob("CKPT*")) / "net.ckpt"
    state = {k: v + 1.0 for k, v in torch.load(ckpt).items()}
    torch.save(state, ckpt)
    model = load_model(str(run))
    loaded = torch.nn.ModuleList(
        [model.mods[name] for name in ("encoder", "emo_head", "word_head")]
    ).state_dict()
    assert loaded.keys() == state.keys()
    for key in state:
        assert torch.equal(loaded[key], state[key]), key


def test_classify_file_transcribe_file_and_foreign_class(toy, wav, tmp_path):
    run, _ = toy
    model = foreign_class(
        source=str(run),
        hparams_file="inference.yaml",
        pymodule_file="custom_interface.py",
        classname="RecipeInterface",
        savedir=str(tmp_path / "fc"),
    )
    out_prob, score, index, text_lab, transcripts = model.classify_file(wav)
    assert out_prob.shape == (1, 3)
    assert float(out_prob.exp().sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(score[0]) == pytest.approx(float(out_prob.max()))
    assert text_lab == [LABELS[int(index[0])]]
    assert transcripts[0] in WORDS
    assert model.transcribe_file(wav) == transcripts[0]
    (result,) = model.classify_files([wav], progress=False)
    assert result["emotion"] == text_lab[0]
    assert result["transcript"] == transcripts[0]
    assert result["probabilities"] == pytest.approx(
        dict(zip(LABELS, out_prob.exp()[0].tolist())), abs=1e-6
    )


def test_emotion_only_family_returns_upstream_tuple(tmp_path, wav):
    model = _exported_toy(tmp_path, toy_forward, "label_encoder")
    out_prob, score, index, text_lab = model.classify_file(wav)
    assert text_lab[0] in LABELS
    with pytest.raises(ValueError, match="no ASR head .*toy_forward"):
        model.transcribe_file(wav)
    (result,) = model.classify_files([wav], progress=False)
    assert result["transcript"] is None


def test_asr_only_family(tmp_path, wav):
    model = _exported_toy(tmp_path, toy_forward, "vocabulary")
    assert model.labels is None
    assert model.transcribe_file(wav) in WORDS
    with pytest.raises(ValueError, match="no emotion head"):
        model.classify_file(wav)
    (result,) = model.classify_files([wav], progress=False)
    assert result["emotion"] is None and result["probabilities"] is None
    assert result["transcript"] in WORDS


def test_no_label_from_nan_probabilities(tmp_path, wav):
    model = _exported_toy(tmp_path, nan_forward, "label_encoder")
    with pytest.raises(ValueError, match="not finite"):
        model.classify_file(wav)
    with pytest.raises(ValueError, match="utterance 0, 1: .*not finite"):
        model.classify_batch(torch.rand(2, 16000))
    (result,) = model.classify_files([wav], progress=False)
    assert result["emotion"] is None
    assert result["error"].startswith("the model's emotion probabilities")


def test_bad_audio_is_refused_by_name(toy, tmp_path):
    run, _ = toy
    model = load_model(str(run))
    short = tmp_path / "short.wav"
    sf.write(short, np.full(10, 0.1, dtype="float32"), 16000)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(16000, np.nan, "float32"), 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=f"{short}: too short: 10 samples"):
        model.classify_file(str(short))
    with pytest.raises(ValueError, match=f"{nan}: the audio holds non-finite"):
        model.transcribe_file(str(nan))
    with pytest.raises(FileNotFoundError, match="missing.wav: no such file"):
        model.classify_file(str(tmp_path / "missing.wav"))
    wavs = torch.rand(2, 16000)
    with pytest.raises(ValueError, match="utterance 1: too short: 400"):
        model.classify_batch(wavs, torch.tensor([1.0, 400 / 16000]))
    wavs[0, 5] = float("inf")
    with pytest.raises(ValueError, match="utterance 0: the audio holds non"):
        model.classify_batch(wavs)


def test_moved_run_is_exported_again_with_its_family(toy, wav, tmp_path):
    run, _ = toy
    moved = tmp_path / "moved"
    shutil.move(run, moved)
    model = load_model(str(moved))
    text = (moved / "inference.yaml").read_text()
    assert str(run) not in text
    assert f"    - {moved}/save/vocabulary.txt\n" in text
    assert "toy_forward" in text
    assert model.transcribe_file(wav) in WORDS


def test_run_key_named_like_an_export_key_is_kept_renamed(tmp_path, wav):
    run = tmp_path / "run"
    toy_run(run, "pretrainer: !new:speechbrain.nnet.activations.Softmax\n")
    export_for_inference(str(run), forward=toy_forward, context=CONTEXT)
    text = (run / "inference.yaml").read_text()
    assert "\ntraining_pretrainer: !new:speechbrain.nnet" in text
    assert load_model(str(run)).transcribe_file(wav) in WORDS


def test_export_refuses_before_writing(tmp_path):
    run = tmp_path / "run"
    toy_run(run)
    before = tree_hashes(run)
    with pytest.raises(ValueError, match="cannot be named in a yaml file"):
        export_for_inference(str(run), forward=lambda *a, **k: {})
    missing = {"vocabulary": ContextFile(load_word_vocabulary, "nope.txt")}
    with pytest.raises(FileNotFoundError, match=f"{run}/save/nope.txt"):
        export_for_inference(str(run), forward=toy_forward, context=missing)
    with pytest.raises(TypeError, match="no checkpoint hooks"):
        export_for_inference(
            str(run),
            forward=toy_forward,
            context={"x": ContextFile(json.JSONDecoder, "vocabulary.txt")},
        )
    # a run without an export: no family to load it with
    with pytest.raises(ValueError, match="recipes/Toy/toy .*no inference"):
        load_model(str(run))
    assert tree_hashes(run) == before


def test_cli_on_a_run_of_another_family(toy, wav, tmp_path):
    run, _ = toy
    out = tmp_path / "out.json"
    main(["--model", str(run), "--output", str(out), wav])
    (result,) = json.loads(out.read_text())
    assert result["emotion"] in LABELS
    assert result["transcript"] in WORDS
    assert isinstance(load_model(str(run)), RecipeInterface)


def test_export_naming_a_missing_function_is_refused(toy):
    run, _ = toy
    path = run / "inference.yaml"
    text = path.read_text().replace(
        f"!name:{toy_forward.__module__}.toy_forward",
        "!name:no_such_module.toy_forward",
    )
    path.write_text(text)
    before = tree_hashes(run)
    with pytest.raises(ValueError) as error:
        load_model(str(run))
    assert str(error.value) == (
        f"{path} names no_such_module.toy_forward, which cannot be imported"
    )
    assert tree_hashes(run) == before
