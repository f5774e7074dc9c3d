"""The shared recipe core: parameter groups, annealing, metrics, labels."""

import glob
import json
import os
import re
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from speechbrain.augment.augmenter import Augmenter
from speechbrain.augment.time_domain import DropChunk
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_ext.augment.noise_pools import NOISE_KEYS
from speechbrain_ext.recipe.brain import RecipeBrain
from speechbrain_ext.recipe.data import load_datasets, run_preparation
from speechbrain_ext.recipe.hparams import load_hparams
from speechbrain_ext.utils.metrics import compute_metrics
from tests.toy_brains import sgd_groups

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


class Loudness(RecipeBrain):
    """Emotion from the mean level of ``sig``; hypothesis from the level."""

    def compute_forward(self, batch, stage):
        wavs, lens = batch.sig
        self.seen = getattr(self, "seen", []) + [(stage, wavs.clone())]
        level = wavs.abs().mean(1, keepdim=True)
        out = {"p_emo": self.modules.net(level).log_softmax(-1)}
        out["hyps"] = [["LOUD"] if v > 1 else ["SOFT"] for v in level[:, 0]]
        return out

    def compute_objectives(self, predictions, batch, stage):
        emo = batch.emo_encoded.data[:, 0]
        return torch.nn.functional.nll_loss(predictions["p_emo"], emo)


def _brain(groups, **kwargs):
    return Regressor(
        {"net": groups["model"]["modules"]},
        param_groups=groups,
        run_opts={"device": "cpu"},
        **kwargs,
    )


def _loud_data(n=16):
    return [
        {
            "id": f"u{i:02d}",
            "sig": torch.randn(400) * (1 + 4 * (i % 2)),
            "emo_encoded": torch.tensor([i % 2]),
            "wrd": "LOUD" if i % 2 else "SOFT",
        }
        for i in range(n)
    ]


def _opts():
    return {"batch_size": 4, "collate_fn": PaddedBatch}


def _fit(brain, data, epochs):
    """Trains on ``data``, validated on the same data."""
    brain.fit(
        range(epochs),
        data,
        data,
        train_loader_kwargs=_opts(),
        valid_loader_kwargs=_opts(),
    )


def _loudness(selection_metric=None, scheduler=None, **kwargs):
    torch.manual_seed(0)
    net = torch.nn.Linear(1, 2)
    groups = sgd_groups(net, lr=0.5)
    if scheduler is not None:
        groups["model"]["annealing"] = scheduler
    if selection_metric is not None:
        kwargs["selection_metric"] = selection_metric
    return Loudness(
        {"net": net},
        hparams={"emotions": ["neu", "ang"]},
        param_groups=groups,
        run_opts={"device": "cpu"},
        **kwargs,
    )


class StatsLogger:
    def __init__(self):
        self.calls = []

    def log_stats(self, stats_meta, **stats):
        self.calls.append((stats_meta, stats))


def test_annealing_follows_the_selection_metric_not_the_loss():
    scheduler, logger = RecordingScheduler(), StatsLogger()
    brain = _loudness(["WER", "UA"], scheduler, train_logger=logger)
    data = _loud_data()
    _fit(brain, data, epochs=2)
    valid = [stats["valid_stats"] for _, stats in logger.calls]
    expected = [v["WER"] + 100 - v["UA"] for v in valid]
    assert scheduler.seen == pytest.approx(expected)
    assert [v["error"] for v in valid] == pytest.approx(expected)
    assert all(v["loss"] != e for v, e in zip(valid, expected))
    # the default is the validation loss
    scheduler, logger = RecordingScheduler(), StatsLogger()
    brain = _loudness(scheduler=scheduler, train_logger=logger)
    _fit(brain, data, epochs=1)
    loss = logger.calls[0][1]["valid_stats"]["loss"]
    assert scheduler.seen == [pytest.approx(loss)]


def test_selection_metric_must_be_computed():
    brain = _loudness("window_WA")
    data = _loud_data()
    with pytest.raises(ValueError, match="selection_metric names 'window_WA'"):
        _fit(brain, data, epochs=1)


