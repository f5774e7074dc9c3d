"""A run killed mid-epoch resumes to the same result; same seed, same result."""

import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.recipes.helpers import RECIPE, TRAIN

FLAGS = [
    "--synthemo_utterances=150",
    "--number_of_epochs=2",
    "--test_conditions=clean",
    "--ckpt_interval_steps=2",
]


def _cmd(out, synth):
    return [
        sys.executable,
        TRAIN,
        os.path.join(RECIPE, "hparams", "joint_demo.yaml"),
        f"--output_folder={out}",
        f"--synthemo_folder={synth}",
        *FLAGS,
    ]


def _run(out, synth, cwd):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        _cmd(out, synth),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _intra_epoch_checkpoints(out):
    found = []
    for meta in glob.glob(os.path.join(out, "save", "CKPT+*", "CKPT.yaml")):
        with open(meta) as f:
            if "intra" in f.read().lower():
                found.append(meta)
    return found


def _read(path):
    with open(path) as f:
        return f.read()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run, and the SynthEmo folder both tests share."""
    work = tmp_path_factory.mktemp("determinism")
    synth, out = work / "synth", work / "reference"
    _run(out, synth, work)
    return synth, out


@pytest.mark.slow
def test_killed_run_resumes_to_same_metrics(reference, tmp_path):
    synth, reference = reference
    resumed = tmp_path / "resumed"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        _cmd(resumed, synth),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = resumed / "train_log.txt"
    deadline = time.time() + 600
    # wait for an intra-epoch checkpoint of epoch 2, then kill the run
    while time.time() < deadline:
        done_epoch_1 = log.exists() and "epoch: 1" in _read(log)
        if done_epoch_1 and _intra_epoch_checkpoints(resumed):
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "epoch: 2" not in _read(log), "killed too late: epoch 2 finished"

    second = _run(resumed, synth, tmp_path)
    assert "Resuming from" in second.stdout + second.stderr
    for name in ("metrics.json", "clean/predictions.csv"):
        assert _read(resumed / "test_results" / name) == _read(
            reference / "test_results" / name
        )


@pytest.mark.slow
def test_same_seed_same_metrics(reference, tmp_path):
    synth, first = reference
    second = tmp_path / "second"
    _run(second, synth, tmp_path)
    for name in ("metrics.json", "clean/predictions.csv"):
        assert _read(first / "test_results" / name) == _read(
            second / "test_results" / name
        )
