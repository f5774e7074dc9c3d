"""The Emo-DB recipe's window and utterance accuracies, through its Brain."""

import csv
import json
import os

import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_ext.augment.conditions import conditions_of_set
from speechbrain_ext.augment.noise_pools import build_condition_mixer
from speechbrain_ext.recipe.experiment import load_recipe_module
from speechbrain_ext.utils.evaluation import evaluate_conditions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TRAIN = os.path.join(
    ROOT, "recipes", "EmoDB", "emotion_recognition", "LSTM", "train.py"
)
EMOTIONS = ["ang", "hap"]


class Frames(torch.nn.Module):
    """Stands in for the features: the audio read as frames of 2 values."""

    context = 0

    def forward(self, wavs, frame_range=None):
        return wavs.view(wavs.shape[0], -1, 2)

    def utterance_frames(self, wav_lens, n_samples):
        last = (wav_lens * n_samples).round().long() // 2 - 1
        return torch.stack([torch.zeros_like(last), last], dim=1)


class Unnormalized(torch.nn.Module):
    """Stands in for the global normalisation: features as they are."""

    def forward(self, feats, lengths=None, epoch=None):
        return feats


class LastFrame(torch.nn.Module):
    """Stands in for the RNN: the state of a window is its last frame."""

    def forward(self, windows):
        return windows[:, -1]


class Recorder:
    """Stands in for the train logger: keeps what is logged."""

    def __init__(self):
        self.logged = []

    def log_stats(self, stats_meta, **stats):
        self.logged.append(stats)


def _utterances():
    """Two utterances whose window predictions are set frame by frame (their
    audio ``sig`` holds the frames, read back by :class:`Frames`).

    ``a`` (ang, 31 frames): windows of 25 frames every 3 end on frames 24,
    27 and 30; the first two say ang, the third hap, so 2 of its 3
    windows are right and their mean log-posterior says ang. ``b`` (hap,
    10 frames): one window, right.
    """
    a = torch.zeros(31, 2)
    a[24] = a[27] = torch.tensor([5.0, 0.0])
    a[30] = torch.tensor([0.0, 1.0])
    b = torch.zeros(10, 2)
    b[-1] = torch.tensor([0.0, 3.0])
    return [
        {"id": "a", "sig": a.flatten(), "emo_encoded": torch.tensor([0])},
        {"id": "b", "sig": b.flatten(), "emo_encoded": torch.tensor([1])},
    ]


def _brain(tmp_path, logger):
    recipe = load_recipe_module(TRAIN, "emodb_train")
    classifier = sb.nnet.linear.Linear(input_size=2, n_neurons=2)
    with torch.no_grad():
        classifier.w.weight.copy_(torch.eye(2))
        classifier.w.bias.zero_()
    checkpointer = sb.utils.checkpoints.Checkpointer(
        str(tmp_path / "save"), {"classifier": classifier}
    )
    hparams = {
        "epoch_counter": sb.utils.epoch_loop.EpochCounter(1),
        "window_size": 25,
        "window_shift": 3,
        "aggregation": "mean_log_prob",
        "compute_cost": sb.nnet.losses.nll_loss,
        "classifier": classifier,
        "l2_weight": 1e-4,
        "emotions": EMOTIONS,
        "selection_metric": "WA",
    }
    modules = {
        "compute_features": Frames(),
        "normalize": Unnormalized(),
        "encoder": LastFrame(),
        "classifier": classifier,
    }
    brain = recipe.WindowRNNBrain(
        modules=modules,
        hparams=hparams,
        run_opts={"device": "cpu"},
        checkpointer=checkpointer,
        param_groups={
            "model": {"modules": classifier, "optimizer": torch.optim.Adam}
        },
        condition_mixer=build_condition_mixer(
            conditions_of_set("clean"), str(tmp_path), seed=1
        ),
        train_logger=logger,
    )
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(EMOTIONS)
    brain.emo_encoder = encoder
    checkpointer.save_checkpoint()  # for evaluate() to load
    return brain


def test_window_accuracy_counts_windows_utterance_accuracy_utterances(
    tmp_path,
):
    """3 of 4 windows right (75), both utterances right (100); the mean of
    the per-utterance window accuracies would be (2/3 + 1) / 2 = 83.3."""
    logger = Recorder()
    brain = _brain(tmp_path, logger)
    results = tmp_path / "test_results"
    evaluate_conditions(
        brain,
        _utterances(),
        conditions_of_set("clean"),
        str(results),
        test_loader_kwargs={"batch_size": 2, "collate_fn": PaddedBatch},
    )
    with open(results / "clean" / "metrics.json", encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["WA"] == 100.0
    assert metrics["window_WA"] == 75.0
    assert (metrics["n"], metrics["n_windows"]) == (2, 4)
    with open(results / "metrics.json", encoding="utf-8") as f:
        assert json.load(f)["clean"]["window_WA"] == 75.0
    table = (results / "results.md").read_text(encoding="utf-8")
    assert "| Condition | WA | window WA | UA | macro-F1 |" in table
    assert "| clean | 100.00 | 75.00 |" in table
    with open(results / "clean" / "predictions.csv", encoding="utf-8") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    assert (rows["a"]["n_windows"], rows["a"]["windows_correct"]) == (
        "3",
        "2",
    )
    assert (rows["b"]["n_windows"], rows["b"]["windows_correct"]) == (
        "1",
        "1",
    )
    # the test stage's log line: both accuracies, from the core's metrics
    test_stats = logger.logged[-1]["test_stats"]
    assert test_stats["WA"] == 100.0 and test_stats["window_WA"] == 75.0


def test_validation_logs_both_accuracies(tmp_path):
    brain = _brain(tmp_path, Recorder())
    batch = PaddedBatch(_utterances())
    brain.on_stage_start(sb.Stage.VALID, epoch=1)
    brain.evaluate_batch(batch, sb.Stage.VALID)
    stats = brain.stage_metrics.summarize()
    assert (stats["WA"], stats["window_WA"]) == (100.0, 75.0)
    # the next stage starts its counts anew
    brain.on_stage_start(sb.Stage.VALID, epoch=2)
    brain.evaluate_batch(PaddedBatch(_utterances()[:1]), sb.Stage.VALID)
    assert brain.stage_metrics.summarize()["window_WA"] == 200 / 3


def test_forward_follows_the_prediction_contract(tmp_path):
    """Utterances: their posteriors, and those of their windows with the
    utterance of each; windows of audio (training): their posteriors."""
    brain = _brain(tmp_path, Recorder())
    batch = PaddedBatch(_utterances())
    out = brain.compute_forward(batch, sb.Stage.VALID)
    assert sorted(out) == ["p_emo", "window_owners", "window_p_emo"]
    assert out["window_owners"].tolist() == [0, 0, 0, 1]
    assert out["p_emo"].argmax(-1).tolist() == [0, 1]
    windows = PaddedBatch(
        [
            {
                "id": "a",
                "sig": torch.tensor([0.0, 1.0] * 25),
                "frame_range": torch.tensor([0, 24]),
                "emo_encoded": torch.tensor([1]),
            }
        ]
    )
    out = brain.compute_forward(windows, sb.Stage.TRAIN)
    assert sorted(out) == ["p_emo"] and out["p_emo"].shape == (1, 2)
    assert out["p_emo"].argmax(-1).tolist() == [1]
