"""The shared recipe core: parameter groups, annealing, metrics, labels."""

import glob
import importlib.util
import json
import os
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch

from speechbrain_ext.recipe.brain import RecipeBrain
from speechbrain_ext.recipe.data import load_datasets, run_preparation
from speechbrain_ext.recipe.hparams import load_hparams

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TRAIN = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT", "train.py"
)


class RecordingScheduler:
    """Stands in for NewBob: records the metric it is annealed on."""

    def __init__(self):
        self.seen = []

    def __call__(self, metric):
        self.seen.append(metric)
        return 0.1, 0.1


class Regressor(RecipeBrain):
    def compute_forward(self, batch, stage):
        return self.modules.net(batch[0])

    def compute_objectives(self, predictions, batch, stage):
        loss = torch.nn.functional.mse_loss(predictions, batch[1])
        self.track_loss("mse", loss)
        return loss

    def summarize_metrics(self, stage):
        self.epochs = getattr(self, "epochs", 0) + 1
        return {"score": 10.0 * self.epochs}

    def selection_error(self, stats):
        return 1000.0 - stats["score"]


def _brain(groups, **kwargs):
    return Regressor(
        {"net": groups["model"]["modules"]},
        param_groups=groups,
        run_opts={"device": "cpu"},
        **kwargs,
    )


def test_annealing_follows_the_selection_error_not_the_loss():
    torch.manual_seed(0)
    scheduler = RecordingScheduler()
    net = torch.nn.Linear(3, 1)
    groups = {
        "model": {
            "modules": net,
            "optimizer": lambda p: torch.optim.SGD(p, lr=0.1),
            "annealing": scheduler,
        }
    }
    data = [(torch.rand(4, 3), torch.rand(4, 1)) for _ in range(3)]
    _brain(groups).fit(range(2), data, data)
    assert scheduler.seen == [990.0, 980.0]


def test_frozen_groups_get_no_optimizer_and_bad_groups_fail():
    net, frozen = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    frozen.requires_grad_(False)
    groups = {
        "model": {"modules": net, "optimizer": torch.optim.Adam},
        "pretrained": {"modules": [frozen], "optimizer": torch.optim.Adam},
    }
    brain = _brain(groups)
    brain.init_optimizers()
    assert sorted(brain.optimizers_dict) == ["model"]
    with pytest.raises(ValueError, match="param_groups.model lacks"):
        _brain({"model": {"modules": net}})


def test_an_evaluation_only_brain_needs_no_groups_nor_checkpoint(tmp_path):
    """zero_shot_asr.yaml: test_only, no param_groups, no checkpointer."""
    net = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError) as error:
        Regressor({"net": net}, param_groups={}, run_opts={"device": "cpu"})
    assert str(error.value) == (
        "param_groups is empty: declare at least one group with 'modules' "
        "and 'optimizer' in the yaml (or set test_only: True for a yaml "
        "that only evaluates)."
    )
    brain = Regressor(
        {"net": net},
        param_groups={},
        hparams={"test_only": True},
        run_opts={"device": "cpu"},
    )
    data = [(torch.rand(4, 3), torch.rand(4, 1))]
    before = net.weight.clone()
    brain.fit(range(2), data, data)  # no training stage
    loss = brain.evaluate(data)  # the modules as built
    assert torch.equal(net.weight, before)
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(net(data[0][0]), data[0][1])
    assert loss == pytest.approx(expected.item())
    assert brain.loaded_checkpoint is None
    # with a checkpointer, evaluation still needs a checkpoint
    checkpointer = sb.utils.checkpoints.Checkpointer(str(tmp_path / "save"))
    groups = {"model": {"modules": net, "optimizer": torch.optim.Adam}}
    with pytest.raises(FileNotFoundError, match="train the model first"):
        _brain(groups, checkpointer=checkpointer).evaluate(data)


def test_condition_without_mixer_is_an_error():
    net = torch.nn.Linear(3, 1)
    brain = _brain({"model": {"modules": net, "optimizer": torch.optim.Adam}})
    brain.test_condition = object()
    with pytest.raises(RuntimeError, match="condition_mixer"):
        brain.augment(torch.rand(1, 8), torch.ones(1), ["u"], sb.Stage.TEST, {})
    wavs = torch.rand(1, 8)
    out, _, _ = brain.augment(wavs, torch.ones(1), ["u"], sb.Stage.VALID, {})
    assert out is wavs


