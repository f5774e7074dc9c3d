"""Inference with bad input: other working folders, short files, arguments.

The slow tests train ser_demo.yaml for one epoch on SpeechBrain's sample
files (about 30 s); the argument tests need no model.
"""

import functools
import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_ext.inference import export
from speechbrain_ext.inference.cli import main
from speechbrain_ext.inference.export import export_for_inference, load_model
from speechbrain_ext.utils.checkpoints import (
    COMPLETE_MARKER,
    ResumableCheckpointer,
)
from tests.file_checks import tree_hashes
from tests.integration.recipes.helpers import ROOT, run_recipe, untrained_run

# {relative path: (sha256, mode) of a file, ("dir", mode) of a folder}
_tree = functools.partial(tree_hashes, stat=("st_mode",), folders=True)

SAMPLES = os.path.join(ROOT, "tests", "samples")
SAMPLE_WAV = os.path.join(SAMPLES, "ASR", "spk1_snt1.wav")
RUN = os.path.join("results", "ser_demo", "1986")  # the yaml's default
CLI = [sys.executable, "-m", "speechbrain_ext.inference"]
EMODB_LSTM = os.path.join(
    ROOT, "recipes", "EmoDB", "emotion_recognition", "LSTM"
)


def _model_weights(run):
    ckpt = next(
        os.path.join(run, "save", name)
        for name in sorted(os.listdir(os.path.join(run, "save")))
        if name.startswith("CKPT")
    )
    return os.path.join(ckpt, "model.ckpt")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two runs at the same relative path under two working folders.

    ``a/results/ser_demo/1986`` is trained; ``b/results/ser_demo/1986`` is
    a copy (``cp -a``) whose weights are then changed. The copy keeps the
    ``inference.yaml`` written by the training, and links that an earlier
    load of ``a`` left in ``inference/`` (as older versions did).
    """
    work = tmp_path_factory.mktemp("two_runs")
    work_a, work_b = work / "a", work / "b"
    work_a.mkdir()
    proc = run_recipe(
        "ser_demo.yaml",
        "--skip_prep=True",
        "--number_of_epochs=1",
        "--emotions=[anger,sadness,happiness,neutrality]",
        "--test_conditions=clean",
        f"--data_folder={os.path.join(SAMPLES, 'ASR')}",
        "--train_annotation="
        + os.path.join(SAMPLES, "annotation", "ASR_train.json"),
        "--valid_annotation="
        + os.path.join(SAMPLES, "annotation", "ASR_dev.json"),
        "--test_annotation="
        + os.path.join(SAMPLES, "annotation", "ASR_dev.json"),
        cwd=work_a,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_a, run_b = str(work_a / RUN), str(work_b / RUN)
    assert os.path.isfile(os.path.join(run_a, "inference.yaml"))
    shutil.copytree(work_a / "results", work_b / "results", symlinks=True)
    state = torch.load(_model_weights(run_b))
    torch.save({k: v + 1.0 for k, v in state.items()}, _model_weights(run_b))
    links = os.path.join(run_b, "inference")
    os.makedirs(links)
    os.symlink(_model_weights(run_a), os.path.join(links, "model.ckpt"))
    os.symlink(
        os.path.join(run_a, "inference.yaml"),
        os.path.join(links, "inference.yaml"),
    )
    return {"a": run_a, "b": run_b, "work_a": work_a, "work_b": work_b}


def _assert_weights_of(model, run):
    expected = torch.load(_model_weights(run))
    loaded = model.hparams.model.state_dict()
    assert expected.keys() == loaded.keys()
    for key, tensor in expected.items():
        assert torch.equal(loaded[key].cpu(), tensor), key


@pytest.mark.slow
def test_model_of_model_argument_from_another_working_folder(
    two_runs, monkeypatch
):
    """Each working folder holds the other run at the same relative path."""
    monkeypatch.chdir(two_runs["work_a"])
    _assert_weights_of(load_model(two_runs["b"]), two_runs["b"])
    monkeypatch.chdir(two_runs["work_b"])
    _assert_weights_of(load_model(two_runs["a"]), two_runs["a"])
    # and the CLI's predictions are those of the run of --model
    expected = load_model(two_runs["a"]).classify_files(
        [SAMPLE_WAV], progress=False
    )
    (result,) = main(["--model", two_runs["a"], SAMPLE_WAV])
    assert result["probabilities"] == expected[0]["probabilities"]
    with open(os.path.join(two_runs["b"], "inference.yaml")) as f:
        text = f.read()
    assert f"output_folder: {two_runs['b']}\n" in text
    assert f"save_folder: {two_runs['b']}/save\n" in text


@pytest.mark.slow
def test_cli_creates_nothing_in_working_folder(two_runs, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = subprocess.run(
        CLI + ["--model", two_runs["a"], "--output", "-", SAMPLE_WAV],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert os.listdir(cwd) == []
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(proc.stdout[proc.stdout.index("[") :])
    assert result["emotion"] in result["probabilities"]


def _bad_files(folder):
    """Files without usable audio, and the start of their error message."""
    silence = np.zeros(0, dtype="float32")
    sf.write(folder / "empty.wav", silence, 16000)
    sf.write(folder / "empty_stereo_44k.wav", np.zeros((0, 2)), 44100)
    sf.write(folder / "ten.wav", np.full(10, 0.1, dtype="float32"), 16000)
    sf.write(folder / "400.wav", np.full(400, 0.1, dtype="float32"), 16000)
    (folder / "text.wav").write_text("not audio")
    return {
        str(folder / "empty.wav"): "too short: 0 samples",
        str(folder / "empty_stereo_44k.wav"): "too short: 0 samples",
        str(folder / "ten.wav"): "too short: 10 samples",
        str(folder / "400.wav"): "too short: 400 samples",
        str(folder / "text.wav"): "cannot read the audio",
    }


@pytest.mark.slow
def test_short_and_unreadable_files_get_error_entries(
    two_runs, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(two_runs["work_a"])  # the training's working folder
    bad = _bad_files(tmp_path)
    files = [SAMPLE_WAV, *bad, SAMPLE_WAV]
    out = tmp_path / "results.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", two_runs["a"], "--output", str(out), *files])
    assert exit_info.value.code == 1
    assert "5 of 7 files could not be classified" in capsys.readouterr().err
    with open(out) as f:
        results = json.load(f)
    assert [r["file"] for r in results] == files
    alone = load_model(two_runs["a"]).classify_files(
        [SAMPLE_WAV], progress=False
    )[0]
    for good in results[0], results[-1]:
        assert "error" not in good
        assert good["probabilities"] == pytest.approx(
            alone["probabilities"], abs=1e-4
        )
    for result in results[1:-1]:
        assert result["error"].startswith(bad[result["file"]]), result
        assert result["transcript"] is None
        assert result["emotion"] is None
        assert result["probabilities"] is None


@pytest.mark.slow
def test_short_item_of_a_batch(two_runs, monkeypatch):
    """A short utterance in a padded batch: an error, not NaN."""
    monkeypatch.chdir(two_runs["work_a"])  # the training's working folder
    model = load_model(two_runs["a"])
    wav = model.load_audio(SAMPLE_WAV).cpu()
    wavs = torch.zeros(2, len(wav))
    wavs[0], wavs[1, :400] = wav, 0.1
    lens = torch.tensor([1.0, 400 / len(wav)])
    first, short = model.predict_batch(wavs, lens)
    assert short["error"].startswith("too short: 400 samples")
    assert short["probabilities"] is None
    (alone,) = model.predict_batch(wav[None])
    assert first["probabilities"] == pytest.approx(
        alone["probabilities"], abs=1e-4
    )
    with pytest.raises(ValueError, match="utterance 1: too short: 400"):
        model.classify_batch(wavs, lens)
    out_prob, score, index, text_lab = model.classify_batch(wav[None])
    assert text_lab == [first["emotion"]]
    assert out_prob.exp()[0].tolist() == pytest.approx(
        list(first["probabilities"].values()), abs=1e-4
    )


# Arguments: checked before any model loading or inference ----------------


class ModelLoaded(Exception):
    """Raised instead of loading a model."""


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    """A run folder with a checkpoint and no model; loading it raises."""

    def no_loading(*args, **kwargs):
        raise ModelLoaded

    monkeypatch.setattr(export, "load_model", no_loading)
    run = tmp_path / "run"
    run.mkdir()
    (run / "hyperparams.yaml").write_text(
        "output_folder: results/run\nsave_folder: results/run/save\n"
        "modules:\n  encoder: null\n  emo_classifier: null\n"
    )
    (run / "inference.yaml").write_text(
        "forward: !name:speechbrain_ext.lobes.models.joint_asr_ser."
        "joint_forward\n"
    )
    ResumableCheckpointer(run / "save").save_checkpoint(meta={"error": 1.0})
    return run


def _argv(tmp_path, fake_run, case):
    (tmp_path / "folder").mkdir()
    argv = {
        "--model": str(fake_run),
        "--output": str(tmp_path / "out.csv"),
        "--batch_size": "2",
        "files": SAMPLE_WAV,
    }
    empty = tmp_path / "empty_run"
    empty.mkdir()
    no_ckpt = tmp_path / "no_checkpoint"
    no_ckpt.mkdir()
    (no_ckpt / "hyperparams.yaml").write_text("output_folder: results/x\n")
    argv.update(
        {
            "valid": {},
            "batch_size_0": {"--batch_size": "0"},
            "batch_size_negative": {"--batch_size": "-1"},
            "batch_size_text": {"--batch_size": "two"},
            "missing_file": {"files": str(tmp_path / "missing.wav")},
            "directory_as_file": {"files": str(tmp_path / "folder")},
            "output_missing_folder": {
                "--output": str(tmp_path / "missing" / "out.csv")
            },
            "output_is_directory": {"--output": str(tmp_path / "folder")},
            "model_missing": {"--model": str(tmp_path / "missing_run")},
            "model_not_a_run": {"--model": str(empty)},
            "model_without_checkpoint": {"--model": str(no_ckpt)},
            "device": {"--device": "nodevice"},
        }[case]
    )
    files = argv.pop("files")
    return [x for item in argv.items() for x in item] + [files]


BAD_ARGUMENTS = {
    "batch_size_0": "argument --batch_size: must be at least 1, got 0",
    "batch_size_negative": "argument --batch_size: must be at least 1",
    "batch_size_text": "argument --batch_size: ",
    "missing_file": "argument files: no such file",
    "directory_as_file": "argument files: ",
    "output_missing_folder": "argument --output: no such folder",
    "output_is_directory": "argument --output: ",
    "model_missing": "argument --model: not a training run folder",
    "model_not_a_run": "argument --model: not a training run folder",
    "model_without_checkpoint": "argument --model: not a training run",
    "device": "argument --device: ",
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_argument_stops_before_loading(case, tmp_path, fake_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(_argv(tmp_path, fake_run, case))
    assert exit_info.value.code == 2
    assert BAD_ARGUMENTS[case] in capsys.readouterr().err
    assert sorted(os.listdir(fake_run)) == [
        "hyperparams.yaml",
        "inference.yaml",
        "save",
    ]
    assert not (tmp_path / "out.csv").exists()


def test_valid_arguments_reach_loading(tmp_path, fake_run):
    """The fake run folder passes the checks: the tests above test one
    argument each."""
    with pytest.raises(ModelLoaded):
        main(_argv(tmp_path, fake_run, "valid"))


def test_cli_bad_argument_exit_status(tmp_path):
    proc = subprocess.run(
        CLI + ["--model", str(tmp_path), "--batch_size", "0", SAMPLE_WAV],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "argument --batch_size" in proc.stderr
    assert os.listdir(tmp_path) == []


# Runs that cannot be loaded, other recipes, permissions -------------------


def test_model_without_usable_checkpoint_says_what_it_found(tmp_path, capsys):
    run = tmp_path / "run"
    cut = untrained_run(run).path  # interrupted while writing model.ckpt
    os.remove(cut / COMPLETE_MARKER)
    with open(cut / "model.ckpt", "r+b") as f:
        f.truncate(300)
    intra = ResumableCheckpointer(
        run / "save", {"model": torch.nn.Linear(2, 2)}
    ).save_checkpoint(end_of_epoch=False, name="intra")
    before = _tree(run)
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(run), SAMPLE_WAV])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"No usable checkpoint in {run / 'save'}" in err
    assert (
        f"{cut}: no SAVED marker, and model.ckpt is a torch file cut short"
        in err
    )
    assert (
        f"{intra.path}: no 'error' in its CKPT.yaml (saved in the middle of "
        "an epoch)" in err
    )
    assert _tree(run) == before


def test_run_of_another_recipe_is_refused_before_writing(tmp_path, capsys):
    run = tmp_path / "emodb_run"
    untrained_run(run, "lstm_demo.yaml", recipe=EMODB_LSTM)
    before = _tree(run)
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(run), SAMPLE_WAV])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    for expected in (
        "argument --model: not an exported run",
        f"{run / 'hyperparams.yaml'} is a run of "
        "recipes/EmoDB/emotion_recognition/LSTM (lstm_demo.yaml) with the "
        "modules compute_features, normalize, encoder, classifier, and it "
        "holds no "
        "inference.yaml",
        "Export this run with export_for_inference(output_folder, "
        "forward=..., context=...)",
    ):
        assert expected in err, err
    for call in load_model, export_for_inference:
        with pytest.raises(ValueError, match="EmoDB/emotion_recognition"):
            call(str(run))
    assert _tree(run) == before


def test_export_without_forward_function_is_refused(tmp_path, capsys):
    """An inference.yaml of an older version names no forward function."""
    run = tmp_path / "run"
    untrained_run(run)
    text = (run / "inference.yaml").read_text()
    (run / "inference.yaml").write_text(
        text.replace("\nforward: !name:", "\n# forward: !name:")
    )
    before = _tree(run)
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(run), SAMPLE_WAV])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "(ser_demo.yaml) with the modules encoder, emo_classifier" in err
    assert "its inference.yaml names no forward function" in err
    with pytest.raises(ValueError, match="names no forward function"):
        load_model(str(run))
    assert _tree(run) == before


def test_exported_files_get_the_permissions_of_new_files(tmp_path):
    run = tmp_path / "run"
    untrained_run(run)
    old_umask = os.umask(0o027)
    try:
        export_for_inference(str(run))
    finally:
        os.umask(old_umask)
    for name in "inference.yaml", "custom_interface.py":
        assert stat.S_IMODE(os.stat(run / name).st_mode) == 0o640, name


def _unwritable(folder):
    """Makes ``folder`` read-only; the command prefix that respects it.

    Root writes whatever the permissions: its command runs in a user and
    mount namespace where ``folder`` is a read-only bind mount.
    """
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o222)
    os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) & ~0o222)
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"]).returncode:
        pytest.skip("running as root without user namespaces (unshare -rm)")
    script = (
        'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    )
    return [unshare, "-rm", "sh", "-c", script, str(folder)]


def test_read_only_run_loads_and_stays_byte_identical(tmp_path):
    """A run moved since its export: the export is written again, to a
    temporary folder."""
    run = tmp_path / "run"
    untrained_run(tmp_path / "trained_here")
    os.rename(tmp_path / "trained_here", run)
    prefix = _unwritable(run)
    try:
        before = _tree(run)
        proc = subprocess.run(
            prefix + CLI + ["--model", str(run), SAMPLE_WAV],
            cwd=tmp_path,
            env=dict(os.environ, HF_HUB_OFFLINE="1"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        (result,) = json.loads(proc.stdout[proc.stdout.index("[") :])
        assert result["emotion"] in result["probabilities"]
        assert _tree(run) == before
        assert sorted(os.listdir(tmp_path)) == ["run"]
    finally:
        for root, dirs, _ in os.walk(run):
            os.chmod(root, 0o755)
