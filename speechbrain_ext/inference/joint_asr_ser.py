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
folder, an older version) is written again by :func:`load_model`; the
exported files get the permissions of any new file (umask). A read-only
run folder is left as it is: :func:`load_model` writes the export to a
temporary folder, removed once the model is loaded.

Only runs of the joint recipe (and its ASR-only and SER-only baselines)
are loaded: a run of another recipe is refused, naming its recipe and
modules, before anything is written. A run without a usable checkpoint is
refused with the list of its checkpoint folders and why each cannot be
used.

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
import errno
import json
import logging
import os
import re
import sys
import tempfile

import torch
import yaml
from hyperpyyaml import resolve_references
from speechbrain.dataio import audio_io
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import batch_pad_right
from speechbrain.utils.fetching import FetchConfig, LocalStrategy

from speechbrain_ext.lobes.models.joint_asr_ser import joint_asr_ser_forward
from speechbrain_ext.utils.checkpoints import (
    ResumableCheckpointer,
    why_no_checkpoint,
)

logger = logging.getLogger(__name__)

LOADABLES = ("model", "pretrained", "normalize")
INTERFACE_FILE = "custom_interface.py"
INFERENCE_YAML = "inference.yaml"
# The recipe whose runs this interface loads, and the modules that
# joint_asr_ser_forward runs: an encoder, at least one head, optional parts.
JOINT_RECIPE = "recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT"
JOINT_HEADS = ("ctc_lin", "emo_classifier")
JOINT_OPTIONAL = ("asr_enc", "text_encoder", "fusion")
JOINT_MODULES = ("encoder", *JOINT_HEADS, *JOINT_OPTIONAL)
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


def _hparams_path(output_folder):
    hparams_path = os.path.join(output_folder, "hyperparams.yaml")
    if not os.path.isfile(hparams_path):
        raise FileNotFoundError(
            f"{hparams_path} not found: is {output_folder} the output folder "
            "of a training run?"
        )
    return hparams_path


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
    hparams_path = _hparams_path(output_folder)
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


class _TagBlindLoader(yaml.SafeLoader):
    """Reads a HyperPyYAML file as plain data: no object is created."""


