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

import sys

import speechbrain as sb
from speechbrain.dataio.encoder import CTCTextEncoder

from speechbrain_ext.inference import ContextFile
from speechbrain_ext.lobes.models.joint_asr_ser import joint_forward
from speechbrain_ext.recipe import data, experiment
from speechbrain_ext.recipe.brain import RecipeBrain


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
    # hparams["train_annotation"], hparams["valid_annotation"] and
    # hparams["test_annotation"] (paths under hparams["data_folder"]), the
    # classes of hparams["emotions"] (encoder in hparams["save_folder"])
    datasets, emo_encoder = data.emotion_datasets(
        hparams,
        sorting=hparams["sorting"],
        max_duration=hparams["max_duration"],
    )
    keys = ["id", "sig", "wrd", "emo_encoded"]
    tokenizer = None
    if "ctc_lin" in hparams["modules"]:
        tokenizer = data.add_char_tokens(
            datasets,
            hparams["save_folder"],
            blank_index=hparams["blank_index"],
            output_neurons=hparams["output_neurons"],
        )
        keys.append("tokens")
    sb.dataio.dataset.set_output_keys(list(datasets.values()), keys)
    return datasets, tokenizer, emo_encoder


if __name__ == "__main__":
    # Command line and hyperparameters (an output folder inside the corpus
    # is refused before anything is written), multi-GPU (DDP)
    # initialisation, then the experiment folder and its log
    hparams_file, run_opts, overrides, hparams = experiment.load(sys.argv[1:])
    sb.create_experiment_directory(
        hparams["output_folder"], hparams_file, overrides
    )

    # The yaml lists the preparation steps (corpus, noise pools)
    data.run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    datasets, tokenizer, emo_encoder = dataio_prepare(hparams)

    # The brain of hparams.modules, hparams.checkpointer,
    # hparams.param_groups, hparams.train_augment, hparams.train_logger and
    # hparams.selection_metric; the noise of hparams.test_conditions,
    # drawn with hparams.test_noise_seed
    brain, conditions = experiment.build_brain(
        JointCTCBertBrain, hparams, run_opts
    )
    brain.tokenizer, brain.emo_encoder = tokenizer, emo_encoder
    brain.bert_reads_words = hparams.get("bert_input", "hyp") == "wrd"

    # Training (resumes from the last checkpoint of an interrupted run) on
    # hparams.train_dataloader_opts (hparams.dynamic_batching: batches of
    # hparams.dynamic_batch_sampler), hparams.valid_dataloader_opts
    experiment.fit(brain, hparams, datasets["train"], datasets["valid"])

    # Best checkpoint under every noise condition: reports and plots in
    # hparams.results_folder (hparams.test_dataloader_opts)
    experiment.evaluate(
        brain, hparams_file, hparams, datasets["test"], conditions
    )

    # inference.yaml and custom_interface.py: the best checkpoint, this
    # family's forward function and the files it needs besides the yaml
    context = experiment.label_encoder_context()
    if tokenizer is not None:
        context["tokenizer"] = ContextFile(CTCTextEncoder, "tokenizer.txt")
    experiment.export(brain, hparams, joint_forward, context)
