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

import torch
from hyperpyyaml import resolve_references
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import batch_pad_right

from speechbrain_ext.lobes.models.joint_asr_ser import joint_asr_ser_forward
from speechbrain_ext.utils.checkpoints import ResumableCheckpointer

logger = logging.getLogger(__name__)

LOADABLES = ("model", "pretrained", "normalize")
INTERFACE_FILE = "custom_interface.py"
INFERENCE_YAML = "inference.yaml"


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
            None), ``probabilities`` ({label: probability} or None).
        """
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
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
                result["emotion"] = labels[int(probs.argmax())]
                result["probabilities"] = {
                    labels[k]: float(p) for k, p in enumerate(probs)
                }
            results.append(result)
        return results

    def classify_files(self, paths, batch_size=8, progress=True):
        """Transcript, emotion and probabilities of each audio file.

        Files of any sample rate, mono or multi-channel, are resampled to
        16 kHz and mixed down to mono.

        Arguments
        ---------
        paths : list of str
            Audio files.
        batch_size : int
            Files per forward pass.
        progress : bool
            Show a progress bar.

        Returns
        -------
        list of dict
            One result per file (see :meth:`classify_batch`) with ``file``.
        """
        from tqdm import tqdm

        results = []
        starts = range(0, len(paths), batch_size)
        for start in tqdm(starts, disable=not progress, unit="batch"):
            chunk = paths[start : start + batch_size]
            signals = [self.load_audio(p).cpu() for p in chunk]
            wavs, wav_lens = batch_pad_right(signals)
            for path, result in zip(chunk, self.classify_batch(wavs, wav_lens)):
                results.append({"file": path, **result})
        return results

    def forward(self, wavs, wav_lens=None):
        """Same as :meth:`classify_batch`."""
        return self.classify_batch(wavs, wav_lens)


def _resolved_value(yaml_text, key):
    match = re.search(rf"^{key}:\s*(.+?)\s*$", yaml_text, flags=re.M)
    return match.group(1).strip("'\"") if match else None


def export_for_inference(output_folder, min_key="error"):
    """Writes ``inference.yaml`` and ``custom_interface.py`` in a run folder.

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
    hparams_path = os.path.join(output_folder, "hyperparams.yaml")
    if not os.path.isfile(hparams_path):
        raise FileNotFoundError(
            f"{hparams_path} not found: is {output_folder} the output folder "
            "of a training run?"
        )
    with open(hparams_path, encoding="utf-8") as f:
        text = f.read()
    resolved = resolve_references(text).getvalue()
    save_folder = _resolved_value(resolved, "save_folder")
    if not os.path.isdir(save_folder):
        # a relative path of hyperparams.yaml was relative to the run's
        # working directory; the output folder is the reliable anchor
        save_folder = os.path.join(output_folder, os.path.basename(save_folder))
    checkpoint = ResumableCheckpointer(save_folder).find_checkpoint(
        min_key=min_key
    )
    if checkpoint is None:
        raise FileNotFoundError(
            f"No checkpoint in {save_folder}: the run has not finished an "
            "epoch."
        )
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
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    with open(os.path.join(output_folder, INTERFACE_FILE), "w") as f:
        f.write(
            '"""Inference interface of this run (see speechbrain_ext)."""\n\n'
            "from speechbrain_ext.inference.joint_asr_ser import "
            "JointASRSER  # noqa: F401\n"
        )
    return out_path


def load_model(output_folder, device="cpu"):
    """Loads the inference interface of a run folder (exporting if needed).

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
    if not os.path.isfile(os.path.join(output_folder, INFERENCE_YAML)):
        export_for_inference(output_folder)
    return JointASRSER.from_hparams(
        source=output_folder,
        hparams_file=INFERENCE_YAML,
        savedir=os.path.join(output_folder, "inference"),
        run_opts={"device": device},
    )


def write_results(results, path):
    """Writes results as JSON (``.json``) or CSV (any other extension).

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
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["file", "transcript", "emotion", *[f"prob_{x}" for x in labels]]
        )
        for r in results:
            probs = r.get("probabilities") or {}
            writer.writerow(
                [r["file"], r.get("transcript") or "", r.get("emotion") or ""]
                + [f"{probs[x]:.6f}" if x in probs else "" for x in labels]
            )


def main(argv=None):
    """Command line: transcribes and classifies audio files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="audio files")
    parser.add_argument(
        "--model", required=True, help="output folder of a training run"
    )
    parser.add_argument(
        "--output", default="-", help="results file (.json or .csv; - prints)"
    )
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    model = load_model(args.model, device=args.device)
    results = model.classify_files(args.files, batch_size=args.batch_size)
    write_results(results, args.output)
    return results


if __name__ == "__main__":
    main()
