"""One inference interface for the models of every recipe of the collection.

:class:`RecipeInterface` is a SpeechBrain ``Pretrained`` interface that runs
whatever forward function the ``inference.yaml`` of a run names (``forward:
!name:<module>.<function>``, written by
:func:`speechbrain_ext.inference.export.export_for_inference`): the
family's own eval-mode forward pass, called as
``forward(modules, hparams, wavs, wav_lens, stage=sb.Stage.TEST,
**context)``, which returns ``p_emo`` (emotion log-probabilities in the
order of the label encoder) and/or ``hyps`` (one list of words per
utterance). ``context`` holds the objects the recipe builds outside its
yaml (a tokenizer, a word vocabulary), loaded from the run's files by the
same ``inference.yaml``.

Bad input is refused, never turned into a label: an utterance with fewer
than :data:`MIN_SAMPLES` samples or with non-finite samples, and a model
output whose probabilities are not finite, raise a ``ValueError`` naming
the file or the utterance (or, in :meth:`RecipeInterface.classify_files`
and :meth:`RecipeInterface.predict_batch`, give that utterance a result
with an ``error`` message).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import logging
import os

import speechbrain as sb
import torch
from speechbrain.dataio import audio_io
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import batch_pad_right

from speechbrain_ext.dataio.preparation import MIN_SAMPLES

logger = logging.getLogger(__name__)


def audio_problem(signal, min_samples=MIN_SAMPLES):
    """Why a waveform cannot be classified, or ``None`` when it can.

    Arguments
    ---------
    signal : torch.Tensor
        16 kHz mono waveform [time].
    min_samples : int
        Fewest samples accepted.

    Returns
    -------
    str or None
        The problem, in words.

    Example
    -------
    >>> audio_problem(torch.zeros(16000)) is None
    True
    >>> audio_problem(torch.zeros(10))
    'too short: 10 samples, at least 1600 (0.1 s at 16 kHz) are needed'
    >>> audio_problem(torch.full((16000,), float("nan")))
    'the audio holds non-finite samples (NaN or inf)'
    """
    n = signal.shape[-1] if signal.dim() else 0
    if n < min_samples:
        return (
            f"too short: {n} samples, at least {min_samples} "
            f"({min_samples / 16000:g} s at 16 kHz) are needed"
        )
    if not bool(torch.isfinite(signal).all()):
        return "the audio holds non-finite samples (NaN or inf)"
    return None


NOT_FINITE = (
    "the model's emotion probabilities are not finite (audio too short "
    "for this model?)"
)


def _error_result(message):
    return {
        "transcript": None,
        "emotion": None,
        "probabilities": None,
        "error": message,
    }


class RecipeInterface(Pretrained):
    """Emotion, class probabilities and transcript of a trained recipe model.

    The interface of every family: the family's forward function, named by
    ``forward`` in ``inference.yaml``, runs the modules; ``label_encoder``
    (optional: ASR-only models have none) names the emotion classes;
    ``context`` (optional) holds the keyword arguments of the forward
    function besides the modules, hyperparameters and audio.

    Emotion models follow SpeechBrain's classifiers
    (``EncoderClassifier``): :meth:`classify_file` and
    :meth:`classify_batch` return ``out_prob`` (log-probabilities
    [batch, classes]), ``score`` (the best log-probability), ``index`` and
    ``text_lab`` (the labels), and, when the model has an ASR head, the
    transcripts. ASR models offer :meth:`transcribe_file` and
    :meth:`transcribe_batch`. :meth:`classify_files` returns one dict per
    file for any model.

    Arguments
    ---------
    *args, **kwargs
        As for ``speechbrain.inference.interfaces.Pretrained``; use
        :meth:`from_hparams` (or ``foreign_class``) with the
        ``inference.yaml`` of a run, or
        :func:`speechbrain_ext.inference.load_model`.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> def forward(modules, hparams, wavs, wav_lens, stage, **context):
    ...     return {"p_emo": modules["emo"](wavs[:, :4]).log_softmax(-1),
    ...             "hyps": [["HELLO"] for _ in wavs]}
    >>> labels = CategoricalEncoder()
    >>> labels.update_from_iterable(["neu", "hap"])
    >>> model = RecipeInterface(
    ...     modules={"emo": torch.nn.Linear(4, 2)},
    ...     hparams={"forward": forward, "label_encoder": labels})
    >>> out_prob, score, index, text_lab, transcripts = model.classify_batch(
    ...     torch.rand(3, 16000))
    >>> out_prob.shape, text_lab[0] in ("neu", "hap"), transcripts[0]
    (torch.Size([3, 2]), True, 'HELLO')
    """

    HPARAMS_NEEDED = ["forward"]

    @property
    def labels(self):
        """The emotion classes in the order of ``p_emo``, or ``None``."""
        encoder = getattr(self.hparams, "label_encoder", None)
        if encoder is None:
            return None
        return [encoder.ind2lab[i] for i in range(len(encoder))]

    def run_forward(self, wavs, wav_lens=None):
        """The forward function's output on a batch, unchecked.

        Arguments
        ---------
        wavs : torch.Tensor
            16 kHz mono waveforms [batch, time].
        wav_lens : torch.Tensor, optional
            Relative lengths (default: all 1).

        Returns
        -------
        dict
            The family's prediction dict (``p_emo`` and/or ``hyps``, and
            any other key of the family).
        """
        _check_shape(wavs)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        context = dict(getattr(self.hparams, "context", None) or {})
        with torch.no_grad():
            return self.hparams.forward(
                self.mods,
                self.hparams,
                wavs.to(self.device).float(),
                wav_lens.to(self.device).float(),
                sb.Stage.TEST,
                **context,
            )

    def _checked_batch(self, wavs, wav_lens):
        """Relative lengths, after refusing unusable utterances."""
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        problems = _batch_problems(wavs, wav_lens)
        bad = [f"utterance {i}: {p}" for i, p in enumerate(problems) if p]
        if bad:
            raise ValueError(f"Cannot classify the batch: {'; '.join(bad)}")
        return wav_lens

    def _emotion_outputs(self, out):
        """``out_prob, score, index, text_lab`` of a forward output."""
        if "p_emo" not in out or self.labels is None:
            raise ValueError(
                "This model has no emotion head (its forward function "
                f"{_name(self.hparams.forward)} returns no p_emo, or its "
                "inference.yaml has no label_encoder): use transcribe_file "
                "or transcribe_batch."
            )
        out_prob = out["p_emo"]
        finite = torch.isfinite(out_prob).all(dim=-1).cpu()
        if not bool(finite.all()):
            bad = [str(i) for i in (~finite).nonzero().flatten().tolist()]
            raise ValueError(f"utterance {', '.join(bad)}: {NOT_FINITE}")
        score, index = torch.max(out_prob, dim=-1)
        text_lab = [self.labels[i] for i in index.tolist()]
        return out_prob, score, index, text_lab

    def classify_batch(self, wavs, wav_lens=None):
        """Emotion (and transcript) of each utterance of a batch.

        Arguments
        ---------
        wavs : torch.Tensor
            16 kHz mono waveforms [batch, time].
        wav_lens : torch.Tensor, optional
            Relative lengths (default: all 1).

        Returns
        -------
        out_prob : torch.Tensor
            Emotion log-probabilities [batch, classes].
        score : torch.Tensor
            The best log-probability of each utterance [batch].
        index : torch.Tensor
            The index of the best class [batch].
        text_lab : list of str
            The best class of each utterance.
        transcripts : list of str
            Only for a model with an ASR head: the transcript of each
            utterance.

        Raises
        ------
        ValueError
            When an utterance is too short or holds non-finite samples
            (see :func:`audio_problem`), when the model's probabilities are
            not finite, or when the model has no emotion head; the message
            names the utterances.
        """
        wav_lens = self._checked_batch(wavs, wav_lens)
        out = self.run_forward(wavs, wav_lens)
        outputs = self._emotion_outputs(out)
        if "hyps" in out:
            return (*outputs, [" ".join(words) for words in out["hyps"]])
        return outputs

    def classify_file(self, path, **kwargs):
        """Emotion (and transcript) of an audio file.

        Files of any sample rate, mono or multi-channel, are resampled to
        16 kHz and mixed down to mono.

        Arguments
        ---------
        path : str
            An audio file.
        **kwargs : dict
            Arguments forwarded to ``load_audio``.

        Returns
        -------
        tuple
            As :meth:`classify_batch`, for a batch of one.

        Raises
        ------
        FileNotFoundError
            When the file does not exist.
        ValueError
            When the file cannot be read or classified; the message names
            the file.
        """
        signal = self._load_checked(path, **kwargs)
        try:
            return self.classify_batch(signal.unsqueeze(0), torch.ones(1))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e

    def transcribe_batch(self, wavs, wav_lens=None):
        """Transcripts of a batch, for a model with an ASR head.

        Arguments
        ---------
        wavs : torch.Tensor
            16 kHz mono waveforms [batch, time].
        wav_lens : torch.Tensor, optional
            Relative lengths (default: all 1).

        Returns
        -------
        list of str
            The transcript of each utterance.
        """
        wav_lens = self._checked_batch(wavs, wav_lens)
        out = self.run_forward(wavs, wav_lens)
        if "hyps" not in out:
            raise ValueError(
                "This model has no ASR head (its forward function "
                f"{_name(self.hparams.forward)} returns no hyps): use "
                "classify_file or classify_batch."
            )
        return [" ".join(words) for words in out["hyps"]]

    def transcribe_file(self, path, **kwargs):
        """Transcript of an audio file, for a model with an ASR head.

        Arguments
        ---------
        path : str
            An audio file (any sample rate, mono or multi-channel).
        **kwargs : dict
            Arguments forwarded to ``load_audio``.

        Returns
        -------
        str
            The transcript.
        """
        signal = self._load_checked(path, **kwargs)
        try:
            return self.transcribe_batch(signal.unsqueeze(0))[0]
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e

    def predict_batch(self, wavs, wav_lens=None):
        """One result dict per utterance; unusable ones get an ``error``.

        Arguments
        ---------
        wavs : torch.Tensor
            16 kHz mono waveforms [batch, time].
        wav_lens : torch.Tensor, optional
            Relative lengths (default: all 1).

        Returns
        -------
        list of dict
            Per utterance: ``transcript`` (str, or ``None`` without an ASR
            head), ``emotion`` (str, or ``None`` without an emotion head),
            ``probabilities`` ({label: probability} or ``None``). An
            utterance that cannot be classified (see :func:`audio_problem`,
            or a model output that is not finite) gets ``None`` outputs and
            an ``error`` message instead; the others are classified as if
            it were not in the batch.
        """
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        problems = _batch_problems(wavs, wav_lens)
        keep = [i for i, problem in enumerate(problems) if problem is None]
        results = [_error_result(p) if p else None for p in problems]
        if not keep:
            return results
        if len(keep) < wavs.shape[0]:
            n_samples = _n_samples(wavs, wav_lens)
            longest = int(n_samples[keep].max())
            wavs = wavs[keep, :longest]
            wav_lens = n_samples[keep].float() / longest
        out = self.run_forward(wavs, wav_lens)
        labels = self.labels if "p_emo" in out else None
        for k, i in enumerate(keep):
            result = {"transcript": None, "emotion": None}
            result["probabilities"] = None
            if "hyps" in out:
                result["transcript"] = " ".join(out["hyps"][k])
            if labels is not None:
                probs = out["p_emo"][k].exp().cpu()
                if not bool(torch.isfinite(probs).all()):
                    results[i] = _error_result(NOT_FINITE)
                    continue
                result["emotion"] = labels[int(probs.argmax())]
                result["probabilities"] = {
                    label: float(p) for label, p in zip(labels, probs)
                }
            results[i] = result
        return results

    def classify_files(self, paths, batch_size=8, progress=True):
        """Transcript, emotion and probabilities of each audio file.

        Files of any sample rate, mono or multi-channel, are resampled to
        16 kHz and mixed down to mono. A file that is missing, cannot be
        read or decoded, or is too short (see :func:`audio_problem`) gets
        a result with ``None`` outputs and an ``error`` message; the other
        files are processed as usual.

        Arguments
        ---------
        paths : list of str
            Local audio files (or URLs).
        batch_size : int
            Files per forward pass.
        progress : bool
            Show a progress bar.

        Returns
        -------
        list of dict
            One result per file, in order (see :meth:`predict_batch`),
            with ``file``.
        """
        from tqdm import tqdm

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        results = []
        starts = range(0, len(paths), batch_size)
        for start in tqdm(starts, disable=not progress, unit="batch"):
            chunk = paths[start : start + batch_size]
            chunk_results = [None] * len(chunk)
            signals, readable = [], []
            for k, path in enumerate(chunk):
                signal, error = self._read(path)
                if error is None:
                    signals.append(signal)
                    readable.append(k)
                else:
                    chunk_results[k] = _error_result(error)
            if signals:
                wavs, wav_lens = batch_pad_right(signals)
                batch = self.predict_batch(wavs, wav_lens)
                for k, result in zip(readable, batch):
                    chunk_results[k] = result
            for path, result in zip(chunk, chunk_results):
                if result.get("error"):
                    logger.warning("%s: %s", path, result["error"])
                results.append({"file": path, **result})
        return results

    def _load_checked(self, path, **kwargs):
        """The 16 kHz mono signal of a file; an error naming it if none."""
        if "://" not in str(path) and not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        signal, error = self._read(path, **kwargs)
        if error is not None:
            raise ValueError(f"{path}: {error}")
        return signal

    def _read(self, path, **kwargs):
        """The 16 kHz mono signal of a file, or the reason it has none."""
        path = str(path)
        if "://" not in path:
            # a missing local path would be looked up on the HuggingFace Hub
            if os.path.isdir(path):
                return None, "is a directory, not an audio file"
            if not os.path.isfile(path):
                return None, "no such file"
            try:
                if audio_io.info(path).frames == 0:
                    # resampling an empty signal fails with a shape error
                    return None, audio_problem(torch.zeros(0))
            except RuntimeError:
                pass  # load_audio tries other decoders and says why not
        try:
            signal = self.load_audio(path, **kwargs).cpu()
        except (RuntimeError, OSError, ValueError) as e:
            return None, f"cannot read the audio: {e}"
        return signal, audio_problem(signal)

    def forward(self, wavs, wav_lens=None):
        """Same as :meth:`classify_batch`."""
        return self.classify_batch(wavs, wav_lens)


def _check_shape(wavs):
    if wavs.dim() != 2:
        raise ValueError(
            f"wavs must be [batch, time], got shape {tuple(wavs.shape)}"
        )


def _n_samples(wavs, wav_lens):
    return (wav_lens.float().cpu() * wavs.shape[1]).round().long()


def _batch_problems(wavs, wav_lens):
    """:func:`audio_problem` of each utterance of a padded batch."""
    _check_shape(wavs)
    n_samples = _n_samples(wavs, wav_lens)
    return [
        audio_problem(wavs[i, : n_samples[i]]) for i in range(wavs.shape[0])
    ]


def _name(function):
    function = getattr(function, "func", function)  # a functools.partial
    module = getattr(function, "__module__", "?")
    return f"{module}.{getattr(function, '__qualname__', function)}"
