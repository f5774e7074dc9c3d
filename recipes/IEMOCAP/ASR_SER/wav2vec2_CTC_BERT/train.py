#!/usr/bin/env python3
"""Joint speech recognition and emotion recognition on IEMOCAP.

One speech encoder (wav2vec2 by default) is shared by a character CTC head
and an emotion head. The emotion head fuses the pooled acoustic embedding
with a BERT embedding of the ASR hypothesis through skip-connection MLPs
(Bansal et al., 2023). The loss is ``alpha * L_SER + (1 - alpha) * L_CTC``.
The ASR-only and SER-only baselines run on this same script: a yaml file that
declares no emotion head (or no CTC head) trains that task alone.

After training, the best checkpoint is evaluated under every noise condition
of ``test_conditions`` (clean; noise, music and babble at 15 and 5 dB by
default), with noise from the MUSAN test pool mixed at exactly the
condition's SNR.

To run the paper's system (GPU)::

    python train.py hparams/joint.yaml \
        --data_folder=/path/to/IEMOCAP_full_release \
        --musan_folder=/path/to/musan

Embedded demo on CPU (generates SynthEmo and SynthNoise first)::

    python train.py hparams/joint_demo.yaml

Noise training, another condition set, evaluation of an existing model::

    python train.py hparams/joint.yaml ... --noise_prob=1.0
    python train.py hparams/joint.yaml ... --test_only \
        --test_conditions=snr_sweep

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import functools
import logging
import operator
import os
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_ext.augment.conditions import ConditionMixer, load_conditions
from speechbrain_ext.augment.replicate import replicate_batch_items
from speechbrain_ext.dataio.iemocap_prepare import prepare_iemocap
from speechbrain_ext.dataio.musan_prepare import prepare_musan
from speechbrain_ext.dataio.synthemo import ensure_synthemo
from speechbrain_ext.inference.joint_asr_ser import export_for_inference
from speechbrain_ext.lobes.models.joint_asr_ser import joint_asr_ser_forward
from speechbrain_ext.utils.evaluation import (
    evaluate_conditions,
    find_condition_set,
)

logger = logging.getLogger(__name__)


class JointCTCBertBrain(sb.Brain):
    """Trains whichever of the CTC and emotion heads the yaml declares."""

    test_condition = None
    test_records = None

    @property
    def has_asr(self):
        """Whether the model has a CTC head."""
        return "ctc_lin" in self.modules

    @property
    def has_ser(self):
        """Whether the model has an emotion head."""
        return "emo_classifier" in self.modules

    @property
    def bert_reads_hyp(self):
        """Whether BERT reads the ASR hypothesis (not the truth) in training."""
        if "text_encoder" not in self.modules:
            return False
        if self.hparams.bert_input not in ("hyp", "wrd"):
            raise ValueError(
                "bert_input must be 'hyp' or 'wrd', not "
                f"{self.hparams.bert_input!r}"
            )
        return self.hparams.bert_input == "hyp"

    def compute_forward(self, batch, stage):
        """Encoder -> CTC posteriors and emotion posteriors."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        targets = self._targets(batch)

        if stage == sb.Stage.TRAIN:
            for augmenter in self.hparams.train_augment:
                wavs, wav_lens = augmenter(wavs, wav_lens)
                targets = dict(
                    zip(
                        targets,
                        replicate_batch_items(augmenter, *targets.values()),
                    )
                )
        elif self.test_condition is not None:
            wavs = self.condition_mixer(
                wavs, wav_lens, batch.id, self.test_condition
            )

        texts = None
        if stage == sb.Stage.TRAIN and not self.bert_reads_hyp:
            texts = targets["wrd"]
        out = joint_asr_ser_forward(
            self.modules,
            self.hparams,
            wavs,
            wav_lens,
            tokenizer=self.tokenizer,
            texts=texts,
            decode=stage != sb.Stage.TRAIN,
        )
        out["targets"] = targets
        return out

    def _targets(self, batch):
        targets = {"id": batch.id, "wrd": batch.wrd}
        if self.has_asr:
            targets["tokens"], targets["tokens_lens"] = batch.tokens
        targets["emo"] = batch.emo_encoded.data[:, 0]
        return targets

    def compute_objectives(self, predictions, batch, stage):
        """``alpha * L_SER + (1 - alpha) * L_CTC`` (or a single task loss)."""
        targets = predictions["targets"]
        losses = {}
        if self.has_asr:
            losses["ctc"] = self.hparams.ctc_cost(
                predictions["p_ctc"],
                targets["tokens"],
                predictions["feat_lens"],
                targets["tokens_lens"],
            )
        if self.has_ser:
            losses["ser"] = self.hparams.ser_cost(
                predictions["p_emo"].unsqueeze(1), targets["emo"].unsqueeze(1)
            )
        if self.has_asr and self.has_ser:
            alpha = self.hparams.ser_weight
            loss = alpha * losses["ser"] + (1 - alpha) * losses["ctc"]
        else:
            loss = sum(losses.values())
        for name, value in losses.items():
            self.loss_parts[name].append(value.detach().item())

        if stage != sb.Stage.TRAIN:
            self._update_metrics(predictions, targets)
        return loss

    def _update_metrics(self, predictions, targets):
        ids = targets["id"]
        refs = [w.split() for w in targets["wrd"]]
        hyps = predictions.get("hyps")
        probs = None
        if self.has_asr:
            self.wer_metric.append(ids, hyps, refs)
            self.cer_metric.append(ids, hyps, refs)
        if self.has_ser:
            probs = predictions["p_emo"].exp().detach().cpu()
            self.emo_metric.append(
                ids,
                predictions["p_emo"].argmax(-1),
                targets["emo"],
            )
        if self.test_records is None:
            return
        decode = self.emo_encoder.ind2lab
        for i, uid in enumerate(ids):
            record = {"id": uid, "emo": decode[int(targets["emo"][i])]}
            if self.has_asr:
                record["ref"] = targets["wrd"][i]
                record["hyp"] = " ".join(hyps[i])
            if probs is not None:
                record["pred"] = decode[int(probs[i].argmax())]
                record["probs"] = probs[i].tolist()
            self.test_records.append(record)

    def on_stage_start(self, stage, epoch=None):
        """Resets the loss parts and metric trackers."""
        self.loss_parts = {"ctc": [], "ser": []}
        if stage != sb.Stage.TRAIN:
            self.wer_metric = self.hparams.error_rate_computer()
            self.cer_metric = self.hparams.cer_computer()
            self.emo_metric = sb.utils.metric_stats.ClassificationStats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs losses and metrics, anneals learning rates, checkpoints."""
        stats = {"loss": stage_loss}
        for name, values in self.loss_parts.items():
            if values:
                stats[f"loss_{name}"] = sum(values) / len(values)
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        if self.has_asr:
            stats["WER"] = self.wer_metric.summarize("error_rate")
            stats["CER"] = self.cer_metric.summarize("error_rate")
        if self.has_ser:
            stats["ACC"] = 100 * float(self.emo_metric.summarize("accuracy"))
        # The checkpoint selection metric: lower is better.
        stats["error"] = self._selection_error(stats)

        if stage == sb.Stage.VALID:
            lr_stats = {}
            for name, (scheduler, optimizer) in self.annealed.items():
                old_lr, new_lr = scheduler(stats["loss"])
                sb.nnet.schedulers.update_learning_rate(optimizer, new_lr)
                lr_stats[f"lr_{name}"] = old_lr
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, **lr_stats},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"error": stats["error"]}, min_keys=["error"]
            )
        elif stage == sb.Stage.TEST:
            name = getattr(self.test_condition, "name", "test")
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "Epoch loaded": self.hparams.epoch_counter.current,
                    "condition": name,
                },
                test_stats=stats,
            )

    def _selection_error(self, stats):
        error = 0.0
        if self.has_asr:
            error += stats["WER"]
        if self.has_ser:
            error += 100 - stats["ACC"]
        return error

    def init_optimizers(self):
        """One optimizer per parameter group that has trainable parameters.

        ``model`` holds the layers trained from scratch, ``pretrained`` the
        pretrained encoders that are fine-tuned (with a smaller learning
        rate). Frozen parameters get no optimizer.
        """
        self.optimizers_dict, self.annealed = {}, {}
        for name in ("model", "pretrained"):
            modules = getattr(self.hparams, name)
            params = [p for p in modules.parameters() if p.requires_grad]
            logger.info(
                "%s: %.2fM trainable parameters",
                name,
                sum(p.numel() for p in params) / 1e6,
            )
            if not params:
                continue
            optimizer = getattr(self.hparams, f"{name}_opt_class")(params)
            self.optimizers_dict[name] = optimizer
            scheduler = getattr(self.hparams, f"lr_annealing_{name}")
            self.annealed[name] = (scheduler, optimizer)
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable(f"{name}_opt", optimizer)
                self.checkpointer.add_recoverable(
                    f"lr_annealing_{name}", scheduler
                )

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint, and fails if there is none."""
        checkpoint = self.checkpointer.recover_if_possible(
            max_key=max_key, min_key=min_key
        )
        if checkpoint is None:
            raise FileNotFoundError(
                f"No checkpoint found in {self.checkpointer.checkpoints_dir}: "
                "train the model first (or point --output_folder to a "
                "finished run) before evaluating."
            )
        self.loaded_checkpoint = checkpoint.path


