#!/usr/bin/env python3
"""Speech emotion recognition on IEMOCAP with residual-BLSTM + E-transformer.

*Multiple enhancements to LSTM for learning emotion-salient features in
speech emotion recognition*: 40 log-mel energies (25 ms Hamming window,
10 ms shift), cut or zero-padded to 4 s -> 3-Conv-Layers -> two
residual-BLSTM modules -> time pooling -> three E-transformer modules ->
statistics pooling -> linear -> softmax, trained with cross-entropy (Adam,
lr 1e-4, batches of 32) on 4 classes (neu, hap + exc, sad, ang), random
5-fold cross-validation stratified by emotion (the paper's "we randomly
shuffle the data and make 5 fold cross validation"; ``--protocol=session``
gives leave-one-session-out). The paper's Table 2 ablations are overrides
of the model switches (see README.md). The best checkpoint is tested under
the noise conditions of ``test_conditions`` (clean; noise, music, babble at
15 and 5 dB); ``--noise_prob=1.0`` trains on a noisy copy of every batch.

    python train.py hparams/train.yaml --data_folder=<IEMOCAP_full_release> \
        --musan_folder=<musan> --fold=1         # folds 1..5
    python train.py hparams/train.yaml --data_folder=... --musan_folder=... \
        --use_conv=False --residual_blstm=False --transformer=none  # Base7
    python train.py hparams/train_demo.yaml    # generated corpora, CPU

Authors
 * SpeechBrain IEMOCAP emotion recognition recipe contributors
"""

import functools
import sys

import speechbrain as sb

from speechbrain_ext.lobes.models.residual_blstm_etransformer import (
    residual_forward,
)
from speechbrain_ext.recipe import data, experiment
from speechbrain_ext.recipe.brain import RecipeBrain


class EmotionBrain(RecipeBrain):
    """Fixed-length log-mel input -> encoder -> utterance log-posteriors."""

    def compute_forward(self, batch, stage):
        """The batch's audio ``sig`` -> emotion log-probabilities.

        ``residual_forward`` reads hparams.compute_features,
        hparams.fixed_length and hparams.log_softmax.
        """
        wavs, wav_lens = batch.sig
        return residual_forward(
            self.modules,
            self.hparams,
            wavs,
            wav_lens,
            stage=stage,
            epoch=self.hparams.epoch_counter.current,
        )

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy of the emotion log-probabilities."""
        loss = self.hparams.compute_cost(
            predictions["p_emo"].unsqueeze(1), batch.emo_encoded.data
        )
        self.track_loss("nll", loss)
        return loss


def crop(sig, max_samples):
    """The first ``max_samples`` samples of a waveform."""
    return sig[:max_samples]


def dataio_prepare(hparams):
    """Datasets of the fold (waveforms cut at max_duration), label encoder."""
    # hparams["train_annotation"], hparams["valid_annotation"] and
    # hparams["test_annotation"] (paths under hparams["data_folder"]), the
    # classes of hparams["emotions"] (encoder in hparams["save_folder"])
    datasets, emo_encoder = data.emotion_datasets(hparams, audio_key="full_sig")
    max_samples = int(hparams["max_duration"] * hparams["sample_rate"])
    sb.dataio.dataset.add_dynamic_item(
        list(datasets.values()),
        functools.partial(crop, max_samples=max_samples),
        takes=["full_sig"],
        provides=["sig"],
    )
    sb.dataio.dataset.set_output_keys(
        list(datasets.values()), ["id", "sig", "emo_encoded"]
    )
    return datasets, emo_encoder


if __name__ == "__main__":
    # Command line and hyperparameters (an output folder inside the corpus
    # is refused before anything is written), multi-GPU (DDP)
    # initialisation, then the experiment folder and its log
    hparams_file, run_opts, overrides, hparams = experiment.load(sys.argv[1:])
    sb.create_experiment_directory(
        hparams["output_folder"], hparams_file, overrides
    )

    # The yaml lists the preparation steps (corpus generation, IEMOCAP fold,
    # noise pools)
    data.run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    datasets, emo_encoder = dataio_prepare(hparams)

    # The brain of hparams.modules, hparams.checkpointer,
    # hparams.param_groups, hparams.train_augment, hparams.train_logger and
    # hparams.selection_metric; the noise of hparams.test_conditions,
    # drawn with hparams.test_noise_seed
    brain, conditions = experiment.build_brain(EmotionBrain, hparams, run_opts)
    brain.emo_encoder = emo_encoder

    # Training on shuffled batches (resumes an interrupted run):
    # hparams.train_dataloader_opts, hparams.valid_dataloader_opts
    experiment.fit(brain, hparams, datasets["train"], datasets["valid"])

    # Test speakers with the best checkpoint on validation UA, under every
    # noise condition: predictions, WA, UA, macro-F1, confusion matrices in
    # hparams.results_folder (hparams.test_dataloader_opts)
    experiment.evaluate(
        brain, hparams_file, hparams, datasets["test"], conditions
    )

    # inference.yaml and custom_interface.py: the best checkpoint, this
    # family's forward function and its label encoder
    experiment.export(
        brain, hparams, residual_forward, experiment.label_encoder_context()
    )