def test_validation_and_test_metrics_agree_on_the_same_set():
    logger = StatsLogger()
    brain = _loudness("UA", train_logger=logger)
    data = _loud_data()
    _fit(brain, data, epochs=1)
    brain.test_records = []
    brain.evaluate(data, test_loader_kwargs=_opts())
    valid = logger.calls[0][1]["valid_stats"]
    test = logger.calls[-1][1]["test_stats"]
    for key in ("loss", "WA", "UA", "macro_F1", "WER", "CER", "error"):
        assert test[key] == pytest.approx(valid[key]), key
    # the records handed to the reports are those the metrics scored
    assert sorted(r["id"] for r in brain.test_records) == sorted(
        d["id"] for d in data
    )
    assert compute_metrics(brain.test_records, ["neu", "ang"])[
        "UA"
    ] == pytest.approx(test["UA"])


class Transcriber(RecipeBrain):
    """ASR only (no emotion output): a hypothesis from the level."""

    def compute_forward(self, batch, stage):
        level = batch.sig.data.abs().mean(1)
        return {"hyps": [["LOUD"] if v > 1 else ["SOFT"] for v in level]}

    def compute_objectives(self, predictions, batch, stage):
        return torch.zeros(())


def test_records_of_an_asr_model_carry_the_true_emotion():
    """zero_shot_asr.yaml: the WER by emotion needs the true emotions."""
    brain = Transcriber(
        {},
        param_groups={},
        hparams={"test_only": True, "emotions": ["neu", "ang"]},
        run_opts={"device": "cpu"},
    )
    data = _loud_data(8)
    brain.test_records = []
    brain.evaluate(data, test_loader_kwargs=_opts())
    assert [(r["id"], r["emo"]) for r in brain.test_records] == [
        (d["id"], ["neu", "ang"][int(d["emo_encoded"])]) for d in data
    ]
    assert all("pred" not in r for r in brain.test_records)
    assert sorted(brain.stage_metrics.summarize()) == ["CER", "WER"]


class ShiftMixer:
    """A condition mixer that adds a constant: the noise is visible."""

    def __call__(self, wavs, lens, ids, condition):
        return wavs + 10.0


def test_noisy_condition_reaches_the_forward_pass_and_predictions():
    brain = _loudness(condition_mixer=ShiftMixer())
    data = _loud_data()
    _fit(brain, data, epochs=2)
    scores = {}
    for condition in (None, SimpleNamespace(name="noise_5dB")):
        brain.seen, brain.test_records = [], []
        brain.test_condition = condition
        brain.evaluate(data, test_loader_kwargs=_opts())
        scores[condition is None] = (brain.seen, brain.test_records)
    brain.test_condition = None
    clean, noisy = scores[True], scores[False]
    for (_, wavs_clean), (_, wavs_noisy) in zip(clean[0], noisy[0]):
        assert not torch.allclose(wavs_clean, wavs_noisy)
    assert [r["hyp"] for r in clean[1]] != [r["hyp"] for r in noisy[1]]


def test_condition_without_mixer_is_an_error():
    brain = _loudness()
    brain.test_condition = SimpleNamespace(name="noise_5dB")
    with pytest.raises(RuntimeError, match="condition_mixer"):
        brain.evaluate(_loud_data(4), test_loader_kwargs=_opts())


def test_a_condition_on_batches_without_audio_is_refused():
    net = torch.nn.Linear(3, 1)
    brain = _brain(
        {"model": {"modules": net, "optimizer": torch.optim.Adam}},
        condition_mixer=ShiftMixer(),
    )
    brain.test_condition = SimpleNamespace(name="noise_5dB")
    data = [(torch.rand(4, 3), torch.rand(4, 1))]
    with pytest.raises(ValueError, match="no audio item 'sig'"):
        brain.evaluate(data)