def text_pipeline(wrd, tokenizer):
    """Yields the transcript and its character token ids."""
    yield wrd
    tokens = tokenizer.encode_sequence(list(wrd))
    yield torch.LongTensor(tokens)


def emotion_pipeline(emo, emo_encoder):
    """Yields the encoded emotion label."""
    yield emo_encoder.encode_sequence_torch([emo])


def dataio_prepare(hparams):
    """Builds the train/valid/test datasets and the label encoders."""
    annotations = {
        "train": hparams["train_annotation"],
        "valid": hparams["valid_annotation"],
        "test": hparams["test_annotation"],
    }
    datasets = {}
    for split, path in annotations.items():
        datasets[split] = _with_duration(
            sb.dataio.dataset.DynamicItemDataset.from_json(
                json_path=path,
                replacements={"data_root": hparams["data_folder"]},
            )
        )
    sorting = hparams["sorting"]
    if sorting not in ("random", "ascending", "descending"):
        raise ValueError(
            f"sorting must be random/ascending/descending: {sorting}"
        )
    datasets["train"] = datasets["train"].filtered_sorted(
        sort_key=None if sorting == "random" else "duration",
        reverse=sorting == "descending",
        key_max_value={"duration": hparams["max_duration"]},
    )
    if sorting != "random":
        hparams["train_dataloader_opts"]["shuffle"] = False
    for split in ("valid", "test"):
        datasets[split] = datasets[split].filtered_sorted(sort_key="duration")
    all_sets = list(datasets.values())

    sb.dataio.dataset.add_dynamic_item(
        all_sets,
        sb.dataio.dataio.read_audio,
        takes=["wav"],
        provides=["sig"],
    )
    tokenizer = sb.dataio.encoder.CTCTextEncoder()
    tokenizer.add_unk()
    emo_encoder = sb.dataio.encoder.CategoricalEncoder()
    sb.dataio.dataset.add_dynamic_item(
        all_sets,
        functools.partial(text_pipeline, tokenizer=tokenizer),
        takes=["wrd"],
        provides=["wrd", "tokens"],
    )
    sb.dataio.dataset.add_dynamic_item(
        all_sets,
        functools.partial(emotion_pipeline, emo_encoder=emo_encoder),
        takes=["emo"],
        provides=["emo_encoded"],
    )

    os.makedirs(hparams["save_folder"], exist_ok=True)
    tokenizer.load_or_create(
        os.path.join(hparams["save_folder"], "tokenizer.txt"),
        from_didatasets=[datasets["train"]],
        output_key="wrd",
        special_labels={"blank_label": hparams["blank_index"]},
        sequence_input=True,
    )
    emo_path = os.path.join(hparams["save_folder"], "emo_encoder.txt")
    if not emo_encoder.load_if_possible(emo_path):
        emo_encoder.update_from_iterable(hparams["emotions"])
        if if_main_process():
            emo_encoder.save(emo_path)
    tokenizer.ignore_len()
    emo_encoder.expect_len(len(hparams["emotions"]))
    if len(tokenizer) > hparams["output_neurons"]:
        raise ValueError(
            f"The training transcripts have {len(tokenizer)} tokens "
            "(characters, blank and unknown) but the CTC layer has "
            f"output_neurons={hparams['output_neurons']}: raise it."
        )
    unknown = {
        d["emo"] for split in datasets.values() for d in split.data.values()
    } - set(hparams["emotions"])
    if unknown:
        raise ValueError(
            f"The manifests contain emotion labels {sorted(unknown)} that are "
            f"not in the yaml key 'emotions' ({hparams['emotions']})."
        )
    sb.dataio.dataset.set_output_keys(
        all_sets, ["id", "sig", "wrd", "tokens", "emo_encoded"]
    )
    return datasets, tokenizer, emo_encoder


