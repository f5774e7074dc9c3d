#!/usr/bin/env python3
"""Speech emotion recognition on Emo-DB with an RNN on 250 ms windows.

Cournut & Buldu, *Speech Emotion Recognition using Recurrent Neural
Networks*. MSPEC (40 log-mel) or MFCC (13) frames, alone, with Δ or with
Δ+ΔΔ, globally normalised, are cut into windows of 25 frames (250 ms) every
3 frames; every window is a training example labelled with its utterance's
emotion (7 classes). Model: 2 recurrent layers (LSTM 128, dropout 0.2), the
last state -> fully connected layer (L2 penalty 1e-4 on its weights) ->
softmax; Adam, batches of 128 windows, 10 epochs. An utterance is classified
from all its windows: the mean of their log-posteriors, renormalised
(``aggregation: mean_log_prob``). Validation and test report the accuracy
of both: over utterances (``ACC``, ``WA``) and over windows, each window
classified alone (``window_ACC``, ``window_WA``). The speakers of train
(408 utterances), validation (56) and test (71) are disjoint.

    python train.py hparams/lstm.yaml --data_folder=<Emo-DB folder>
    python train.py hparams/lstm.yaml --data_folder=... \
        --feature_type=mfcc --delta_order=0     # Table 3: features
    python train.py hparams/rnn.yaml --data_folder=...   # Table 4: cells
    python train.py hparams/lstm_demo.yaml      # generated corpus, CPU

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

import functools
import logging
import os
import sys

import speechbrain as sb
import torch

from speechbrain_ext.augment.noise_pools import load_condition_set
from speechbrain_ext.nnet.windows import (
    FeatureWindows,
    aggregate_windows,
    sliding_windows,
)
from speechbrain_ext.recipe.brain import RecipeBrain
from speechbrain_ext.recipe.data import (
    add_audio,
    add_label_encoder,
    check_recipe_folders,
    load_datasets,
    run_preparation,
    train_loader_options,
)
from speechbrain_ext.recipe.hparams import load_hparams
from speechbrain_ext.utils.evaluation import (
    evaluate_conditions,
    utterance_records,
)

logger = logging.getLogger(__name__)


class WindowRNNBrain(RecipeBrain):
    """Classifies windows in training, utterances (from windows) otherwise."""

    def compute_forward(self, batch, stage):
        """Normalised features -> windows -> RNN -> FC -> log-posteriors.

        In training, the log-posteriors [windows, classes] of a batch of
        windows. Otherwise ``(utterances, windows, owners)``: the
        aggregated log-posteriors [utterances, classes], those of every
        window [windows, classes] and the utterance of each window.
        """
        batch = batch.to(self.device)
        feats, lens = batch.feats
        # Global statistics, accumulated over the first epoch's windows
        epoch = self.hparams.epoch_counter.current
        feats = self.modules.normalize(feats, lens, epoch=epoch)
        if stage == sb.Stage.TRAIN:  # a batch of windows
            return self.classify(feats)
        # A batch of utterances: every window of each, then one posterior
        # per utterance
        windows, owners = sliding_windows(
            feats, lens, self.hparams.window_size, self.hparams.window_shift
        )
        window_log_probs = self.classify(windows)
        utterances = aggregate_windows(
            window_log_probs,
            owners,
            len(batch.id),
            method=self.hparams.aggregation,
        )
        return utterances, window_log_probs, owners

    def classify(self, windows):
        """Window log-posteriors [windows, classes]."""
        state = self.modules.encoder(windows)
        return self.hparams.log_softmax(self.modules.classifier(state))

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy + L2 penalty on the FC layer's weight matrix.

        Training: over windows; otherwise over utterances, whose
        accuracies are updated too.
        """
        emo = batch.emo_encoded.data[:, 0]
        if stage != sb.Stage.TRAIN:
            predictions, window_log_probs, owners = predictions
            self.update_metrics(
                batch.id, emo, predictions, window_log_probs, owners
            )
        nll = self.hparams.compute_cost(
            predictions.unsqueeze(1), emo.unsqueeze(1)
        )
        # Keras' kernel_regularizer=l2(l2_weight): the weights, not the bias
        # (of the yaml's module, which DDP does not wrap)
        weight = self.hparams.classifier.w.weight
        l2 = self.hparams.l2_weight * weight.pow(2).sum()
        self.track_loss("nll", nll)
        self.track_loss("l2", l2)
        return nll + l2

    def update_metrics(self, ids, emo, log_probs, window_log_probs, owners):
        """Adds an evaluation batch to the utterance and window accuracies.

        An utterance is right when its aggregated posterior is; a window
        when its own posterior is (each window counts once). The test
        records carry each utterance's window counts.

        Arguments
        ---------
        ids : list of str
            The utterances of the batch.
        emo : torch.Tensor
            Their emotion indices [utterances].
        log_probs : torch.Tensor
            Their aggregated log-posteriors [utterances, classes].
        window_log_probs : torch.Tensor
            The log-posteriors of their windows [windows, classes].
        owners : torch.Tensor
            The utterance (batch index) of each window [windows].
        """
        emo, owners = emo.cpu(), owners.cpu()
        probs = log_probs.exp().detach().cpu()
        self.emo_metric.append(ids, probs.argmax(-1).tolist(), emo.tolist())
        hits = window_log_probs.detach().argmax(-1).cpu() == emo[owners]
        n_windows = torch.bincount(owners, minlength=len(ids))
        correct = torch.zeros_like(n_windows).index_add_(0, owners, hits.long())
        self.window_counts["windows"] += int(n_windows.sum())
        self.window_counts["correct"] += int(correct.sum())
        if self.test_records is not None:
            records = utterance_records(
                ids,
                self.emo_encoder.decode_torch(emo),
                probs=probs,
                labels=self.hparams.emotions,
            )
            for i, record in enumerate(records):
                record["n_windows"] = int(n_windows[i])
                record["windows_correct"] = int(correct[i])
            self.test_records += records

    def on_stage_start(self, stage, epoch=None):
        """Resets the loss terms and the accuracy trackers."""
        super().on_stage_start(stage, epoch)
        self.emo_metric = sb.utils.metric_stats.ClassificationStats()
        self.window_counts = {"windows": 0, "correct": 0}

    def summarize_metrics(self, stage):
        """Accuracy (%) over the utterances and over their windows."""
        counts = self.window_counts
        return {
            "ACC": 100 * float(self.emo_metric.summarize("accuracy")),
            "window_ACC": 100 * counts["correct"] / max(counts["windows"], 1),
        }

    def selection_error(self, stats):
        """100 - validation accuracy."""
        return 100.0 - stats["ACC"]