def _untagged(loader, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_TagBlindLoader.add_constructor(None, _untagged)


def describe_run(output_folder):
    r"""What a run folder's ``hyperparams.yaml`` says about its model.

    Reads only, and creates no object of the yaml.

    Arguments
    ---------
    output_folder : str
        The output folder of a training run.

    Returns
    -------
    dict
        ``hparams_file``: the yaml the run was generated from (SpeechBrain
        writes it in the header of ``hyperparams.yaml``), or ``None``;
        ``recipe``: the recipe folder of that yaml (from ``recipes/`` on
        when it is inside one), or ``None``; ``modules``: the names of the
        run's ``modules``; ``recoverables``: the names of its checkpointer's
        recoverables, or ``None`` when the yaml lists none.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "hyperparams.yaml"), "w") as f:
    ...     _ = f.write(
    ...         "# Generated 2024-05-01 from:\n"
    ...         "# /src/recipes/EmoDB/emotion_recognition/LSTM/hparams/a.yaml\n"
    ...         "encoder: &id001 !new:torch.nn.LSTM\n"
    ...         "  input_size: 4\n"
    ...         "modules:\n  encoder: *id001\n")
    >>> info = describe_run(run)
    >>> info["recipe"], info["modules"]
    ('recipes/EmoDB/emotion_recognition/LSTM', ['encoder'])
    """
    path = _hparams_path(output_folder)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        hparams = yaml.load(text, Loader=_TagBlindLoader)
    except yaml.YAMLError as e:
        raise ValueError(f"{path} cannot be read as YAML: {e}") from e
    if not isinstance(hparams, dict):
        raise ValueError(f"{path} does not hold hyperparameters")
    match = re.match(r"# Generated .* from:\n# (.+)\n", text)
    hparams_file = match.group(1).strip() if match else None
    recipe = None
    if hparams_file:
        recipe = os.path.dirname(hparams_file)
        if os.path.basename(recipe) == "hparams":
            recipe = os.path.dirname(recipe)
        inside = f"{os.sep}recipes{os.sep}"
        if inside in recipe:
            recipe = recipe[recipe.rindex(inside) + 1 :]
    modules = hparams.get("modules")
    checkpointer = hparams.get("checkpointer")
    recoverables = None
    if isinstance(checkpointer, dict):
        if isinstance(checkpointer.get("recoverables"), dict):
            recoverables = list(checkpointer["recoverables"])
    return {
        "hparams_file": hparams_file,
        "recipe": recipe,
        "modules": list(modules) if isinstance(modules, dict) else [],
        "recoverables": recoverables,
    }


def check_joint_run(output_folder):
    r"""Checks that a run folder holds a model this interface can run.

    The interface runs the models of the joint recipe (and of its ASR-only
    and SER-only baselines): an ``encoder``, ``ctc_lin`` and/or
    ``emo_classifier``, optionally ``asr_enc``, ``text_encoder`` and
    ``fusion``. A run of another recipe is refused before anything is
    written. Reads only.

    Arguments
    ---------
    output_folder : str
        The output folder of a training run (with ``hyperparams.yaml``).

    Returns
    -------
    dict
        :func:`describe_run` of the folder.

    Raises
    ------
    ValueError
        When the run's ``modules`` are not those of the joint recipe; the
        message names the recipe and modules found and those expected.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "hyperparams.yaml"), "w") as f:
    ...     _ = f.write("modules:\n  encoder: null\n  classifier: null\n")
    >>> check_joint_run(run)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../hyperparams.yaml is a run of an unknown recipe ...
    """
    info = describe_run(output_folder)
    modules = info["modules"]
    problems = []
    if "encoder" not in modules:
        problems.append("it has no encoder")
    if not any(head in modules for head in JOINT_HEADS):
        problems.append(f"it has neither {' nor '.join(JOINT_HEADS)}")
    unknown = [name for name in modules if name not in JOINT_MODULES]
    if unknown:
        problems.append(f"it cannot run {', '.join(unknown)}")
    if not problems:
        return info
    if info["recipe"]:
        origin = f"{info['recipe']} ({os.path.basename(info['hparams_file'])})"
    else:
        origin = "an unknown recipe (no 'Generated ... from' header)"
    found = ", ".join(modules) if modules else "none"
    raise ValueError(
        f"{os.path.join(output_folder, 'hyperparams.yaml')} is a run of "
        f"{origin} with the modules {found}: this interface runs models of "
        f"{JOINT_RECIPE} (modules encoder, {' and/or '.join(JOINT_HEADS)}, "
        f"optionally {', '.join(JOINT_OPTIONAL)}), and {'; '.join(problems)}."
    )


def _best_checkpoint(save_folder, min_key, expected=None):
    """The best usable checkpoint, or an error saying what was found.

    ``expected``: the recoverables an unmarked checkpoint must hold (those
    of the run's checkpointer).
    """
    if not os.path.isdir(save_folder):  # the checkpointer would create it
        raise FileNotFoundError(
            f"No checkpoint: {save_folder} does not exist (the run has not "
            "finished an epoch)."
        )
    checkpointer = ResumableCheckpointer(save_folder, expected=expected)
    checkpoint = checkpointer.find_checkpoint(min_key=min_key)
    if checkpoint is None:
        raise FileNotFoundError(
            f"No usable checkpoint in {save_folder} (the run has not "
            "finished an epoch, or its checkpoints cannot be loaded): "
            f"{why_no_checkpoint(checkpointer, key=min_key)}."
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
        When the folder, its ``hyperparams.yaml`` or a usable checkpoint is
        missing; the message lists the checkpoint folders found and why
        each cannot be used.
    ValueError
        When the run is not one of the joint recipe (see
        :func:`check_joint_run`).

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
    recoverables = describe_run(output_folder)["recoverables"]
    checkpoint = _best_checkpoint(save_folder, min_key, recoverables)
    check_joint_run(output_folder)
    return checkpoint.path


def new_file_mode():
    """The permissions ``open(path, "w")`` gives a new file: 0o666 - umask.

    Returns
    -------
    int
        The mode bits.

    Example
    -------
    >>> old = os.umask(0o027)
    >>> oct(new_file_mode())
    '0o640'
    >>> _ = os.umask(old)
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _write_atomic(path, text):
    """Writes a file so that readers see the old or the new one, whole.

    The file gets the permissions of any new file (``mkstemp`` would leave
    it readable by its owner only).
    """
    fd, tmp = tempfile.mkstemp(
        dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}."
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def export_for_inference(output_folder, min_key="error", export_folder=None):
    """Writes ``inference.yaml`` and ``custom_interface.py`` in a run folder.

    Every path of ``inference.yaml`` is absolute and resolved against
    ``output_folder`` (never against the current working folder): the
    paths that ``hyperparams.yaml`` records under the training's output
    folder are moved into ``output_folder``. The run is checked first
    (:func:`check_joint_run`, a usable checkpoint): nothing is written for
    a run this interface cannot load. The files get the permissions of any
    new file (umask).

    Arguments
    ---------
    output_folder : str
        The output folder of a finished training run (``hyperparams.yaml``
        and a ``save`` folder with checkpoints).
    min_key : str
        Checkpoint metadata key of the best checkpoint (lower is better).
    export_folder : str, optional
        Where to write the two files (default: ``output_folder``), e.g.
        elsewhere when the run folder is read-only. Their paths still point
        into ``output_folder``.

    Returns
    -------
    str
        Path of the written ``inference.yaml``.
    """
    output_folder = os.path.abspath(output_folder)
    export_folder = os.path.abspath(export_folder or output_folder)
    text, save_folder = _run_hparams(output_folder)
    recoverables = describe_run(output_folder)["recoverables"]
    checkpoint = _best_checkpoint(save_folder, min_key, recoverables)
    check_joint_run(output_folder)
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
    out_path = os.path.join(export_folder, INFERENCE_YAML)
    _write_atomic(out_path, "\n".join(lines))
    _write_atomic(
        os.path.join(export_folder, INTERFACE_FILE),
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


def _cannot_write(error):
    return isinstance(error, PermissionError) or error.errno == errno.EROFS


def load_model(output_folder, device="cpu"):
    """Loads the inference interface of a run folder (exporting if needed).

    The model is the one of ``output_folder`` whatever the working folder,
    and loading creates nothing outside ``output_folder``. A missing
    ``inference.yaml``, or one written for another location (a moved or
    copied run folder, an older version with relative paths), is written
    again with :func:`export_for_inference`. When the run folder cannot be
    written (read-only), the export goes to a temporary folder that is
    removed once the model is loaded, and the run folder is left as it is.

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
    check_joint_run(output_folder)
    if _export_is_current(output_folder):
        return _from_export(output_folder, device)
    if os.access(output_folder, os.W_OK):
        try:
            export_for_inference(output_folder)
            return _from_export(output_folder, device)
        except OSError as e:
            if not _cannot_write(e):
                raise
    logger.info(
        "%s cannot be written: %s goes to a temporary folder",
        output_folder,
        INFERENCE_YAML,
    )
    with tempfile.TemporaryDirectory(prefix="joint_asr_ser_") as folder:
        export_for_inference(output_folder, export_folder=folder)
        return _from_export(folder, device)


def _from_export(folder, device):
    """The interface of the ``inference.yaml`` in ``folder``.

    Nothing is written: no ``savedir``, and the files are read where they
    are (the run's own files, not links left by an earlier load in an
    ``inference`` folder, which may point into another copy of the run).
    """
    return JointASRSER.from_hparams(
        source=folder,
        hparams_file=INFERENCE_YAML,
        savedir=None,
        run_opts={"device": device},
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
    except ValueError as e:
        parser.error(f"argument --model: not a run of the joint recipe: {e}")


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
