#!/usr/bin/env python3
"""Speech emotion recognition on Emo-DB with an RNN on 250 ms windows.

Cournut & Buldu, *Speech Emotion Recognition using Recurrent Neural
Networks*. MSPEC (40 log-mel) or MFCC (13) frames, alone, with Δ or with
Δ+ΔΔ, globally normalised, are cut into windows of 25 frames (250 ms) every
3 frames; every window is a training example labelled with its utterance's
emotion (7 classes). Model: 2 recurrent layers (LSTM 128, dropout 0.2), the
last state -> fully connected layer (L2 penalty 1e-4 on its weights) ->
softmax; Adam, batches of 128 windows, 10 epochs. A training example is the
window's audio (noise training mixes MUSAN into it), whose features are
computed in the forward pass. An utterance is classified from all its
windows: the mean of their log-posteriors, renormalised (``aggregation:
mean_log_prob``); the core scores the utterances (``WA``, ``UA``,
``macro_F1``) and the windows, each classified alone (``window_WA``). The
speakers of train (408 utterances), validation (56) and test (71) are
disjoint; the test runs under the noise conditions of ``test_conditions``
(clean; noise, music, babble at 15 and 5 dB).

    python train.py hparams/lstm.yaml --data_folder=<Emo-DB folder> \
        --musan_folder=<musan> [--noise_prob=1.0 for noise training]
    python train.py hparams/lstm.yaml --data_folder=... --musan_folder=... \
        --feature_type=mfcc --delta_order=0     # Table 3: features
    python train.py hparams/rnn.yaml --data_folder=... --musan_folder=...
    python train.py hparams/lstm_demo.yaml      # generated corpus, CPU

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

import logging
import sys

import speechbrain as sb

from speechbrain_ext.lobes.models.window_rnn import window_rnn_forward
from speechbrain_ext.nnet.windows import AudioWindows
from speechbrain_ext.recipe import data, experiment
from speechbrain_ext.recipe.brain import RecipeBrain

logger = logging.getLogger(__name__)


class WindowRNNBrain(RecipeBrain):
    """Classifies windows in training, utterances (from windows) otherwise."""

    def compute_forward(self, batch, stage):
        """Features -> windows -> RNN -> FC -> log-posteriors.

        ``window_rnn_forward`` reads the yaml's ``hparams.window_size``,
        ``hparams.window_shift`` and ``hparams.aggregation``. Training
        batches are windows of audio, with the frames of each that belong
        to its utterance; the normalisation statistics come from the
        first epoch.
        """
        wavs, wav_lens = batch.sig
        frame_range = None
        if stage == sb.Stage.TRAIN:
            frame_range = batch.frame_range.data
        return window_rnn_forward(
            self.modules,
            self.hparams,
            wavs,
            wav_lens,
            stage,
            frame_range=frame_range,
            epoch=self.hparams.epoch_counter.current,
        )

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy + L2 penalty on the FC layer's weight matrix.

        The cross-entropy of the windows in training, of the utterances
        otherwise.
        """
        emo = batch.emo_encoded.data
        nll = self.hparams.compute_cost(predictions["p_emo"].unsqueeze(1), emo)
        # Keras' kernel_regularizer=l2(l2_weight): the weights, not the bias
        # (of the yaml's module, which DDP does not wrap)
        weight = self.hparams.classifier.w.weight
        l2 = self.hparams.l2_weight * weight.pow(2).sum()
        self.track_loss("nll", nll)
        self.track_loss("l2", l2)
        return nll + l2


def dataio_prepare(hparams):
    """Training windows of audio, validation and test utterances."""
    # hparams["train_annotation"], hparams["valid_annotation"] and
    # hparams["test_annotation"] (paths under hparams["data_folder"]), the
    # classes of hparams["emotions"] (encoder in hparams["save_folder"])
    datasets, emo_encoder = data.emotion_datasets(hparams)
    sb.dataio.dataset.set_output_keys(
        list(datasets.values()), ["id", "sig", "emo_encoded"]
    )
    # The audio of every training utterance read once, then cut into the
    # samples of each window and of the context its features need
    features = hparams["compute_features"]
    train_windows = AudioWindows(
        datasets["train"],
        hparams["window_size"],
        hparams["window_shift"],
        hop_length=features.hop_length,
        context=features.context,
    )
    logger.info(
        "%d training windows from %d utterances",
        len(train_windows),
        len(train_windows.windows_per_utterance),
    )
    return train_windows, datasets["valid"], datasets["test"], emo_encoder


if __name__ == "__main__":
    # Command line and hyperparameters (an output folder inside the corpus
    # is refused before anything is written), multi-GPU (DDP)
    # initialisation, then the experiment folder and its log
    hparams_file, run_opts, overrides, hparams = experiment.load(sys.argv[1:])
    sb.create_experiment_directory(
        hparams["output_folder"], hparams_file, overrides
    )

    # The yaml lists the preparation steps (corpus, split, noise pools)
    data.run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    train_windows, valid_set, test_set, emo_encoder = dataio_prepare(hparams)

    # The brain of hparams.modules, hparams.checkpointer,
    # hparams.param_groups, hparams.train_augment, hparams.train_logger and
    # hparams.selection_metric; the noise of hparams.test_conditions,
    # drawn with hparams.test_noise_seed
    brain, conditions = experiment.build_brain(
        WindowRNNBrain, hparams, run_opts
    )
    brain.emo_encoder = emo_encoder

    # Training on shuffled batches of windows (resumes an interrupted run):
    # hparams.train_dataloader_opts, hparams.valid_dataloader_opts
    experiment.fit(brain, hparams, train_windows, valid_set)

    # Test utterances with the last epoch's model (as the paper) or the
    # best on validation, under every noise condition (reports and plots
    # in hparams.results_folder; hparams.test_dataloader_opts)
    min_key = None if hparams["test_last_epoch"] else "error"
    experiment.evaluate(
        brain, hparams_file, hparams, test_set, conditions, min_key=min_key
    )

    # inference.yaml and custom_interface.py: the tested checkpoint, this
    # family's forward function and its label encoder
    experiment.export(
        brain,
        hparams,
        window_rnn_forward,
        experiment.label_encoder_context(),
        min_key=min_key,
    )
