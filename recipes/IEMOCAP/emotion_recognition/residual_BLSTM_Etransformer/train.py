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
of the model switches (see README.md).

    python train.py hparams/train.yaml --data_folder=<IEMOCAP_full_release> \
        --fold=1                                # folds 1..5
    python train.py hparams/train.yaml --data_folder=... \
        --use_conv=False --residual_blstm=False --transformer=none  # Base7
    python train.py hparams/train_demo.yaml    # generated corpus, CPU

Authors
 * SpeechBrain IEMOCAP emotion recognition recipe contributors
"""

import functools
import os
import sys

import speechbrain as sb
import torch

from speechbrain_ext.augment.noise_pools import load_condition_set
from speechbrain_ext.lobes.models.residual_blstm_etransformer import (
    fixed_length,
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


class EmotionBrain(RecipeBrain):
    """Fixed-length log-mel input -> encoder -> utterance log-posteriors."""

    def compute_forward(self, batch, stage):
        """Fbank -> global normalisation -> 4 s -> encoder -> classifier."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        feats = self.hparams.compute_features(wavs)
        # Global statistics of the speech frames (first epochs' batches)
        epoch = self.hparams.epoch_counter.current
        feats = self.modules.normalize(feats, lens, epoch=epoch)
        # Every utterance becomes max_frames frames; the padding is zero
        # (the global mean) and part of the input, as in the paper
        feats, _ = fixed_length(feats, lens, self.hparams.max_frames)
        embeddings = self.modules.encoder(feats)
        logits = self.modules.classifier(embeddings)
        return self.hparams.log_softmax(logits)

    def compute_objectives(self, predictions, batch, stage):
        """Cross-entropy; WA/UA bookkeeping outside training."""
        emo = batch.emo_encoded.data[:, 0]
        loss = self.hparams.compute_cost(
            predictions.unsqueeze(1), emo.unsqueeze(1)
        )
        self.track_loss("nll", loss)
        if stage != sb.Stage.TRAIN:
            probs = predictions.exp().detach().cpu()
            self.predictions += probs.argmax(-1).tolist()
            self.targets += emo.cpu().tolist()
            if self.test_records is not None:
                self.test_records += utterance_records(
                    batch.id,
                    self.emo_encoder.decode_torch(emo.cpu()),
                    probs=probs,
                    labels=self.hparams.emotions,
                )
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Resets the loss terms and the predictions."""
        super().on_stage_start(stage, epoch)
        self.predictions, self.targets = [], []

    def summarize_metrics(self, stage):
        """WA (accuracy) and UA (mean per-class recall), in %."""
        preds = torch.tensor(self.predictions)
        targets = torch.tensor(self.targets)
        recalls = [
            (preds[targets == c] == c).float().mean() for c in targets.unique()
        ]
        return {
            "WA": 100 * float((preds == targets).float().mean()),
            "UA": 100 * float(torch.stack(recalls).mean()),
        }

    def selection_error(self, stats):
        """100 - validation UA."""
        return 100.0 - stats["UA"]


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

    # The yaml lists the preparation steps (corpus generation, IEMOCAP fold)
    run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    datasets, emo_encoder = dataio_prepare(hparams)

    brain = EmotionBrain(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
        param_groups=hparams["param_groups"],
        train_logger=hparams["train_logger"],
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

    # Test speakers with the best checkpoint on validation UA: predictions,
    # WA, UA, macro-F1, confusion matrix
    evaluate_conditions(
        brain,
        datasets["test"],
        load_condition_set("clean"),
        hparams["results_folder"],
        labels=hparams["emotions"],
        test_loader_kwargs=hparams["test_dataloader_opts"],
        min_key="error",
        title=os.path.basename(hparams_file),
        condition_set="clean",
    )
