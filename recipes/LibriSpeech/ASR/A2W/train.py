#!/usr/bin/env python3
"""Attention acoustic-to-word (A2W) ASR on LibriSpeech (Feng et al., 2020).

The pre-training of the A2W ASR-SER model: 40 log-mel filterbanks, globally
normalised, 3 frames stacked -> 5 BLSTM x 320 -> location-aware attention,
1-layer LSTM decoder of 320 -> tanh hidden layer -> softmax over ``<unk>``,
the top-N training words and ``<eos>``. Label-smoothed NLL of the
teacher-forced decoder (+ optional word CTC on the encoder); greedy decoding
in validation, beam search (width 4) in test; WER of the best checkpoint
under the noise conditions of ``test_conditions`` (clean; noise, music,
babble at 15 and 5 dB). Its ``normalize``, ``enc``, ``emb``, ``dec``,
``seq_lin`` and ``vocabulary.txt`` are then exported to
``<output_folder>/pretrained/`` for the joint recipe.

    python train.py hparams/train.yaml --data_folder=<LibriSpeech> \
        --musan_folder=<musan> [--noise_prob=1.0]
    python train.py hparams/train_demo.yaml   # embedded corpora, CPU

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import os
import sys

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_ext.dataio.librispeech_prepare import (
    check_merged_manifest,
    merge_manifests,
)
from speechbrain_ext.dataio.word_tokens import (
    add_word_tokens,
    build_word_vocabulary,
    load_word_vocabulary,
    save_word_vocabulary,
)
from speechbrain_ext.inference import ContextFile
from speechbrain_ext.lobes.models.a2w import (
    VOCABULARY_FILE,
    a2w_forward,
    export_pretrained,
)
from speechbrain_ext.recipe import data, experiment
from speechbrain_ext.recipe.brain import RecipeBrain


class A2WBrain(RecipeBrain):
    """Encoder-decoder word recognition with greedy or beam decoding."""

    vocabulary = None  # the output units, vocabulary.txt of save_folder

    def compute_forward(self, batch, stage):
        """Fbank -> encoder -> teacher-forced decoder (+ hypotheses).

        ``a2w_forward`` reads ``hparams.compute_features`` and decodes with
        ``hparams.valid_search`` (greedy) or ``hparams.test_search`` (beam).
        """
        wavs, wav_lens = batch.sig
        return a2w_forward(
            self.modules,
            self.hparams,
            wavs,
            wav_lens,
            stage=stage,
            vocabulary=self.vocabulary,
            tokens_bos=batch.tokens_bos.data,
        )

    def compute_objectives(self, predictions, batch, stage):
        """Label-smoothed NLL (+ word CTC in the first ``ctc_epochs``)."""
        tokens_eos, tokens_eos_lens = batch.tokens_eos
        loss = self.hparams.seq_cost(
            predictions["log_probs"], tokens_eos, length=tokens_eos_lens
        )
        epoch = self.hparams.epoch_counter.current
        if stage == sb.Stage.TRAIN and epoch <= self.hparams.ctc_epochs:
            logits = self.modules.ctc_lin(predictions["enc_states"])
            tokens, lens = batch.tokens
            ctc = self.hparams.ctc_cost(
                torch.log_softmax(logits, -1), tokens, batch.sig[1], lens
            )
            self.track_loss("ctc", ctc)
            weight = self.hparams.ctc_weight
            loss = weight * ctc + (1 - weight) * loss
        return loss


def check_training_manifest(hparams_file, overrides):
    """Refuses a run whose merged training manifest is not the recipe's."""
    unbuilt = data.resolve_hparams(hparams_file, overrides)
    if not unbuilt["skip_prep"]:
        check_merged_manifest(
            unbuilt["train_annotation"], unbuilt["prep_folder"]
        )