def test_augmented_rows_carry_their_targets():
    copy = Augmenter(
        concat_original=True,
        min_augmentations=1,
        max_augmentations=1,
        augmentations=[DropChunk(drop_length_low=10, drop_length_high=20)],
    )
    brain = _loudness(train_augment=[copy])
    seen = []
    compute = brain.compute_objectives

    def objectives(predictions, batch, stage):
        seen.append((stage, list(batch.id), batch.emo_encoded.data[:, 0]))
        return compute(predictions, batch, stage)

    brain.compute_objectives = objectives
    data = _loud_data(8)
    _fit(brain, data, epochs=1)
    train = [s for s in seen if s[0] == sb.Stage.TRAIN]
    assert all(len(ids) == 8 for _, ids, _ in train)
    for _, ids, emo in train:
        assert ids[:4] == ids[4:]
        assert emo.tolist() == [int(i[1:]) % 2 for i in ids]
    assert all(len(ids) == 4 for st, ids, _ in seen if st != sb.Stage.TRAIN)


@pytest.mark.parametrize("method", ["fit_batch", "evaluate_batch"])
def test_a_recipe_cannot_bypass_the_core(method):
    with pytest.raises(TypeError, match=f"overrides {method}"):
        type("Bypass", (RecipeBrain,), {method: lambda self, *a: None})


def test_non_finite_emotion_probabilities_are_refused():
    brain = _loudness()
    brain.modules.net.weight.data.fill_(float("nan"))
    with pytest.raises(ValueError, match="Non-finite emotion probabilities"):
        brain.evaluate(_loud_data(4), test_loader_kwargs=_opts())


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
    net = torch.nn.Linear(1, 2)
    brain = Loudness(
        {"net": net},
        param_groups={},
        hparams={"test_only": True, "emotions": ["neu", "ang"]},
        run_opts={"device": "cpu"},
    )
    data = _loud_data(4)
    before = net.weight.clone()
    brain.fit(range(2), data, data, train_loader_kwargs=_opts())
    loss = brain.evaluate(data, test_loader_kwargs=_opts())  # as built
    assert torch.equal(net.weight, before)
    with torch.no_grad():
        batch = PaddedBatch(data)
        level = batch.sig.data.abs().mean(1, keepdim=True)
        expected = torch.nn.functional.nll_loss(
            net(level).log_softmax(-1), batch.emo_encoded.data[:, 0]
        )
    assert loss == pytest.approx(expected.item())
    assert brain.loaded_checkpoint is None
    # with a checkpointer, evaluation still needs a checkpoint
    checkpointer = sb.utils.checkpoints.Checkpointer(str(tmp_path / "save"))
    groups = {"model": {"modules": net, "optimizer": torch.optim.Adam}}
    with pytest.raises(FileNotFoundError, match="train the model first"):
        _brain(groups, checkpointer=checkpointer).evaluate(
            data, test_loader_kwargs=_opts()
        )


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
    groups = sgd_groups(net, lr=0.0)
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
        # experiment.load checks the folders and the yaml's values
        assert re.search(r"experiment\.load\(\s*sys\.argv\[1:\]", source), (
            script
        )
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


def _top_keys(path):
    with open(path, encoding="utf-8") as f:
        return {
            line.split(":", 1)[0]
            for line in f
            if re.match(r"^[A-Za-z_]\w*:", line)
        }


RECIPE_YAMLS = sorted(
    glob.glob(os.path.join(ROOT, "recipes", "*", "*", "*", "hparams", "*.yaml"))
)


@pytest.mark.parametrize(
    "path", RECIPE_YAMLS, ids=lambda p: os.path.relpath(p, ROOT)
)
def test_every_recipe_yaml_has_the_shared_keys(path):
    """Noise training, the seven conditions and the selection metric."""
    keys = _top_keys(path)
    with open(path, encoding="utf-8") as f:
        evaluates_only = re.search(r"^test_only: True", f.read(), re.M)
    if evaluates_only:
        needed = {"musan_folder", "test_conditions", "test_noise_seed"}
    else:
        needed = {*NOISE_KEYS, "selection_metric", "train_augment"}
    assert needed <= keys, sorted(needed - keys)


def test_every_family_has_a_recipe_yaml_listed():
    families = {os.path.dirname(os.path.dirname(p)) for p in RECIPE_YAMLS}
    assert len(families) == 6
