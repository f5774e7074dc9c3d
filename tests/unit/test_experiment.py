"""The main-block steps of the recipe core (speechbrain_ext.recipe.experiment)
and the data helpers that read a yaml's keys."""

import glob
import json
import os

import pytest
import torch
from speechbrain.dataio.sampler import DynamicBatchSampler

from speechbrain_ext.recipe import data, experiment
from speechbrain_ext.recipe.brain import RecipeBrain
from tests.toy_brains import sgd_groups

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


class Counting(RecipeBrain):
    """Counts the epochs it is asked to train."""

    def fit(self, epoch_counter, *args, **kwargs):
        self.fitted = list(epoch_counter)


def _hparams(**keys):
    net = torch.nn.Linear(1, 2)
    hparams = {
        "modules": {"net": net},
        "checkpointer": None,
        "param_groups": sgd_groups(net, lr=0.1),
        "train_logger": None,
        "test_conditions": "clean",
        "noise_folder": "no_pools",
        "test_noise_seed": 1986,
    }
    hparams.update(keys)
    return hparams


def test_build_brain_gives_the_yaml_keys_and_core_defaults():
    augment = [lambda wavs, lens: (wavs, lens)]
    hparams = _hparams(train_augment=augment, selection_metric="UA")
    brain, conditions = experiment.build_brain(Counting, hparams, {})
    assert brain.train_augment == augment
    assert brain.selection_metric == "UA"
    assert brain.condition_mixer is not None
    assert [c.name for c in conditions] == ["clean"]
    # an evaluation-only yaml has no augmentation nor selection metric
    brain, _ = experiment.build_brain(Counting, _hparams(), {})
    assert brain.train_augment == [] and brain.selection_metric == "loss"


def test_build_brain_replaces_yaml_values_and_refuses_others():
    net = torch.nn.Linear(1, 2)
    brain, _ = experiment.build_brain(
        Counting, _hparams(), {}, modules={"other": net}
    )
    assert list(brain.modules) == ["other"]
    with pytest.raises(TypeError, match=r"\['optimizer'\]"):
        experiment.build_brain(Counting, _hparams(), {}, optimizer=None)


def test_build_brain_needs_the_training_pools_for_noise_training():
    with pytest.raises(FileNotFoundError, match="no_pools/noise_train.csv"):
        experiment.build_brain(Counting, _hparams(noise_prob=1.0), {})
    # replaced by the recipe: no noisy training copies, no pools needed
    experiment.build_brain(Counting, _hparams(noise_prob=1.0), {}, noise_prob=0)


def test_fit_trains_nothing_for_a_test_only_run():
    hparams = _hparams(epoch_counter=range(3))  # no loader options
    brain, _ = experiment.build_brain(Counting, hparams, {"test_only": True})
    experiment.fit(brain, hparams, [], [])
    assert not hasattr(brain, "fitted")
    opts = {"batch_size": 2}
    hparams.update(
        seed=1, train_dataloader_opts=opts, valid_dataloader_opts=opts
    )
    brain, _ = experiment.build_brain(Counting, hparams, {})
    experiment.fit(brain, hparams, [], [])
    assert brain.fitted == [0, 1, 2]


def test_export_writes_nothing_for_debug_or_test_only_runs(tmp_path):
    for run_opts in ({"debug": True}, {"test_only": True}):
        brain, _ = experiment.build_brain(Counting, _hparams(), run_opts)
        hparams = {"output_folder": str(tmp_path)}
        assert experiment.export(brain, hparams, print) is None
    assert os.listdir(tmp_path) == []


def test_loader_options_follow_the_optional_yaml_keys(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(
        json.dumps(
            {f"u{i}": {"wav": "a.wav", "duration": 1.0 + i} for i in range(8)}
        )
    )
    train = data.load_datasets({"train": str(path)}, str(tmp_path))["train"]
    hparams = {"train_dataloader_opts": {"batch_size": 4}, "seed": 3}
    kwargs, sampler = data.recipe_loader_options(train, hparams)
    assert sampler is None and kwargs["batch_size"] == 4
    hparams.update(
        sorting="ascending",
        dynamic_batching=True,
        dynamic_batch_sampler={"max_batch_length": 4.0, "num_buckets": 2},
    )
    kwargs, sampler = data.recipe_loader_options(train, hparams)
    assert isinstance(sampler, DynamicBatchSampler)
    assert kwargs["batch_sampler"] is sampler and "batch_size" not in kwargs


def test_emotion_datasets_check_the_labels_of_every_split(tmp_path):
    entry = {"wav": "{data_root}/a.wav", "duration": 1.0}
    train, test = tmp_path / "train.json", tmp_path / "test.json"
    train.write_text(json.dumps({"a": {**entry, "emo": "neu"}}))
    test.write_text(json.dumps({"b": {**entry, "emo": "fea"}}))
    hparams = {
        "train_annotation": str(train),
        "valid_annotation": str(train),
        "test_annotation": str(test),
        "data_folder": str(tmp_path),
        "emotions": ["neu"],
        "save_folder": str(tmp_path / "save"),
    }
    with pytest.raises(ValueError, match=r"test\.json: label\(s\) \['fea'\]"):
        data.emotion_datasets(hparams)
    hparams["test_annotation"] = str(train)
    datasets, encoder = data.emotion_datasets(hparams, audio_key="full_sig")
    assert sorted(datasets) == ["test", "train", "valid"]
    assert encoder.lab2ind == {"neu": 0}
    datasets["test"].set_output_keys(["id", "emo_encoded"])
    assert datasets["test"][0]["emo_encoded"].tolist() == [0]
    assert "full_sig" in datasets["test"].pipeline.key_to_node


def test_every_recipe_creates_its_experiment_folder_itself():
    """SpeechBrain copies the script that calls create_experiment_directory
    into the folder: the recipe's train.py, not the core's module."""
    scripts = glob.glob(
        os.path.join(ROOT, "recipes", "*", "*", "*", "train.py")
    )
    assert len(scripts) == 6
    for script in scripts:
        with open(script, encoding="utf-8") as f:
            source = f.read()
        assert "sb.create_experiment_directory(" in source, script
        for step in ("experiment.build_brain(", "experiment.evaluate("):
            assert step in source, (script, step)