def _with_duration(dataset):
    """Accepts manifests with ``length`` instead of ``duration``."""
    for entry in dataset.data.values():
        if "duration" not in entry:
            if "length" not in entry:
                raise KeyError(
                    "Each manifest entry needs 'duration' or 'length' "
                    f"(seconds); got keys {sorted(entry)}"
                )
            entry["duration"] = float(entry["length"])
    return dataset


def announce_resume(brain):
    """Logs which checkpoint an interrupted run resumes from, if any."""
    if brain.test_only or brain.checkpointer is None:
        return
    latest = brain.checkpointer.find_checkpoint()
    if latest is None:
        return
    if latest.meta.get(sb.core.INTRA_EPOCH_CKPT_FLAG):
        where = "in the middle of an epoch"
    else:
        where = "at the end of an epoch"
    logger.info("Resuming from %s (saved %s)", latest.path, where)


def check_noise_pools(noise_folder, pool):
    """Fails unless every category has a non-empty csv of ``pool``.

    SpeechBrain's ``AddNoise`` falls back to white noise without a csv file;
    noise training must not silently do that.
    """
    for category in ("noise", "music", "speech"):
        path = os.path.join(noise_folder, f"{category}_{pool}.csv")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Missing noise pool {path}")
        with open(path, encoding="utf-8") as f:
            if sum(1 for line in f if line.strip()) < 2:
                raise ValueError(f"Noise pool {path} lists no file")


