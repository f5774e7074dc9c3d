#!/usr/bin/env python3
"""Joint speech recognition and emotion recognition on IEMOCAP.

One speech encoder (wav2vec2) is shared by a character CTC head and an
emotion head, which fuses the pooled acoustic embedding with a BERT
embedding of the ASR hypothesis (skip-connection MLPs; Bansal et al., 2023).
Loss: ``alpha * L_SER + (1 - alpha) * L_CTC``. A yaml without the emotion
head (or without the CTC head) trains the ASR-only (SER-only) baseline.
The best checkpoint is then evaluated under the noise conditions of
``test_conditions`` (clean; noise, music, babble at 15 and 5 dB).

    python train.py hparams/joint.yaml --data_folder=<IEMOCAP_full_release> \
        --musan_folder=<musan> [--noise_prob=1.0] [--fold=1..10]
    python train.py hparams/joint_demo.yaml   # embedded corpus, CPU
    python train.py hparams/joint.yaml ... --test_conditions=snr_sweep

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import os
import sys

import speechbrain as sb
from speechbrain.dataio.encoder import CategoricalEncoder, CTCTextEncoder
from speechbrain.utils.distributed import if_main_process

from speechbrain_ext.augment.noise_pools import recipe_noise
from speechbrain_ext.inference import ContextFile, export_for_inference
from speechbrain_ext.lobes.models.joint_asr_ser import joint_forward
from speechbrain_ext.recipe.brain import RecipeBrain
from speechbrain_ext.recipe.data import (
    add_audio,
    add_char_tokens,
    add_label_encoder,
    check_recipe_folders,
    load_datasets,
    run_preparation,
    train_loader_options,
)
from speechbrain_ext.recipe.hparams import load_hparams
from speechbrain_ext.utils.evaluation import evaluate_conditions


class JointCTCBertBrain(RecipeBrain):
    """Trains whichever of the CTC and emotion heads the yaml declares."""

    bert_reads_words = False  # in training; the hypothesis otherwise

    def compute_forward(self, batch, stage):
        """Encoder -> CTC posteriors, hypotheses and emotion posteriors."""
        wavs, wav_lens = batch.sig
        # BERT reads the ASR hypothesis, or the true words in training.
        # joint_forward reads hparams.log_softmax, hparams.pooling (emotion
        # head) and hparams.blank_index (CTC head).
        texts = None
        if stage == sb.Stage.TRAIN and self.bert_reads_words:
            texts = batch.wrd
        return joint_forward(
            self.modules,
            self.hparams,
            wavs,
            wav_lens,
            stage,
            tokenizer=self.tokenizer,
            texts=texts,
        )

    def compute_objectives(self, predictions, batch, stage):
        """``alpha * L_SER + (1 - alpha) * L_CTC`` (or a single task loss)."""
        losses = {}
        if "p_ctc" in predictions:
            tokens, tokens_lens = batch.tokens
            losses["ctc"] = self.hparams.ctc_cost(
                predictions["p_ctc"],
                tokens,
                predictions["feat_lens"],
                tokens_lens,
            )
        if "p_emo" in predictions:
            losses["ser"] = self.hparams.ser_cost(
                predictions["p_emo"].unsqueeze(1), batch.emo_encoded.data
            )
        for name, value in losses.items():
            self.track_loss(name, value)
        if len(losses) == 2:
            alpha = self.hparams.ser_weight
            return alpha * losses["ser"] + (1 - alpha) * losses["ctc"]
        return sum(losses.values())


def dataio_prepare(hparams):
    """Datasets with audio, emotion labels and, for a CTC head, characters."""
    datasets = load_datasets(
        {
            "train": hparams["train_annotation"],
            "valid": hparams["valid_annotation"],
            "test": hparams["test_annotation"],
        },
        hparams["data_folder"],
        sorting=hparams["sorting"],
        max_duration=hparams["max_duration"],
        labels=hparams["emotions"],
    )
    add_audio(datasets)
    save_folder = hparams["save_folder"]
    emo_encoder = add_label_encoder(datasets, hparams["emotions"], save_folder)
    keys = ["id", "sig", "wrd", "emo_encoded"]
    tokenizer = None
    if "ctc_lin" in hparams["modules"]:
        tokenizer = add_char_tokens(
            datasets,
            save_folder,
            blank_index=hparams["blank_index"],
            output_neurons=hparams["output_neurons"],
        )
        keys.append("tokens")
    sb.dataio.dataset.set_output_keys(list(datasets.values()), keys)
    return datasets, tokenizer, emo_encoder


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

    # The yaml lists the preparation steps (corpus, noise pools)
    run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    datasets, tokenizer, emo_encoder = dataio_prepare(hparams)

    # Test conditions; AddNoise would add white noise without its pools
    conditions, condition_mixer = recipe_noise(
        hparams["test_conditions"],
        hparams["noise_folder"],
        hparams["test_noise_seed"],
        noise_prob=hparams["noise_prob"],
    )
    brain = JointCTCBertBrain(
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
    brain.tokenizer, brain.emo_encoder = tokenizer, emo_encoder
    brain.bert_reads_words = hparams.get("bert_input", "hyp") == "wrd"

    # Training (resumes from the last checkpoint of an interrupted run)
    loader_kwargs, brain.train_sampler = train_loader_options(
        datasets["train"],
        hparams["train_dataloader_opts"],
        seed=hparams["seed"],
        sorting=hparams["sorting"],
        dynamic_batching=hparams["dynamic_batching"],
        sampler_opts=hparams["dynamic_batch_sampler"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=loader_kwargs,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )

    # Best checkpoint under every noise condition (reports, plots)
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
    # family's forward function and the files it needs besides the yaml
    if if_main_process() and not (brain.debug or brain.test_only):
        context = {
            "label_encoder": ContextFile(CategoricalEncoder, "emo_encoder.txt")
        }
        if tokenizer is not None:
            context["tokenizer"] = ContextFile(CTCTextEncoder, "tokenizer.txt")
        export_for_inference(
            hparams["output_folder"], forward=joint_forward, context=context
        )
