#!/usr/bin/env python3
"""Emotion recognition combined with acoustic-to-word ASR (Feng et al., 2020).

ASR-SER model (train.yaml): a pre-trained attention A2W model is fine-tuned
on IEMOCAP with ``L = lambda * L_ASR + (1 - lambda) * L_SER``; its decoder
states and filterbanks (cut or padded to 7.5 s) feed two BiLSTM + structured
self-attention branches, then FC 2048 + ReLU, softmax. Table 1's baselines
(filterbanks, words of the true or the A2W transcript, or both) are yamls.

The best checkpoint is evaluated under the noise conditions of
``test_conditions`` (clean; noise, music, babble at 15 and 5 dB);
``--noise_prob=1.0`` trains on a noisy copy of every batch besides it.

    python train.py hparams/train.yaml --data_folder=<IEMOCAP_full_release> \
        --pretrained_path=<A2W pre-training output>/pretrained \
        --musan_folder=<musan> [--noise_prob=1.0] [--fold=1..5]
    python train.py hparams/combined_baseline.yaml ... --test_text=asr
    python train.py hparams/train_demo.yaml   # embedded corpora, CPU

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import functools
import os
import sys

import speechbrain as sb

from speechbrain_ext.dataio.word_tokens import (
    add_word_tokens,
    build_word_vocabulary,
    load_word_vocabulary,
)
from speechbrain_ext.inference import ContextFile
from speechbrain_ext.lobes.models import a2w_ser
from speechbrain_ext.nnet.structured_attention import attention_penalty
from speechbrain_ext.recipe import data, experiment
from speechbrain_ext.recipe.brain import RecipeBrain


class A2WSERBrain(RecipeBrain):
    """The ASR-SER model or a baseline, as the yaml's modules say.

    The core scores the predictions and keeps the checkpoint of the best
    validation hparams.selection_metric.
    """

    vocabulary = text_vocab = transcriber = None

    def compute_forward(self, batch, stage):
        """Branches (filterbanks, ASR features or words) -> emotion.

        ``a2w_ser_forward`` reads hparams.compute_features,
        hparams.fixed_length, hparams.valid_search, hparams.test_search,
        hparams.ser_decoder_input and hparams.bos_index.
        """
        wavs, wav_lens = batch.sig
        context = {"vocabulary": self.vocabulary, "text_vocab": self.text_vocab}
        if "dec" in self.modules:  # the transcript: L_ASR, teacher forcing
            context["tokens"] = batch.tokens_bos
        key = "train_text" if stage == sb.Stage.TRAIN else "test_text"
        if getattr(self.hparams, key, None) == "wrd":
            context["texts"] = batch.wrd
        elif self.transcriber is not None:  # cached outside training
            ids = None if stage == sb.Stage.TRAIN else batch.id
            name = getattr(self.test_condition, "name", "clean")
            context["transcriber"] = functools.partial(
                self.transcriber, ids=ids, condition=name
            )
        return a2w_ser.a2w_ser_forward(
            self.modules, self.hparams, wavs, wav_lens, stage, **context
        )

    def compute_objectives(self, predictions, batch, stage):
        """``lambda * L_ASR + (1 - lambda) * L_SER`` (+ attention penalty)."""
        loss = self.hparams.ser_cost(
            predictions["p_emo"].unsqueeze(1), batch.emo_encoded.data
        )
        self.track_loss("ser", loss)
        if "p_seq" in predictions:
            tokens_eos, tokens_lens = batch.tokens_eos
            asr = self.hparams.seq_cost(
                predictions["p_seq"], tokens_eos, length=tokens_lens
            )
            self.track_loss("asr", asr)
            weight = self.hparams.asr_weight
            loss = weight * asr + (1 - weight) * loss
        if self.hparams.penalty_weight > 0:  # Lin et al.'s ||AA^T - I||^2
            attns = predictions["attentions"]
            penalty = sum(attention_penalty(attn) for attn in attns)
            self.track_loss("penalty", penalty)
            loss = loss + self.hparams.penalty_weight * penalty
        return loss


def dataio_prepare(hparams, vocabulary):
    """Audio, transcripts, emotions and, for the ASR head, word targets."""
    # hparams["train_annotation"], hparams["valid_annotation"] and
    # hparams["test_annotation"] (paths under hparams["data_folder"]), the
    # classes of hparams["emotions"] (encoder in hparams["save_folder"])
    datasets, emo_encoder = data.emotion_datasets(
        hparams,
        sorting=hparams["sorting"],
        max_duration=hparams["max_duration"],
    )
    keys = ["id", "sig", "wrd", "emo_encoded"]
    if "dec" in hparams["modules"]:  # the pre-trained vocabulary, <unk>
        add_word_tokens(datasets.values(), vocabulary)
        keys += ["tokens_bos", "tokens_eos"]
    sb.dataio.dataset.set_output_keys(list(datasets.values()), keys)
    return datasets, emo_encoder


if __name__ == "__main__":
    # Command line and hyperparameters (an output folder inside the corpus
    # is refused before anything is written), multi-GPU (DDP)
    # initialisation, then the experiment folder and its log
    hparams_file, run_opts, overrides, hparams = experiment.load(sys.argv[1:])
    sb.create_experiment_directory(
        hparams["output_folder"], hparams_file, overrides
    )
    data.run_preparation(hparams["data_preparation"], hparams["skip_prep"])

    # The pre-trained A2W model: fine-tuned (ASR-SER model), or a frozen
    # transcriber (baselines reading ASR transcripts), or not used at all
    modules, vocabulary = dict(hparams["modules"]), None
    text_sources = {hparams.get("train_text"), hparams.get("test_text")}
    if "asr_model" in modules and "asr" not in text_sources:
        del modules["asr_model"]
    if "dec" in modules or "asr_model" in modules:
        vocabulary = a2w_ser.load_a2w(
            hparams["pretrainer"],
            os.path.join(str(hparams["pretrained_path"]), "vocabulary.txt"),
            hparams["output_neurons"],
            os.path.join(hparams["save_folder"], "vocabulary.txt"),
        )
    if vocabulary is not None:  # the decoder's words per second of audio
        a2w_ser.check_decoding_bound(
            hparams["train_annotation"], hparams["max_words_per_second"]
        )
    datasets, emo_encoder = dataio_prepare(hparams, vocabulary)

    # The brain of those modules, hparams.checkpointer,
    # hparams.param_groups, hparams.train_augment, hparams.train_logger and
    # hparams.selection_metric; the noise of hparams.test_conditions,
    # drawn with hparams.test_noise_seed
    brain, conditions = experiment.build_brain(
        A2WSERBrain, hparams, run_opts, modules=modules
    )
    brain.vocabulary, brain.emo_encoder = vocabulary, emo_encoder
    if "asr_model" in modules:  # transcripts decoded once per utterance
        brain.transcriber = a2w_ser.A2WTranscriber(
            modules["asr_model"], hparams["test_search"], vocabulary
        )
    if "word_emb" in modules:  # the words of the training transcripts
        brain.text_vocab = build_word_vocabulary(
            hparams["train_annotation"],
            hparams["text_vocab_size"],
            os.path.join(hparams["save_folder"], "text_vocabulary.txt"),
        )

    # Training (resumes from the last checkpoint of an interrupted run) on
    # hparams.train_dataloader_opts, hparams.valid_dataloader_opts
    experiment.fit(brain, hparams, datasets["train"], datasets["valid"])

    # Best checkpoint (selection_metric) under every condition: WA, UA,
    # macro-F1, confusion matrix and the WER breakdown of the transcripts,
    # in hparams.results_folder (hparams.test_dataloader_opts)
    experiment.evaluate(
        brain, hparams_file, hparams, datasets["test"], conditions
    )

    # inference.yaml and custom_interface.py of the models that hear audio
    # only (the ASR-SER model, the audio baseline): the best checkpoint,
    # this family's forward function, the A2W word units, the classes
    if not {"word_emb", "asr_model"} & set(modules):
        context = experiment.label_encoder_context()
        if vocabulary is not None:
            context["vocabulary"] = ContextFile(
                load_word_vocabulary, "vocabulary.txt"
            )
        experiment.export(brain, hparams, a2w_ser.a2w_ser_forward, context)