def prepare_data(hparams):
    """Generates the embedded corpus if asked, then prepares the manifests."""
    if hparams.get("synthemo_utterances"):
        run_on_main(
            ensure_synthemo,
            kwargs={
                "output_folder": hparams["synthemo_folder"],
                "n_utterances": hparams["synthemo_utterances"],
                "seed": hparams["synthemo_seed"],
            },
        )
    run_on_main(
        prepare_iemocap,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["prep_folder"],
            "protocol": hparams["protocol"],
            "fold": hparams["fold"],
            "improvised_only": hparams["improvised_only"],
            "check_counts": hparams["check_counts"],
            "skip_prep": hparams["skip_prep"],
        },
    )
    run_on_main(
        prepare_musan,
        kwargs={
            "data_folder": hparams["musan_folder"],
            "save_folder": hparams["noise_folder"],
            "seed": hparams["noise_split_seed"],
            "skip_prep": hparams["skip_prep"],
        },
    )


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)

    sb.utils.distributed.ddp_init_group(run_opts)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    prepare_data(hparams)
    datasets, tokenizer, emo_encoder = dataio_prepare(hparams)

    brain = JointCTCBertBrain(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.tokenizer = tokenizer
    brain.emo_encoder = emo_encoder
    # Only the categories that the chosen conditions use need a test pool.
    conditions = load_conditions(find_condition_set(hparams["test_conditions"]))
    brain.condition_mixer = ConditionMixer(
        {
            c.category: os.path.join(
                hparams["noise_folder"], f"{c.category}_test.csv"
            )
            for c in conditions
            if c.category is not None
        },
        seed=hparams["test_noise_seed"],
    )

    if hparams["noise_prob"] > 0:
        check_noise_pools(hparams["noise_folder"], "train")

    train_loader_kwargs = dict(hparams["train_dataloader_opts"])
    # The loader draws its worker seed from its own generator, not from the
    # global one: a run resumed in the middle of an epoch then draws the same
    # random numbers (augmentation, dropout) as an uninterrupted run.
    train_loader_kwargs["generator"] = torch.Generator().manual_seed(
        hparams["seed"]
    )
    if hparams["dynamic_batching"]:
        batch_sampler = DynamicBatchSampler(
            datasets["train"],
            length_func=operator.itemgetter("duration"),
            **hparams["dynamic_batch_sampler"],
        )
        train_loader_kwargs = {
            "batch_sampler": batch_sampler,
            "num_workers": train_loader_kwargs.get("num_workers", 0),
            "generator": train_loader_kwargs["generator"],
        }
        # new shuffle every epoch (Brain calls set_epoch on train_sampler)
        brain.train_sampler = batch_sampler
    announce_resume(brain)
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=train_loader_kwargs,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if if_main_process():
        evaluate_conditions(
            brain,
            datasets["test"],
            conditions,
            hparams["results_folder"],
            labels=hparams["emotions"],
            test_loader_kwargs=hparams["test_dataloader_opts"],
            min_key="error",
            title=os.path.basename(hparams_file),
        )
        if not (brain.debug or brain.test_only):
            export_for_inference(hparams["output_folder"])