def compute_features(sig, features):
    """Features [frames, dims] of one waveform (not normalised)."""
    with torch.no_grad():
        return features(sig.unsqueeze(0))[0]


def dataio_prepare(hparams):
    """Training windows, validation and test utterances, label encoder."""
    datasets = load_datasets(
        {
            "train": hparams["train_annotation"],
            "valid": hparams["valid_annotation"],
            "test": hparams["test_annotation"],
        },
        hparams["data_folder"],
        labels=hparams["emotions"],
    )
    add_audio(datasets)
    emo_encoder = add_label_encoder(
        datasets, hparams["emotions"], hparams["save_folder"]
    )
    sb.dataio.dataset.add_dynamic_item(
        list(datasets.values()),
        functools.partial(
            compute_features, features=hparams["compute_features"]
        ),
        takes=["sig"],
        provides=["feats"],
    )
    sb.dataio.dataset.set_output_keys(
        list(datasets.values()), ["id", "feats", "emo_encoded"]
    )
    # Features of every training utterance computed once, then windows
    train_windows = FeatureWindows(
        datasets["train"], hparams["window_size"], hparams["window_shift"]
    )
    logger.info(
        "%d training windows from %d utterances",
        len(train_windows),
        len(train_windows.windows_per_utterance),
    )
    return train_windows, datasets["valid"], datasets["test"], emo_encoder


if __name__ == "__main__":
    # Command line and hyperparameters
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    # Refuse an output folder inside the corpus before anything is written
    check_recipe_folders(hparams_file, overrides)
    hparams = load_hparams(hparams_file, overrides)

    # Multi-GPU (DDP) initialisation, then the experiment folder and its log
    sb.utils.distributed.ddp_init_group(run_opts)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )

    # The yaml lists the preparation steps (corpus generation, Emo-DB split)
    run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    train_windows, valid_set, test_set, emo_encoder = dataio_prepare(hparams)

    brain = WindowRNNBrain(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
        param_groups=hparams["param_groups"],
        train_logger=hparams["train_logger"],
    )
    brain.emo_encoder = emo_encoder

    # Training on shuffled batches of windows (resumes an interrupted run)
    loader_kwargs, _ = train_loader_options(
        train_windows, hparams["train_dataloader_opts"], seed=hparams["seed"]
    )
    brain.fit(
        hparams["epoch_counter"],
        train_windows,
        valid_set,
        train_loader_kwargs=loader_kwargs,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )

    # Test utterances with the last epoch's model (as the paper) or the
    # best on validation: predictions, metrics, confusion matrix
    evaluate_conditions(
        brain,
        test_set,
        load_condition_set("clean"),
        hparams["results_folder"],
        labels=hparams["emotions"],
        test_loader_kwargs=hparams["test_dataloader_opts"],
        min_key=None if hparams["test_last_epoch"] else "error",
        title=os.path.basename(hparams_file),
        condition_set="clean",
    )
