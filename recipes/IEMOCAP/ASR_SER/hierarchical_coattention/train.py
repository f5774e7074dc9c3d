#!/usr/bin/env python3
"""Joint ASR + SER fusing ASR outputs on IEMOCAP (Li, Bell and Lai, 2022).

wav2vec2 is fine-tuned with a CTC layer; greedy CTC decoding gives the text
output. Up to three streams feed the emotion classifier, each encoded by a
BiLSTM and self-attention: MFCCs max-pooled over time (``mfcc``), one
wav2vec2 layer (``hidden``) and BERT features of the ASR text or of the true
transcript (``text``); they are fused by concatenation, co-attention or
hierarchical co-attention. Loss: ``lambda * L_ASR + (1 - lambda) * L_SER``.
The yaml chooses ``streams``, ``fusion_method``, ``hidden_layer``,
``text_source`` (``hyp`` or ``wrd``) and ``ctc_head`` (a ``new`` character
layer or the ``pretrained`` head of wav2vec2-base-960h and its vocabulary);
ser_baseline.yaml has no ASR path. zero_shot_asr.yaml has no stream: it
only evaluates (``test_only``) the released wav2vec2-base-960h with its own
CTC head on every utterance, the WER of Tables 1-2. The best checkpoint
is tested under the conditions of ``test_conditions`` (paper7: clean; noise,
music, babble at 15 and 5 dB); ``--noise_prob=1.0`` trains on noisy copies.

    python train.py hparams/train.yaml --data_folder=<IEMOCAP_full_release> \
        --musan_folder=<musan> [--noise_prob=1.0] [--fold=1..5] \
        [--fusion_method=concat|coattention|hierarchical]
    python train.py hparams/train.yaml ... --streams=hidden \
        --fusion_method=concat --hidden_layer=first  # Table 4 row
    python train.py hparams/zero_shot_asr.yaml \
        --data_folder=<IEMOCAP_full_release> --musan_folder=<musan>
    python train.py hparams/train_demo.yaml   # embedded corpus, CPU

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import sys

import speechbrain as sb
from speechbrain.dataio.encoder import CTCTextEncoder

from speechbrain_ext.inference import ContextFile
from speechbrain_ext.lobes.models.coattention_fusion import (
    fusion_forward,
    restrict_param_groups,
    stream_modules,
)
from speechbrain_ext.lobes.models.pretrained_ctc import PretrainedCTCHead
from speechbrain_ext.recipe import data, experiment
from speechbrain_ext.recipe.brain import RecipeBrain


class ASROutputFusionBrain(RecipeBrain):
    """CTC ASR and emotion recognition on fused MFCC, hidden, text streams.

    Without streams (zero_shot_asr.yaml) it is the ASR path alone: no
    emotion output, WER and CER only.
    """

    def compute_forward(self, batch, stage):
        """wav2vec2 -> CTC and hypotheses; streams -> fusion -> emotion.

        ``fusion_forward`` reads hparams.hidden_layer, hparams.blank_index
        and hparams.text_source.
        """
        wavs, wav_lens = batch.sig
        # the text stream reads the ASR hypothesis (text_source: hyp) or,
        # for the SER baselines, the true transcript (wrd)
        return fusion_forward(
            self.modules,
            self.hparams,
            wavs,
            wav_lens,
            stage,
            tokenizer=self.tokenizer,
            texts=batch.wrd,
        )

    def compute_objectives(self, predictions, batch, stage):
        """``lambda * L_ASR + (1 - lambda) * L_SER`` (either one alone)."""
        losses = {}
        if "p_emo" in predictions:
            losses["ser"] = self.hparams.ser_cost(
                predictions["p_emo"].unsqueeze(1), batch.emo_encoded.data
            )
        if "p_ctc" in predictions:
            tokens, tokens_lens = batch.tokens
            losses["ctc"] = self.hparams.ctc_cost(
                predictions["p_ctc"],
                tokens,
                predictions["feat_lens"],
                tokens_lens,
            )
        for name, value in losses.items():
            self.track_loss(name, value)
        if len(losses) == 2:
            asr_weight = self.hparams.asr_weight
            return asr_weight * losses["ctc"] + (1 - asr_weight) * losses["ser"]
        return sum(losses.values())


def dataio_prepare(hparams, ctc_head=None):
    """Datasets with audio, transcripts, emotions and CTC targets.

    The CTC targets are characters of the training transcripts for a new
    CTC layer, or tokens of the pretrained head's vocabulary (whose
    tokenizer then decodes the hypotheses).
    """
    # hparams["train_annotation"], hparams["valid_annotation"] and
    # hparams["test_annotation"] (paths under hparams["data_folder"]), the
    # classes of hparams["emotions"] (encoder in hparams["save_folder"])
    datasets, emo_encoder = data.emotion_datasets(
        hparams,
        sorting=hparams["sorting"],
        max_duration=hparams["max_duration"],
    )
    # zero_shot_asr.yaml: utterances without words are left out (the paper)
    if hparams.get("drop_empty_transcripts", False):
        datasets = {
            k: data.drop_empty_transcripts(d) for k, d in datasets.items()
        }
    keys = ["id", "sig", "wrd", "emo_encoded"]
    tokenizer = None
    if isinstance(ctc_head, PretrainedCTCHead):
        tokenizer = data.add_pretrained_ctc_tokens(datasets, ctc_head.tokenizer)
        keys.append("tokens")
    elif ctc_head is not None:
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

    # The modules of the chosen streams (and of the ASR path, if any)
    modules = stream_modules(
        hparams["modules"],
        hparams["stream_list"],
        hparams.get("text_source", "hyp"),
    )

    # The yaml lists the preparation steps (corpus, IEMOCAP fold, noise pools)
    data.run_preparation(hparams["data_preparation"], hparams["skip_prep"])
    datasets, tokenizer, emo_encoder = dataio_prepare(
        hparams, modules.get("ctc_lin")
    )

    # The brain of those modules and of their parameter groups, with
    # hparams.checkpointer, hparams.train_logger and, where the yaml has
    # them (not zero_shot_asr.yaml), hparams.train_augment and
    # hparams.selection_metric; the noise of hparams.test_conditions,
    # drawn with hparams.test_noise_seed
    brain, conditions = experiment.build_brain(
        ASROutputFusionBrain,
        hparams,
        run_opts,
        modules=modules,
        param_groups=restrict_param_groups(hparams["param_groups"], modules),
    )
    brain.tokenizer, brain.emo_encoder = tokenizer, emo_encoder

    # Training (resumes from the last checkpoint of an interrupted run) on
    # hparams.train_dataloader_opts (hparams.dynamic_batching: batches of
    # hparams.dynamic_batch_sampler), hparams.valid_dataloader_opts; none
    # with --test_only (zero_shot_asr.yaml: test_only: True)
    experiment.fit(brain, hparams, datasets["train"], datasets["valid"])

    # Best checkpoint (the yaml's selection_metric; the pretrained model as
    # released without a checkpointer) under every test condition:
    # predictions, WA, UA, macro-F1, confusion matrix, and WER/CER and
    # their breakdown by emotion and length with an ASR path, in
    # hparams.results_folder (hparams.test_dataloader_opts)
    experiment.evaluate(
        brain, hparams_file, hparams, datasets["test"], conditions
    )

    # inference.yaml and custom_interface.py of a model that hears audio
    # only (a text stream reading the true transcripts, text_source: wrd,
    # needs them): the best checkpoint, fusion_forward and the character
    # tokenizer of a new CTC head (a released head brings its own)
    if "text" not in hparams["stream_list"] or (
        hparams.get("text_source", "hyp") == "hyp"
    ):
        context = experiment.label_encoder_context()
        if isinstance(tokenizer, CTCTextEncoder):
            context["tokenizer"] = ContextFile(CTCTextEncoder, "tokenizer.txt")
        experiment.export(brain, hparams, fusion_forward, context)
