"""The core's training throughput: audio seconds that reach the model."""

import torch
from speechbrain.augment.augmenter import Augmenter
from speechbrain.augment.time_domain import DropChunk
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_ext.recipe.brain import RecipeBrain
from tests.toy_brains import sgd_groups


class Mean(RecipeBrain):
    def compute_forward(self, batch, stage):
        wavs, lens = batch.sig
        return {"p_emo": self.modules.net(wavs.mean(1, keepdim=True))}

    def compute_objectives(self, predictions, batch, stage):
        out = predictions["p_emo"]
        loss = torch.nn.functional.mse_loss(out[:, 0], batch.y.data[:, 0])
        self.track_loss("mse", loss)
        return loss


def _items(durations, n_batches):
    return [
        {
            "id": f"b{b}u{i}",
            "sig": torch.randn(int(dur * 16000)),
            "y": torch.tensor([float(i)]),
            "emo_encoded": torch.tensor([0]),
        }
        for b in range(n_batches)
        for i, dur in enumerate(durations)
    ]


def _fit(brain, data, batch_size):
    opts = {"batch_size": batch_size, "collate_fn": PaddedBatch}
    brain.fit(
        range(1),
        data,
        data,
        train_loader_kwargs=opts,
        valid_loader_kwargs=opts,
    )


def _brain(train_augment=None):
    net = torch.nn.Linear(1, 1)
    groups = sgd_groups(net, lr=0.01)
    return Mean(
        {"net": net},
        hparams={"emotions": ["neu"]},
        param_groups=groups,
        run_opts={"device": "cpu"},
        train_augment=train_augment,
    )


def test_audio_seconds_per_utterance_is_the_mean_duration():
    durations = [0.5, 1.0, 1.5, 3.0]
    brain = _brain()
    _fit(brain, _items(durations, 3), len(durations))
    stats = brain.train_stats
    # the same wall time divides both counts
    per_utt = stats["audio_s_per_s"] / stats["utt_per_s"]
    assert abs(per_utt - sum(durations) / len(durations)) < 1e-4
    assert abs(stats["utt_per_s"] / stats["steps_per_s"] - 4) < 1e-6


def test_copies_made_by_the_augmenter_are_counted():
    durations = [1.0, 2.0]
    copy = Augmenter(
        concat_original=True,
        min_augmentations=1,
        max_augmentations=1,
        augmentations=[DropChunk(drop_length_low=10, drop_length_high=20)],
    )
    brain = _brain([copy])
    _fit(brain, _items(durations, 2), len(durations))
    stats = brain.train_stats
    assert abs(stats["utt_per_s"] / stats["steps_per_s"] - 4) < 1e-6
    per_utt = stats["audio_s_per_s"] / stats["utt_per_s"]
    assert abs(per_utt - 1.5) < 1e-4
