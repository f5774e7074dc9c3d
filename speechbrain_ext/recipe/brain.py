"""A ``Brain`` with the machinery that every recipe of the collection shares.

A recipe's ``train.py`` subclasses :class:`RecipeBrain` and writes only what
is its own: ``compute_forward``, which returns a dict that follows the
prediction contract (:data:`speechbrain_ext.utils.metrics.PREDICTION_KEYS`:
``p_emo``, the emotion log-probabilities, and/or ``hyps``, the ASR
hypotheses as lists of words, plus whatever its loss needs), and
``compute_objectives``. The base class provides:

* **the audio of every batch** (:meth:`RecipeBrain.prepare_batch`, called
  before the recipe's forward pass, which a recipe cannot override):
  training-time augmentation (``train_augment``, e.g. MUSAN noise through
  SpeechBrain's ``Augmenter`` + ``AddNoise``) with every other item of the
  batch following the rows of a grown batch, and the noise of the current
  test condition (:attr:`test_condition`, through
  :attr:`condition_mixer`) mixed into test audio;
* **metrics**: the predictions of every validation and test batch become
  one record per utterance, scored by :mod:`speechbrain_ext.utils.metrics`
  (WA, UA, macro-F1, WER, CER, window WA), the same code for validation
  and test; a test pass hands the records to the reports;
* **checkpoint selection** on the yaml's ``selection_metric`` (a metric or
  a list, e.g. ``[WER, UA]`` for ``WER + 100 - UA``; the loss by default);
* **parameter groups**: one optimizer and one learning-rate annealing per
  group of modules (e.g. layers trained from scratch and fine-tuned
  pretrained models), declared in the yaml as ``param_groups``; frozen
  groups get no optimizer, and the trainable parameters of each group are
  logged;
* **validation bookkeeping**: per-loss averages, annealing of every group on
  the checkpoint-selection error, logging and checkpointing;
* **throughput**: every training epoch logs the seconds of audio that
  reached the model per second of wall time (augmented and noisy copies
  included), the utterances per second and, on a GPU, the peak memory;
* **resume**: the log names the checkpoint an interrupted run resumes from;
  evaluation fails when there is no checkpoint to load (a brain built
  without a checkpointer evaluates its modules as built: pretrained models
  evaluated as released, e.g. a zero-shot yaml with ``test_only: True``);
* **checks** of the shared hyperparameters: ``number_of_epochs`` must be a
  non-negative integer (see :mod:`speechbrain_ext.recipe.hparams`).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import collections
import logging
import time

import speechbrain as sb
import torch

from speechbrain_ext.augment.replicate import ReplacedAudioBatch
from speechbrain_ext.recipe.hparams import EPOCHS_KEY, check_number_of_epochs
from speechbrain_ext.utils.checkpoints import (
    ResumableCheckpointer,
    why_no_checkpoint,
)
from speechbrain_ext.utils.ddp import freeze_unused_parameters, uses_layerdrop
from speechbrain_ext.utils.metrics import (
    StageMetrics,
    check_predictions,
    selection_error,
)

logger = logging.getLogger(__name__)


class RecipeBrain(sb.Brain):
    """The shared base of the collection's recipes.

    Arguments
    ---------
    modules : dict of torch.nn.Module
        As for ``speechbrain.Brain``.
    hparams : dict
        As for ``speechbrain.Brain``.
    run_opts : dict
        As for ``speechbrain.Brain``.
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        As for ``speechbrain.Brain``.
    param_groups : dict
        ``{name: {"modules": module or list of modules, "optimizer":
        callable(params) -> Optimizer, "annealing": scheduler or None}}``.
        Each group with trainable parameters gets its own optimizer; its
        annealing is called with the validation selection error after
        every epoch. Optimizers and schedulers are saved as ``<name>_opt``
        and ``lr_annealing_<name>``. Empty only for a brain that never
        trains (``test_only``).
    train_augment : list of callable, optional
        Augmenters ``(wavs, lens) -> (wavs, lens)`` applied in training, in
        order. SpeechBrain ``Augmenter`` objects that grow the batch have
        their targets replicated.
    condition_mixer : ConditionMixer, optional
        Mixes the noise of :attr:`test_condition` into test audio.
    train_logger : speechbrain.utils.train_logger.TrainLogger, optional
        Receives the statistics of every validation and test stage.
    selection_metric : str or list of str
        The yaml's ``selection_metric``: the metric (or the metrics, summed)
        of the checkpoint-selection error, an accuracy ``x`` counting as
        ``100 - x`` (see :func:`speechbrain_ext.utils.metrics.selection_error`);
        the validation loss by default.

    Example
    -------
    >>> import torch
    >>> from speechbrain.dataio.batch import PaddedBatch
    >>> class Loudness(RecipeBrain):
    ...     def compute_forward(self, batch, stage):
    ...         wavs, lens = batch.sig
    ...         level = wavs.abs().mean(1, keepdim=True)
    ...         return {"p_emo": self.modules.net(level).log_softmax(-1)}
    ...     def compute_objectives(self, predictions, batch, stage):
    ...         emo = batch.emo_encoded.data[:, 0]
    ...         return torch.nn.functional.nll_loss(predictions["p_emo"], emo)
    >>> net = torch.nn.Linear(1, 2)
    >>> groups = {"model": {
    ...     "modules": net,
    ...     "optimizer": lambda p: torch.optim.SGD(p, lr=0.5)}}
    >>> brain = Loudness({"net": net}, hparams={"emotions": ["neu", "ang"]},
    ...                  param_groups=groups, run_opts={"device": "cpu"},
    ...                  selection_metric="UA")
    >>> data = [{"id": f"u{i}", "sig": torch.randn(800) * (1 + 4 * (i % 2)),
    ...          "emo_encoded": torch.tensor([i % 2])} for i in range(32)]
    >>> opts = {"batch_size": 8, "collate_fn": PaddedBatch}
    >>> brain.fit(range(20), data, data, train_loader_kwargs=opts,
    ...           valid_loader_kwargs=opts)
    >>> brain.evaluate(data, test_loader_kwargs=opts) < 0.5
    True
    >>> sorted(brain.stage_metrics.summarize())
    ['UA', 'WA', 'macro_F1']
    """

    test_condition = None
    """The noise condition of the current test pass (``None``: clean)."""

    test_records = None
    """Per-utterance records that a test pass under conditions fills."""

    sample_rate = 16000
    """Sampling rate of the waveforms, for the audio-seconds throughput."""

    def __init__(
        self,
        modules=None,
        hparams=None,
        run_opts=None,
        checkpointer=None,
        param_groups=None,
        train_augment=None,
        condition_mixer=None,
        train_logger=None,
        selection_metric="loss",
    ):
        super().__init__(
            modules=modules,
            hparams=hparams,
            run_opts=run_opts,
            checkpointer=checkpointer,
        )
        if hparams and EPOCHS_KEY in hparams:
            check_number_of_epochs(hparams[EPOCHS_KEY])
        if not param_groups and not self.test_only:
            raise ValueError(
                "param_groups is empty: declare at least one group with "
                "'modules' and 'optimizer' in the yaml (or set test_only: "
                "True for a yaml that only evaluates)."
            )
        param_groups = param_groups or {}
        for name, group in param_groups.items():
            missing = {"modules", "optimizer"} - set(group)
            if missing:
                raise ValueError(
                    f"param_groups.{name} lacks {sorted(missing)}: each "
                    "group needs 'modules' and 'optimizer' (and optionally "
                    "'annealing')."
                )
        self.param_groups = param_groups
        self.train_augment = list(train_augment or [])
        self.condition_mixer = condition_mixer
        self.train_logger = train_logger
        self.loss_parts = collections.defaultdict(list)
        self._throughput = None
        self._step_counted = False
        self.stage_metrics = None
        self.selection_metric = selection_metric

    # ------------------------------------------------------------------
    # Optimizers
    # ------------------------------------------------------------------
    def init_optimizers(self):
        """One optimizer (and annealing) per group with trainable params."""
        self.optimizers_dict, self.annealing = {}, {}
        for name, group in self.param_groups.items():
            modules = group["modules"]
            if isinstance(modules, (list, tuple)):
                params = [p for m in modules for p in m.parameters()]
            else:
                params = list(modules.parameters())
            params = [p for p in params if p.requires_grad]
            logger.info(
                "%s: %.2fM trainable parameters",
                name,
                sum(p.numel() for p in params) / 1e6,
            )
            if not params:
                continue
            optimizer = group["optimizer"](params)
            self.optimizers_dict[name] = optimizer
            scheduler = group.get("annealing")
            if scheduler is not None:
                self.annealing[name] = (scheduler, optimizer)
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable(f"{name}_opt", optimizer)
                if scheduler is not None:
                    self.checkpointer.add_recoverable(
                        f"lr_annealing_{name}", scheduler
                    )

    # ------------------------------------------------------------------
    # Audio: training augmentation, test conditions
    # ------------------------------------------------------------------
    def __init_subclass__(cls, **kwargs):
        """Refuses a recipe that would bypass the core's batch handling."""
        super().__init_subclass__(**kwargs)
        for name in ("fit_batch", "evaluate_batch", "prepare_batch"):
            if name in vars(cls):
                raise TypeError(
                    f"{cls.__name__} overrides {name}: the core applies "
                    "the training augmentation and the test conditions "
                    "there, and scores the predictions; a recipe writes "
                    "compute_forward and compute_objectives only."
                )

    def prepare_batch(self, batch, stage):
        """The batch a recipe's forward pass sees.

        It is moved to the device. In training, the augmenters of
        ``train_augment`` change its audio ``sig`` in order, and every other
        item follows the rows of a batch they grow. In a test pass under a
        condition, the condition's noise is mixed into ``sig``. Validation
        batches are left as they are.

        Arguments
        ---------
        batch : speechbrain.dataio.batch.PaddedBatch
            The batch as the loader gave it.
        stage : speechbrain.Stage
            The stage.

        Returns
        -------
        PaddedBatch or ReplacedAudioBatch
            The batch, with its audio changed where the stage calls for it.
        """
        if hasattr(batch, "to"):
            batch = batch.to(self.device, non_blocking=True)
        augmenting = stage == sb.Stage.TRAIN and self.train_augment
        mixing = stage == sb.Stage.TEST and self.test_condition is not None
        if not (augmenting or mixing):
            if stage == sb.Stage.TRAIN and hasattr(batch, "sig"):
                self.count_audio(*batch.sig)
            return batch
        if not hasattr(batch, "sig"):
            what = "train_augment" if augmenting else "a test condition"
            raise ValueError(
                f"{type(self).__name__} has {what} but its batches carry "
                "no audio item 'sig' for the core to change: the audio "
                "that reaches the model must be the batch's 'sig'."
            )
        wavs, wav_lens = batch.sig
        if augmenting:
            index = torch.arange(wavs.shape[0], device=wavs.device)
            for augmenter in self.train_augment:
                wavs, wav_lens = augmenter(wavs, wav_lens)
                if getattr(augmenter, "do_augment", False):
                    index = augmenter.replicate_labels(index)
            self.count_audio(wavs, wav_lens)
            return ReplacedAudioBatch(batch, wavs, wav_lens, index=index)
        if self.condition_mixer is None:
            raise RuntimeError(
                "A test condition is set but the brain has no condition_mixer."
            )
        wavs = self.condition_mixer(
            wavs, wav_lens, list(batch.id), self.test_condition
        )
        return ReplacedAudioBatch(batch, wavs, wav_lens)

    def fit_batch(self, batch):
        """One training step on the prepared batch, counted for throughput."""
        self._step_counted = False
        batch = self.prepare_batch(batch, sb.Stage.TRAIN)
        loss = super().fit_batch(batch)
        if self._throughput is not None:
            if not self._step_counted and hasattr(batch, "id"):
                self._throughput["utterances"] += len(batch.id)
            self._throughput["steps"] += 1
        return loss

    @torch.no_grad()
    def evaluate_batch(self, batch, stage):
        """Forward pass and loss on the prepared batch, then its metrics."""
        batch = self.prepare_batch(batch, stage)
        with self.evaluation_ctx:
            predictions = self.compute_forward(batch, stage=stage)
            loss = self.compute_objectives(predictions, batch, stage=stage)
        if self.stage_metrics is not None:
            self.score_batch(predictions, batch)
        return loss.detach().cpu()

    def score_batch(self, predictions, batch):
        """Adds an evaluated batch's predictions to the stage's metrics.

        The targets are the batch's ``id``, ``emo_encoded`` (the true
        emotion: scored against emotion predictions, and kept in the
        records of an ASR model for its WER by emotion) and ``wrd`` (for
        ASR hypotheses); see
        :data:`speechbrain_ext.utils.metrics.PREDICTION_KEYS`.

        Arguments
        ---------
        predictions : dict
            What ``compute_forward`` returned.
        batch : PaddedBatch
            The prepared batch.
        """
        if not isinstance(predictions, dict):
            check_predictions(predictions, len(batch))
        emo = refs = None
        if "p_emo" in predictions or hasattr(batch, "emo_encoded"):
            emo = batch.emo_encoded.data[:, 0]
        if "hyps" in predictions:
            refs = list(batch.wrd)
        self.stage_metrics.append(predictions, list(batch.id), emo, refs)

    @property
    def labels(self):
        """Emotion labels in the order of the classifier's outputs.

        Those of the brain's ``emo_encoder`` (a SpeechBrain
        ``CategoricalEncoder``) where the recipe sets one, otherwise the
        yaml's ``emotions``; ``None`` for a model without emotions.
        """
        encoder = getattr(self, "emo_encoder", None)
        if encoder is not None and len(encoder.ind2lab):
            return [encoder.ind2lab[i] for i in range(len(encoder.ind2lab))]
        return getattr(getattr(self, "hparams", None), "emotions", None)

    # ------------------------------------------------------------------
    # Throughput
    # ------------------------------------------------------------------
    def count_audio(self, wavs, wav_lens):
        """Adds a training batch to the epoch's throughput counters.

        Called by :meth:`augment` with the audio that reaches the model;
        :meth:`fit_batch` counts the batch's ``sig`` for recipes that do
        not augment. The sums stay on the device until the epoch ends.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].
        wav_lens : torch.Tensor
            Relative lengths.
        """
        if self._throughput is None or self._step_counted:
            return
        samples = (wav_lens.float() * wavs.shape[1]).sum().detach()
        self._throughput["samples"] = self._throughput["samples"] + samples
        self._throughput["utterances"] += wavs.shape[0]
        self._step_counted = True

    def epoch_throughput(self):
        """Throughput of the training steps since the training stage began.

        Reading it ends the count (the next training stage starts anew).

        Returns
        -------
        dict
            ``steps_per_s``, ``utt_per_s``, ``audio_s`` (seconds of audio
            that reached the model) and ``audio_s_per_s`` when audio was
            counted, and ``peak_gib`` (peak allocated memory) on a GPU;
            empty when no step was counted.
        """
        counts, self._throughput = self._throughput, None
        if counts is None or not counts["steps"]:
            return {}
        elapsed = max(time.perf_counter() - counts["start"], 1e-9)
        stats = {
            "steps_per_s": counts["steps"] / elapsed,
            "utt_per_s": counts["utterances"] / elapsed,
        }
        audio = float(counts["samples"]) / self.sample_rate
        if audio > 0:
            stats["audio_s"] = audio
            stats["audio_s_per_s"] = audio / elapsed
        if str(self.device).startswith("cuda"):
            stats["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        return stats

    # ------------------------------------------------------------------
    # Stage bookkeeping
    # ------------------------------------------------------------------
    def track_loss(self, name, value):
        """Records one batch value of a named loss term for the stage log.

        The value stays on its device until the stage ends: reading it here
        would make the host wait for the forward pass in every step.
        """
        self.loss_parts[name].append(value.detach())

    def on_stage_start(self, stage, epoch=None):
        """Resets the loss terms, the metrics and the throughput counters."""
        self.loss_parts = collections.defaultdict(list)
        self.stage_metrics = None
        if stage != sb.Stage.TRAIN:
            self.stage_metrics = StageMetrics(self.labels)
        if stage == sb.Stage.TRAIN:
            if str(self.device).startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            self._throughput = {
                "start": time.perf_counter(),
                "samples": 0.0,
                "utterances": 0,
                "steps": 0,
            }

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs losses and metrics, anneals on the error, checkpoints."""
        stats = {"loss": stage_loss}
        for name, values in self.loss_parts.items():
            if values:
                mean = torch.stack([v.float() for v in values]).mean()
                stats[f"loss_{name}"] = float(mean)
        if stage == sb.Stage.TRAIN:
            stats.update(self.epoch_throughput())
            self.train_stats = stats
            return
        stats.update(self.stage_metrics.summarize())
        stats["error"] = selection_error(stats, self.selection_metric)
        if stage == sb.Stage.TEST and self.test_records is not None:
            self.test_records += self.stage_metrics.records
        if stage == sb.Stage.VALID:
            lr_stats = {}
            for name, (scheduler, optimizer) in self.annealing.items():
                old_lr, new_lr = scheduler(stats["error"])
                sb.nnet.schedulers.update_learning_rate(optimizer, new_lr)
                lr_stats[f"lr_{name}"] = old_lr
            self._log_stats(
                {"epoch": epoch, **lr_stats},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            if self.checkpointer is not None:
                self.checkpointer.save_and_keep_only(
                    meta={"error": stats["error"]}, min_keys=["error"]
                )
        elif stage == sb.Stage.TEST:
            counter = getattr(self.hparams, "epoch_counter", None)
            self._log_stats(
                {
                    "Epoch loaded": getattr(counter, "current", None),
                    "condition": getattr(self.test_condition, "name", "test"),
                },
                test_stats=stats,
            )

    def _log_stats(self, meta, **stats):
        if self.train_logger is not None:
            self.train_logger.log_stats(stats_meta=meta, **stats)

    # ------------------------------------------------------------------
    # Resume and evaluation
    # ------------------------------------------------------------------
    def on_fit_start(self):
        """Freezes never-used parameters (DDP), announces a resume."""
        for module in self.modules.values():
            freeze_unused_parameters(module)
            # LayerDrop skips different layers on different processes
            if self.distributed_launch and uses_layerdrop(module):
                if not self.find_unused_parameters:
                    logger.info("LayerDrop: DDP finds unused parameters")
                self.find_unused_parameters = True
        if self.checkpointer is not None and not self.test_only:
            latest = self.checkpointer.find_checkpoint()
            if latest is not None:
                if latest.meta.get(sb.core.INTRA_EPOCH_CKPT_FLAG):
                    where = "in the middle of an epoch"
                else:
                    where = "at the end of an epoch"
                logger.info("Resuming from %s (saved %s)", latest.path, where)
        super().on_fit_start()

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint, and fails if there is none.

        Without a checkpointer there is nothing to load: the modules are
        evaluated as they were built (pretrained weights).
        """
        if self.checkpointer is None:
            logger.info(
                "No checkpointer: evaluating the modules as built "
                "(pretrained weights, nothing loaded)"
            )
            self.loaded_checkpoint = None
            return
        checkpoint = self.checkpointer.recover_if_possible(
            max_key=max_key, min_key=min_key
        )
        if checkpoint is None:
            found = ""
            if isinstance(self.checkpointer, ResumableCheckpointer):
                found = why_no_checkpoint(self.checkpointer, min_key or max_key)
                found = f" ({found})"
            raise FileNotFoundError(
                f"No checkpoint found in {self.checkpointer.checkpoints_dir}"
                f"{found}: train the model first (or point --output_folder "
                "to a finished run) before evaluating."
            )
        self.loaded_checkpoint = checkpoint.path
