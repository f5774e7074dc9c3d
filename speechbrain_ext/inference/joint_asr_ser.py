"""Transcripts and emotions of audio files with a trained joint model.

A training run of the joint recipe (or of its ASR-only / SER-only baselines)
leaves an output folder with ``hyperparams.yaml`` and checkpoints.
:func:`export_for_inference` adds ``inference.yaml`` (the same
hyperparameters plus a ``pretrainer`` that loads the best checkpoint and the
label encoders) and ``custom_interface.py``, so that the model loads the
SpeechBrain way::

    from speechbrain_ext.inference.joint_asr_ser import JointASRSER
    model = JointASRSER.from_hparams(
        source="results/joint_demo/1986", hparams_file="inference.yaml",
        savedir="results/joint_demo/1986/inference")
    model.classify_files(["a.wav", "b.flac"])

or ``speechbrain.inference.interfaces.foreign_class(source=...,
hparams_file="inference.yaml", pymodule_file="custom_interface.py",
classname="JointASRSER")``. From the command line::

    python -m speechbrain_ext.inference.joint_asr_ser \
        --model results/joint_demo/1986 --output predictions.json *.wav

Every path of ``inference.yaml`` is absolute and inside the run folder: the
run's ``hyperparams.yaml`` stores the paths of the training's working folder,
which are rewritten against the run folder, so a run loads the same model
from any working folder and loading creates nothing outside the run folder.
An ``inference.yaml`` written for another location (a moved or copied run
folder, an older version) is written again by :func:`load_model`.

Bad input: a file that cannot be read, or holds less than
:data:`MIN_SAMPLES` samples (0.1 s at 16 kHz) or non-finite samples, gets
a result with an ``error`` message and ``None`` outputs; the other files
are processed as usual. The command line checks its arguments before it
loads the model (exit status 2 with the argument's name), writes every
result, and exits with status 1 when a file failed.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import csv
import json
import logging
import os
import re
import sys
import tempfile

import torch
from hyperpyyaml import resolve_references
from speechbrain.dataio import audio_io
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import batch_pad_right
from speechbrain.utils.fetching import FetchConfig, LocalStrategy

from speechbrain_ext.lobes.models.joint_asr_ser import joint_asr_ser_forward
from speechbrain_ext.utils.checkpoints import ResumableCheckpointer

logger = logging.getLogger(__name__)

LOADABLES = ("model", "pretrained", "normalize")
INTERFACE_FILE = "custom_interface.py"
INFERENCE_YAML = "inference.yaml"
# Shortest input, in samples at 16 kHz (0.1 s). Below 640 samples the demo
# encoders leave one frame and the mean+std pooling returns NaN; wav2vec2
# needs 400 samples for its first frame. 0.1 s leaves a margin and holds
# no word or emotion anyway.
MIN_SAMPLES = 1600


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


def _error_result(message):
    return {
        "transcript": None,
        "emotion": None,
        "probabilities": None,
        "error": message,
    }


class JointASRSER(Pretrained):
    """Transcribes and classifies emotions with a trained joint model.

    Works for the ASR-only and SER-only baselines too: the missing output is
    ``None``.

    Arguments
    ---------
    *args, **kwargs
        As for ``speechbrain.inference.interfaces.Pretrained``; use
        :meth:`from_hparams` with an ``inference.yaml`` written by
        :func:`export_for_inference`.
    """

    HPARAMS_NEEDED = ["log_softmax", "tokenizer", "emo_encoder"]
    MODULES_NEEDED = ["encoder"]

    def classify_batch(self, wavs, wav_lens=None):
        """Transcript, emotion and class probabilities of a batch.

        Arguments
        ---------
        wavs : torch.Tensor
            16 kHz mono waveforms [batch, time].
        wav_lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        list of dict
            Per utterance: ``transcript`` (str or None), ``emotion`` (str or
            None), ``probabilities`` ({label: probability} or None). An
            utterance that cannot be classified (see :func:`audio_problem`,
            or a model output that is not finite) gets ``None`` outputs and
            an ``error`` message instead; the others are classified as if
            it were not in the batch.
        """
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        n_samples = (wav_lens.float().cpu() * wavs.shape[1]).round().long()
        problems = [
            audio_problem(wavs[i, : n_samples[i]]) for i in range(wavs.shape[0])
        ]
        keep = [i for i, problem in enumerate(problems) if problem is None]
        results = [_error_result(p) if p else None for p in problems]
        if not keep:
            return results
        if len(keep) < wavs.shape[0]:
            longest = int(n_samples[keep].max())
            wavs = wavs[keep, :longest]
            wav_lens = n_samples[keep].float() / longest
        for i, result in zip(keep, self._classify(wavs, wav_lens)):
            results[i] = result
        return results

    def _classify(self, wavs, wav_lens):
        wavs, wav_lens = wavs.to(self.device), wav_lens.to(self.device)
        with torch.no_grad():
            out = joint_asr_ser_forward(
                self.mods,
                wavs.float(),
                wav_lens.float(),
                log_softmax=self.hparams.log_softmax,
                pooling=getattr(self.hparams, "pooling", None),
                tokenizer=self.hparams.tokenizer,
                blank_index=getattr(self.hparams, "blank_index", 0),
            )
        labels = self.hparams.emo_encoder.ind2lab
        results = []
        for i in range(wavs.shape[0]):
            result = {
                "transcript": None,
                "emotion": None,
                "probabilities": None,
            }
            if "hyps" in out:
                result["transcript"] = " ".join(out["hyps"][i])
            if "p_emo" in out:
                probs = out["p_emo"][i].exp().cpu()
                if not bool(torch.isfinite(probs).all()):
                    results.append(
                        _error_result(
                            "the model's emotion probabilities are not "
                            "finite (audio too short for this model?)"
                        )
                    )
                    continue
                result["emotion"] = labels[int(probs.argmax())]
                result["probabilities"] = {
                    labels[k]: float(p) for k, p in enumerate(probs)
                }
            results.append(result)
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
            One result per file, in order (see :meth:`classify_batch`),
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
                batch = self.classify_batch(wavs, wav_lens)
                for k, result in zip(readable, batch):
                    chunk_results[k] = result
            for path, result in zip(chunk, chunk_results):
                if result.get("error"):
                    logger.warning("%s: %s", path, result["error"])
                results.append({"file": path, **result})
        return results

    def _read(self, path):
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
            signal = self.load_audio(path).cpu()
        except (RuntimeError, OSError, ValueError) as e:
            return None, f"cannot read the audio: {e}"
        return signal, audio_problem(signal)

    def forward(self, wavs, wav_lens=None):
        """Same as :meth:`classify_batch`."""
        return self.classify_batch(wavs, wav_lens)


def _resolved_value(yaml_text, key):
    match = re.search(rf"^{key}:\s*(.+?)\s*$", yaml_text, flags=re.M)
    return match.group(1).strip("'\"") if match else None


def relocate_paths(yaml_text, old, new):
    r"""Replaces the path ``old``, and every path under it, by ``new``.

    Only whole path values change (after ``key:``, ``-``, ``[`` or ``,``),
    so ``results/a`` does not touch ``results/ab`` or ``/x/results/a``.

    Arguments
    ---------
    yaml_text : str
        A HyperPyYAML document with resolved references.
    old : str
        The path to replace, e.g. the ``output_folder`` of the training.
    new : str
        Its replacement.

    Returns
    -------
    str
        The document with the paths replaced.

    Example
    -------
    >>> text = "out: results/a\nsave: results/a/save\nother: results/ab\n"
    >>> print(relocate_paths(text, "results/a", "/runs/a"), end="")
    out: /runs/a
    save: /runs/a/save
    other: results/ab
    """
    old = old.rstrip("/") or old
    pattern = rf"(?<=[\s\[,'\"]){re.escape(old)}(?=[/\s,\]'\"]|$)"
    return re.sub(pattern, lambda match: new, yaml_text, flags=re.M)


def _run_hparams(output_folder):
    """Hyperparameters of a run with its paths inside ``output_folder``.

    ``hyperparams.yaml`` stores the paths of the training's working folder
    (relative ones are relative to it); ``output_folder``, the run folder
    itself, is the only reliable anchor.

    Returns
    -------
    text : str
        The resolved hyperparameters, paths under the recorded output folder
        moved to ``output_folder`` (absolute).
    save_folder : str
        Absolute checkpoint folder.
    """
    hparams_path = os.path.join(output_folder, "hyperparams.yaml")
    if not os.path.isfile(hparams_path):
        raise FileNotFoundError(
            f"{hparams_path} not found: is {output_folder} the output folder "
            "of a training run?"
        )
    with open(hparams_path, encoding="utf-8") as f:
        text = resolve_references(f.read()).getvalue()
    recorded = _resolved_value(text, "output_folder")
    if recorded:
        text = relocate_paths(text, recorded, output_folder)
    save_folder = _resolved_value(text, "save_folder")
    if not save_folder:
        save_folder = os.path.join(output_folder, "save")
    elif not os.path.isabs(save_folder):
        # relative to the training's working folder, outside the run folder:
        # look for it in the run folder, never in today's working folder
        relocated = os.path.join(output_folder, os.path.basename(save_folder))
        text = relocate_paths(text, save_folder, relocated)
        save_folder = relocated
    return text, save_folder


def _best_checkpoint(save_folder, min_key):
    checkpoint = None
    if os.path.isdir(save_folder):  # the checkpointer would create it
        checkpoint = ResumableCheckpointer(save_folder).find_checkpoint(
            min_key=min_key
        )
    if checkpoint is None:
        raise FileNotFoundError(
            f"No checkpoint in {save_folder}: the run has not finished an "
            "epoch."
        )
    return checkpoint


def check_run_folder(output_folder, min_key="error"):
    """Checks that a folder is a training run with a checkpoint.

    Reads only: nothing is written or created.

    Arguments
    ---------
    output_folder : str
        The output folder of a training run.
    min_key : str
        Checkpoint metadata key of the best checkpoint (lower is better).

    Returns
    -------
    str
        Path of the best checkpoint.

    Raises
    ------
    FileNotFoundError
        When the folder, its ``hyperparams.yaml`` or a checkpoint is missing.

    Example
    -------
    >>> import tempfile
    >>> check_run_folder(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: .../hyperparams.yaml not found: is ... the output ...
    """
    output_folder = os.path.abspath(output_folder)
    if not os.path.isdir(output_folder):
        raise FileNotFoundError(f"{output_folder} is not a folder")
    _, save_folder = _run_hparams(output_folder)
    return _best_checkpoint(save_folder, min_key).path


def _write_atomic(path, text):
    """Writes a file so that readers see the old or the new one, whole."""
    fd, tmp = tempfile.mkstemp(
        dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}."
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def export_for_inference(output_folder, min_key="error"):
    """Writes ``inference.yaml`` and ``custom_interface.py`` in a run folder.

    Every path of ``inference.yaml`` is absolute and resolved against
    ``output_folder`` (never against the current working folder): the
    paths that ``hyperparams.yaml`` records under the training's output
    folder are moved into ``output_folder``.

    Arguments
    ---------
    output_folder : str
        The output folder of a finished training run (``hyperparams.yaml``
        and a ``save`` folder with checkpoints).
    min_key : str
        Checkpoint metadata key of the best checkpoint (lower is better).

    Returns
    -------
    str
        Path of the written ``inference.yaml``.
    """
    output_folder = os.path.abspath(output_folder)
    text, save_folder = _run_hparams(output_folder)
    checkpoint = _best_checkpoint(save_folder, min_key)
    top_keys = set(re.findall(r"^([A-Za-z_]\w*):", text, flags=re.M))
    paths = {
        name: os.path.join(checkpoint.path, f"{name}.ckpt")
        for name in LOADABLES
        if name in top_keys
        and os.path.isfile(os.path.join(checkpoint.path, f"{name}.ckpt"))
    }
    paths["tokenizer"] = os.path.join(save_folder, "tokenizer.txt")
    paths["emo_encoder"] = os.path.join(save_folder, "emo_encoder.txt")
    lines = [
        text.rstrip("\n"),
        "",
        "# Inference: the best checkpoint "
        f"({os.path.basename(checkpoint.path)}) and the label encoders",
        "tokenizer: !new:speechbrain.dataio.encoder.CTCTextEncoder",
        "emo_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder",
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        f"  collect_in: {os.path.join(output_folder, 'inference')}",
        "  loadables:",
        *[f"    {name}: !ref <{name}>" for name in paths],
        "  paths:",
        *[f"    {name}: {path}" for name, path in paths.items()],
        "",
    ]
    out_path = os.path.join(output_folder, INFERENCE_YAML)
    _write_atomic(out_path, "\n".join(lines))
    _write_atomic(
        os.path.join(output_folder, INTERFACE_FILE),
        '"""Inference interface of this run (see speechbrain_ext)."""\n\n'
        "from speechbrain_ext.inference.joint_asr_ser import "
        "JointASRSER  # noqa: F401\n",
    )
    return out_path


def _export_is_current(output_folder):
    """Whether ``inference.yaml`` was written for this very folder."""
    path = os.path.join(output_folder, INFERENCE_YAML)
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if _resolved_value(text, "output_folder") != output_folder:
        return False  # moved, copied, or relative paths of older versions
    pretrainer_paths = text.partition("\n  paths:\n")[2]
    paths = re.findall(r"^    \w+: (.+?)\s*$", pretrainer_paths, flags=re.M)
    return bool(paths) and all(
        os.path.isabs(p) and (os.path.isfile(p) or not p.endswith(".ckpt"))
        for p in paths
    )


def load_model(output_folder, device="cpu"):
    """Loads the inference interface of a run folder (exporting if needed).

    The model is the one of ``output_folder`` whatever the working folder,
    and loading creates nothing outside ``output_folder``. A missing
    ``inference.yaml``, or one written for another location (a moved or
    copied run folder, an older version with relative paths), is written
    again with :func:`export_for_inference`.

    Arguments
    ---------
    output_folder : str
        Output folder of a training run.
    device : str
        Device to run on.

    Returns
    -------
    JointASRSER
    """
    output_folder = os.path.abspath(output_folder)
    if not _export_is_current(output_folder):
        export_for_inference(output_folder)
    return JointASRSER.from_hparams(
        source=output_folder,
        hparams_file=INFERENCE_YAML,
        savedir=os.path.join(output_folder, "inference"),
        run_opts={"device": device},
        # the run's own files, not links left in savedir by an earlier
        # load (they may point into another copy of the run)
        local_strategy=LocalStrategy.NO_LINK,
        fetch_config=FetchConfig(overwrite=True, allow_network=False),
    )


def write_results(results, path):
    """Writes results as JSON (``.json``) or CSV (any other extension).

    The CSV file has an ``error`` column when a file could not be
    classified.

    Arguments
    ---------
    results : list of dict
        Output of :meth:`JointASRSER.classify_files`.
    path : str
        Output file; ``-`` prints JSON to standard output.

    Example
    -------
    >>> import tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> write_results([{"file": "a.wav", "transcript": "HI",
    ...                 "emotion": "hap",
    ...                 "probabilities": {"hap": 0.9, "sad": 0.1}}], out)
    >>> open(out).read().splitlines()[0]
    'file,transcript,emotion,prob_hap,prob_sad'
    >>> write_results([{"file": "b.wav", "transcript": None, "emotion": None,
    ...                 "probabilities": None, "error": "too short"}], out)
    >>> open(out).read().splitlines()
    ['file,transcript,emotion,error', 'b.wav,,,too short']
    """
    if path == "-":
        json.dump(results, sys.stdout, indent=2)
        return
    if path.endswith(".json"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        return
    labels = []
    for r in results:
        for label in r.get("probabilities") or {}:
            if label not in labels:
                labels.append(label)
    errors = any(r.get("error") for r in results)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["file", "transcript", "emotion", *[f"prob_{x}" for x in labels]]
            + (["error"] if errors else [])
        )
        for r in results:
            probs = r.get("probabilities") or {}
            writer.writerow(
                [r["file"], r.get("transcript") or "", r.get("emotion") or ""]
                + [f"{probs[x]:.6f}" if x in probs else "" for x in labels]
                + ([r.get("error") or ""] if errors else [])
            )


def _positive_int(text):
    """Type of ``--batch_size``: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def check_args(parser, args):
    """Checks the command line before any model loading or inference.

    Reads only: nothing is written or created. Calls ``parser.error`` (exit
    status 2, a message naming the argument) on the first problem.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The parser of :func:`main`.
    args : argparse.Namespace
        Its parsed arguments.

    Example
    -------
    >>> import tempfile
    >>> parser = argparse.ArgumentParser()
    >>> args = argparse.Namespace(files=["missing.wav"], output="-",
    ...                           model=tempfile.mkdtemp(), device="cpu")
    >>> try:
    ...     check_args(parser, args)
    ... except SystemExit as e:
    ...     print("exit status", e.code)
    exit status 2
    """
    for path in args.files:
        if os.path.isdir(path):
            parser.error(f"argument files: {path} is a directory")
        if not os.path.isfile(path):
            parser.error(f"argument files: no such file: {path}")
        if not os.access(path, os.R_OK):
            parser.error(f"argument files: {path} is not readable")
    if args.output != "-":
        folder = os.path.dirname(os.path.abspath(args.output))
        if os.path.isdir(args.output):
            parser.error(f"argument --output: {args.output} is a directory")
        if not os.path.isdir(folder):
            parser.error(f"argument --output: no such folder: {folder}")
        if not os.access(folder, os.W_OK):
            parser.error(f"argument --output: {folder} is not writable")
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        parser.error(f"argument --device: {e}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"argument --device: {args.device}: CUDA is unavailable")
    try:
        check_run_folder(args.model)
    except FileNotFoundError as e:
        parser.error(f"argument --model: not a training run folder: {e}")


def main(argv=None):
    """Command line: transcribes and classifies audio files.

    The arguments are checked before the model is loaded (exit status 2).
    Every file gets a result; a file that cannot be classified gets an
    ``error`` message, and the exit status is then 1.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    list of dict
        The results, when every file was classified.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="audio files")
    parser.add_argument(
        "--model", required=True, help="output folder of a training run"
    )
    parser.add_argument(
        "--output", default="-", help="results file (.json or .csv; - prints)"
    )
    parser.add_argument("--batch_size", type=_positive_int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    check_args(parser, args)
    model = load_model(args.model, device=args.device)
    results = model.classify_files(args.files, batch_size=args.batch_size)
    write_results(results, args.output)
    failed = [r for r in results if r.get("error")]
    if failed:
        parser.exit(
            1,
            f"{parser.prog}: {len(failed)} of {len(results)} files could not "
            "be classified (see their error entries)\n",
        )
    return results


if __name__ == "__main__":
    main()
