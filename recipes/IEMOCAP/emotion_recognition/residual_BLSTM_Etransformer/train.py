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
import os
import sys

import speechbrain as sb
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.distributed import if_main_process

from speechbrain_ext.augment.noise_pools import recipe_noise
from speechbrain_ext.inference import ContextFile, export_for_inference
from speechbrain_ext.lobes.models.residual_blstm_etransformer import (
    residual_forward,
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
from speechbrain_ext.utils.evaluation import evaluate_conditions


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
    datasets = load_datasets(
        {
            "train": hparams["train_annotation"],
            "valid": hparams["valid_annotation"],
            "test": hparams["test_annotation"],
        },
        hparams["data_folder"],
        labels=hparams["emotions"],
    )
    add_audio(datasets, output_key="full_sig")
    max_samples = int(hparams["max_duration"] * hparams["sample_rate"])
    sb.dataio.dataset.add_dynamic_item(
        list(datasets.values()),
        functools.partial(crop, max_samples=max_samples),
        takes=["full_sig"],
        provides=["sig"],
    )
    emo_encoder = add_label_encoder(
        datasets, hparams["emotions"], hparams["save_folder"]
    )
    sb.dataio.dataset.set_output_keys(
        list(datasets.values()), ["id", "sig", "emo_encoded"]
    )
    return datasets, emo_encoder


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

    # The yaml lists the preparation steps (corpus generation, IEMOCAP fold,
    # noise pools)
    run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    datasets, emo_encoder = dataio_prepare(hparams)

    # Test conditions; AddNoise would add white noise without its pools
    conditions, condition_mixer = recipe_noise(
        hparams["test_conditions"],
        hparams["noise_folder"],
        hparams["test_noise_seed"],
        noise_prob=hparams["noise_prob"],
    )
    brain = EmotionBrain(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
        param_groups=hparams["param_groups"],
        train_augment=hparams["train_augment"],
        condition_mixer=condition_mixer,
        train_logger=hparams["train_logger"],
        selection_metric=hparams["selection_metric"],
    )
    brain.emo_encoder = emo_encoder

    # Training on shuffled batches (resumes an interrupted run)
    loader_kwargs, _ = train_loader_options(
        datasets["train"],
        hparams["train_dataloader_opts"],
        seed=hparams["seed"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=loader_kwargs,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )

    # Test speakers with the best checkpoint on validation UA, under every
    # noise condition: predictions, WA, UA, macro-F1, confusion matrices
    evaluate_conditions(
        brain,
        datasets["test"],
        conditions,
        hparams["results_folder"],
        test_loader_kwargs=hparams["test_dataloader_opts"],
        min_key="error",
        title=os.path.basename(hparams_file),
        condition_set=hparams["test_conditions"],
    )

    # inference.yaml and custom_interface.py: the best checkpoint, this
    # family's forward function and its label encoder
    if if_main_process() and not (brain.debug or brain.test_only):
        export_for_inference(
            hparams["output_folder"],
            forward=residual_forward,
            context={
                "label_encoder": ContextFile(
                    CategoricalEncoder, "emo_encoder.txt"
                )
            },
        )