def word_vocabulary(train_annotation, top_n, save_folder):
    """``<unk>``, top-N training words, ``<eos>`` (kept for resuming)."""
    path = os.path.join(save_folder, VOCABULARY_FILE)
    if not os.path.isfile(path):
        words = build_word_vocabulary(train_annotation, top_n, eos=True)
        if len(words) < top_n + 2:
            raise ValueError(
                f"{train_annotation} holds {len(words) - 2} distinct words, "
                f"fewer than vocab_top_n={top_n}: lower vocab_top_n."
            )
        save_word_vocabulary(words, path)
    return load_word_vocabulary(path)


def dataio_prepare(hparams):
    """Datasets with audio and word targets, and the vocabulary."""
    # hparams["train_annotation"], hparams["valid_annotation"] and
    # hparams["test_annotation"]
    datasets = data.load_datasets(
        data.split_annotations(hparams),
        hparams["data_folder"],
        sorting=hparams["sorting"],
        max_duration=hparams["max_duration"],
    )
    data.add_audio(datasets)
    args = [hparams[k] for k in ("train_annotation", "vocab_top_n")]
    args.append(hparams["save_folder"])
    run_on_main(word_vocabulary, args=args)
    vocabulary = word_vocabulary(*args)
    if len(vocabulary) != hparams["output_neurons"]:
        raise ValueError(
            f"{args[2]}/{VOCABULARY_FILE}: {len(vocabulary)} tokens, but "
            f"output_neurons={hparams['output_neurons']}: use a new folder."
        )
    add_word_tokens(datasets.values(), vocabulary)
    sb.dataio.dataset.set_output_keys(
        list(datasets.values()),
        ["id", "sig", "wrd", "tokens_bos", "tokens_eos", "tokens"],
    )
    return datasets, vocabulary


if __name__ == "__main__":
    # Command line and hyperparameters (an output folder inside the corpus,
    # or a merged training manifest that is not the recipe's own, is refused
    # before anything is written), multi-GPU (DDP) initialisation, then the
    # experiment folder and its log
    hparams_file, run_opts, overrides, hparams = experiment.load(
        sys.argv[1:], check=check_training_manifest
    )
    sb.create_experiment_directory(
        hparams["output_folder"], hparams_file, overrides
    )

    # Corpora (demo), manifests, noise pools; the training splits merged
    data.run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    if not hparams["skip_prep"]:
        splits = [
            os.path.join(hparams["prep_folder"], f"{split}.json")
            for split in hparams["train_splits"]
        ]
        run_on_main(merge_manifests, args=[splits, hparams["train_annotation"]])
    datasets, vocabulary = dataio_prepare(hparams)

    # The brain of hparams.modules, hparams.checkpointer,
    # hparams.param_groups, hparams.train_augment, hparams.train_logger and
    # hparams.selection_metric; the noise of hparams.test_conditions,
    # drawn with hparams.test_noise_seed
    if hparams["ctc_epochs"] == 0:  # attention only: no CTC layer to train
        hparams["ctc_lin"].requires_grad_(False)
    brain, conditions = experiment.build_brain(A2WBrain, hparams, run_opts)
    brain.vocabulary = vocabulary

    # Training (resumes from the last checkpoint of an interrupted run) on
    # hparams.train_dataloader_opts (hparams.dynamic_batching: batches of
    # hparams.dynamic_batch_sampler), hparams.valid_dataloader_opts
    experiment.fit(brain, hparams, datasets["train"], datasets["valid"])

    # Beam-search WER of the best checkpoint under every test condition
    # (reports in hparams.results_folder; hparams.test_dataloader_opts),
    # then the export of its pre-trained parts
    experiment.evaluate(
        brain, hparams_file, hparams, datasets["test"], conditions
    )
    if if_main_process() and not brain.test_only:
        export_pretrained(
            brain.modules, hparams["pretrained_folder"], vocabulary
        )
    # inference.yaml and custom_interface.py (transcribe_file)
    experiment.export(
        brain,
        hparams,
        a2w_forward,
        {"vocabulary": ContextFile(load_word_vocabulary, VOCABULARY_FILE)},
    )
