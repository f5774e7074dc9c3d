"""Checkpoints without the completion marker are used when whole, never
deleted: SpeechBrain's own, older versions', another process's save."""

import logging
import os
import subprocess
import sys

import pytest
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.epoch_loop import EpochCounter

from speechbrain_ext.recipe.brain import RecipeBrain
from speechbrain_ext.utils.checkpoints import (
    COMPLETE_MARKER,
    ResumableCheckpointer,
)
from tests.file_checks import tree_hashes
from tests.toy_brains import sgd_groups

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _recoverables(seed):
    torch.manual_seed(seed)
    return {"net": torch.nn.Linear(3, 2), "counter": EpochCounter(5)}


def _plain_checkpoint(folder, seed=0, error=1.0):
    """A checkpoint written by SpeechBrain's own Checkpointer (no marker)."""
    objects = _recoverables(seed)
    objects["counter"].current = 3
    checkpoint = Checkpointer(folder, objects).save_checkpoint(
        meta={"error": error}
    )
    assert not os.path.exists(checkpoint.path / COMPLETE_MARKER)
    return checkpoint, objects


def test_plain_speechbrain_checkpoint_is_recovered_not_deleted(tmp_path):
    checkpoint, saved = _plain_checkpoint(tmp_path)
    before = tree_hashes(tmp_path)
    fresh = _recoverables(seed=1)
    recovered = ResumableCheckpointer(tmp_path, fresh).recover_if_possible(
        min_key="error"
    )
    assert recovered is not None and recovered.path == checkpoint.path
    assert torch.equal(fresh["net"].weight, saved["net"].weight)
    assert fresh["counter"].current == 3
    assert tree_hashes(tmp_path) == before


def test_incomplete_unmarked_checkpoints_stay_with_a_warning(tmp_path, caplog):
    complete, _ = _plain_checkpoint(tmp_path, error=2.0)
    # interrupted while writing net.ckpt: SpeechBrain writes CKPT.yaml first
    cut, _ = _plain_checkpoint(tmp_path, error=1.0)
    with open(cut.path / "net.ckpt", "r+b") as f:
        f.truncate(200)
    # another process's save in progress: counter.ckpt not written yet
    running, _ = _plain_checkpoint(tmp_path, error=0.5)
    os.remove(running.path / "counter.ckpt")
    before = tree_hashes(tmp_path)
    checkpointer = ResumableCheckpointer(tmp_path, _recoverables(seed=1))
    with caplog.at_level(logging.WARNING):
        recovered = checkpointer.recover_if_possible(min_key="error")
    assert recovered.path == complete.path
    assert tree_hashes(tmp_path) == before
    warnings = [r.getMessage() for r in caplog.records]
    assert any(
        str(cut.path) in w and "net.ckpt is a torch file cut short" in w
        for w in warnings
    ), warnings
    assert any(
        str(running.path) in w and "counter.ckpt is missing" in w
        for w in warnings
    ), warnings


def test_keeping_the_best_deletes_only_marked_checkpoints(tmp_path):
    plain, _ = _plain_checkpoint(tmp_path, error=3.0)
    checkpointer = ResumableCheckpointer(tmp_path, _recoverables(seed=1))
    first = checkpointer.save_checkpoint(meta={"error": 2.0})
    checkpointer.save_and_keep_only(meta={"error": 1.0}, min_keys=["error"])
    names = sorted(os.listdir(tmp_path))
    assert plain.path.name in names  # unmarked: never deleted
    assert first.path.name not in names  # marked, neither best nor latest
    assert len(names) == 2


class Classifier(RecipeBrain):
    def compute_forward(self, batch, stage):
        return {"p_emo": self.modules.net(batch.x.data).log_softmax(-1)}

    def compute_objectives(self, predictions, batch, stage):
        emo = batch.emo_encoded.data[:, 0]
        return torch.nn.functional.nll_loss(predictions["p_emo"], emo)


def _data(n=8):
    """Loader options and data of :class:`Classifier`."""
    items = [
        {
            "id": f"u{i}",
            "x": torch.rand(3),
            "emo_encoded": torch.tensor([i % 2]),
        }
        for i in range(n)
    ]
    return items, {"batch_size": 4, "collate_fn": PaddedBatch}


def _brain(checkpointer, net, counter, **run_opts):
    groups = sgd_groups(net, lr=0.1)
    return Classifier(
        {"net": net},
        hparams={"epoch_counter": counter, "emotions": ["neu", "ang"]},
        param_groups=groups,
        run_opts={"device": "cpu", **run_opts},
        checkpointer=checkpointer,
    )


def test_test_only_loads_a_run_of_plain_speechbrain(tmp_path):
    """``--test_only`` on a run saved without the marker tests its model."""
    torch.manual_seed(0)
    data, opts = _data()
    net, counter = torch.nn.Linear(3, 2), EpochCounter(1)
    plain = Checkpointer(tmp_path, {"net": net, "counter": counter})
    _brain(plain, net, counter).fit(
        counter,
        data,
        data,
        train_loader_kwargs=dict(opts),
        valid_loader_kwargs=dict(opts),
    )
    (saved,) = os.listdir(tmp_path)
    before = tree_hashes(tmp_path)

    net, counter = torch.nn.Linear(3, 2), EpochCounter(1)
    checkpointer = ResumableCheckpointer(
        tmp_path, {"net": net, "counter": counter}
    )
    brain = _brain(checkpointer, net, counter, test_only=True)
    brain.evaluate(data, min_key="error", test_loader_kwargs=dict(opts))
    assert os.path.basename(brain.loaded_checkpoint) == saved
    assert torch.equal(
        net.weight, torch.load(tmp_path / saved / "net.ckpt")["weight"]
    )
    assert tree_hashes(tmp_path) == before


def test_evaluation_without_usable_checkpoint_says_what_it_found(tmp_path):
    cut, _ = _plain_checkpoint(tmp_path)
    os.remove(cut.path / "net.ckpt")
    net, counter = torch.nn.Linear(3, 2), EpochCounter(1)
    checkpointer = ResumableCheckpointer(
        tmp_path, {"net": net, "counter": counter}
    )
    brain = _brain(checkpointer, net, counter, test_only=True)
    with pytest.raises(FileNotFoundError) as error:
        data, opts = _data()
        brain.evaluate(data, min_key="error", test_loader_kwargs=opts)
    assert f"{cut.path}: no SAVED marker, and net.ckpt is missing" in str(
        error.value
    )
    assert os.path.isdir(cut.path)


def test_bench_demo_keeps_an_earlier_run(tmp_path):
    """``bench/demo.py --work`` runs in a new folder, never over a run."""
    earlier, _ = _plain_checkpoint(tmp_path / "run" / "save")
    before = tree_hashes(tmp_path / "run")
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "bench", "demo.py"),
            "--yaml=missing.yaml",  # the training fails at once
            f"--work={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert tree_hashes(tmp_path / "run") == before
