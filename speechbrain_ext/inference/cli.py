r"""Command line of the inference interface: any recipe's run folder.

    python -m speechbrain_ext.inference --model <run folder> \
        [--output results.csv|results.json] [--batch_size 8] \
        [--device cpu] audio files...

writes (or prints as JSON) the emotion, the class probabilities and, for
a model with an ASR head, the transcript of each file. The arguments are
checked before the model is loaded (exit status 2, naming the argument);
every file gets a result, and the exit status is 1 when a file could not
be classified (its result holds an ``error`` message).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import csv
import json
import os
import sys

import torch

from speechbrain_ext.inference import export


def write_results(results, path):
    """Writes results as JSON (``.json``) or CSV (any other extension).

    The CSV file has an ``error`` column when a file could not be
    classified.

    Arguments
    ---------
    results : list of dict
        Output of ``RecipeInterface.classify_files``.
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
        export.check_run_folder(args.model)
    except FileNotFoundError as e:
        parser.error(f"argument --model: not a training run folder: {e}")
    except (ValueError, TypeError) as e:
        parser.error(f"argument --model: not an exported run: {e}")


def main(argv=None):
    """Command line: classifies (and transcribes) audio files.

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
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_ext.inference",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("files", nargs="+", help="audio files")
    parser.add_argument(
        "--model",
        required=True,
        help="output folder of a training run of any recipe",
    )
    parser.add_argument(
        "--output", default="-", help="results file (.json or .csv; - prints)"
    )
    parser.add_argument("--batch_size", type=_positive_int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    check_args(parser, args)
    model = export.load_model(args.model, device=args.device)
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