def _recipe_module():
    spec = importlib.util.spec_from_file_location("joint_train", TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_classification_stats_receive_python_ints():
    recipe = _recipe_module()
    stats = sb.utils.metric_stats.ClassificationStats()
    fake = SimpleNamespace(emo_metric=stats, test_records=None)
    predictions = {"p_emo": torch.log_softmax(torch.rand(3, 4), -1)}
    targets = {
        "id": ["a", "b", "c"],
        "wrd": ["", "", ""],
        "emo": torch.tensor([0, 3, 1]),
    }
    recipe.JointCTCBertBrain.update_metrics(fake, predictions, targets)
    assert stats.targets == [0, 3, 1]
    assert all(type(t) is int for t in stats.targets)
    assert all(type(p) is int for p in stats.predictions)
    # the confusion matrix is keyed by class, not by tensor object
    confusion = stats.summarize()["confusion_matrix"]
    assert confusion.sum() == 3


def test_labels_outside_the_yaml_list_name_the_manifest(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(
        json.dumps(
            {
                "u1": {"wav": "x.wav", "duration": "1.5", "emo": "anger"},
                "u2": {"wav": "y.wav", "duration": "2.0", "emo": "fear"},
            }
        )
    )
    with pytest.raises(ValueError, match=r"train\.json.*\['fear'\].*'u2'"):
        load_datasets({"train": str(path)}, ".", labels=["anger", "sad"])
    sets = load_datasets({"train": str(path)}, ".", labels=["anger", "fear"])
    durations = [e["duration"] for e in sets["train"].data.values()]
    assert durations == [1.5, 2.0]


def test_preparation_steps_run_in_order_unless_skipped():
    calls = []
    steps = [lambda: calls.append(1), lambda: calls.append(2)]
    run_preparation(steps, skip_prep=True)
    assert calls == []
    run_preparation(steps)
    assert calls == [1, 2]


def test_loss_terms_are_averaged_at_the_end_of_the_stage():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    groups = {
        "model": {
            "modules": net,
            "optimizer": lambda p: torch.optim.SGD(p, lr=0.0),
        }
    }
    brain = _brain(groups)
    data = [(torch.rand(4, 3), torch.rand(4, 1)) for _ in range(3)]
    brain.on_stage_start(sb.Stage.TRAIN)
    for batch in data:
        brain.compute_objectives(
            brain.compute_forward(batch, sb.Stage.TRAIN), batch, None
        )
    # kept as tensors during the stage (no host synchronisation per step)
    assert all(torch.is_tensor(v) for v in brain.loss_parts["mse"])
    with torch.no_grad():
        expected = sum(
            float(torch.nn.functional.mse_loss(net(x), y)) for x, y in data
        ) / len(data)
    brain.on_stage_end(sb.Stage.TRAIN, stage_loss=0.0)
    assert brain.train_stats["loss_mse"] == pytest.approx(expected, rel=1e-6)


EPOCHS_YAML = """number_of_epochs: 3
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
  limit: !ref <number_of_epochs>
"""


@pytest.mark.parametrize(
    "value, shown", [("1.5", "1.5"), ("abc", "'abc'"), ("-1", "-1")]
)
def test_number_of_epochs_is_checked_before_loading(tmp_path, value, shown):
    path = tmp_path / "train.yaml"
    path.write_text(EPOCHS_YAML)
    _, _, overrides = sb.parse_arguments(
        [str(path), f"--number_of_epochs={value}"]
    )
    message = rf"number_of_epochs={shown} \(from the command line\)"
    with pytest.raises(ValueError, match=message):
        load_hparams(str(path), overrides)
    # a bad value in the yaml itself names the file
    path.write_text(EPOCHS_YAML.replace(": 3", f": {value}", 1))
    with pytest.raises(ValueError, match=rf"{shown} \(in .*train\.yaml\)"):
        load_hparams(str(path))


def test_zero_epochs_is_accepted_and_a_recipe_yaml_is_checked(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(EPOCHS_YAML)
    assert (
        load_hparams(str(path), "number_of_epochs: 0")["epoch_counter"].limit
        == 0
    )
    # a recipe's own yaml: the error comes before any model is built
    joint = os.path.join(os.path.dirname(TRAIN), "hparams", "joint_demo.yaml")
    _, _, overrides = sb.parse_arguments(
        [joint, "--number_of_epochs=2.5", f"--output_folder={tmp_path}"]
    )
    with pytest.raises(ValueError, match=r"number_of_epochs=2\.5"):
        load_hparams(joint, overrides)
    assert os.listdir(tmp_path) == ["train.yaml"]


def test_every_recipe_loads_its_yaml_with_the_checks():
    pattern = os.path.join(ROOT, "recipes", "*", "*", "*", "train.py")
    scripts = glob.glob(pattern)
    assert len(scripts) == 6
    for script in scripts:
        with open(script, encoding="utf-8") as fin:
            source = fin.read()
        assert "load_hparams(hparams_file, overrides)" in source, script
        assert "load_hyperpyyaml" not in source, script


def test_brain_refuses_a_fractional_number_of_epochs():
    net = torch.nn.Linear(3, 1)
    groups = {"model": {"modules": net, "optimizer": torch.optim.Adam}}
    with pytest.raises(ValueError, match=r"number_of_epochs=1\.5"):
        _brain(groups, hparams={"number_of_epochs": 1.5})


def _manifest(path, labels, durations=None):
    durations = durations or [1.0] * len(labels)
    entries = {
        f"u{i}": {"wav": f"{i}.wav", "duration": d, "emo": label}
        for i, (label, d) in enumerate(zip(labels, durations))
    }
    path.write_text(json.dumps(entries))
    return str(path)


def test_classes_without_training_utterances_name_the_manifest(tmp_path):
    train = _manifest(tmp_path / "train.json", ["anger", "sad", "anger"])
    test = _manifest(tmp_path / "test.json", ["anger"])
    labels = ["anger", "sad", "fear", "neu"]
    message = r"train\.json: class\(es\) \['fear', 'neu'\] .* 4-way"
    with pytest.raises(ValueError, match=message):
        load_datasets({"train": train, "test": test}, ".", labels=labels)
    # a class the test set lacks is not an error; the training set decides
    sets = load_datasets({"train": train, "test": test}, ".", labels=labels[:2])
    assert len(sets["test"]) == 1
    # a class whose every utterance is cut by max_duration has no data
    long_sad = _manifest(tmp_path / "cut.json", ["anger", "sad"], [1.0, 9.0])
    with pytest.raises(ValueError, match=r"cut\.json.*\['sad'\].*at most 5"):
        load_datasets(
            {"train": long_sad}, ".", max_duration=5, labels=labels[:2]
        )
