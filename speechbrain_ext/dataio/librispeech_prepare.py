r"""Prepare LibriSpeech manifests.

Writes one JSON manifest per split::

    python -m speechbrain_ext.dataio.librispeech_prepare \
        --data_folder /path/to/LibriSpeech --save_folder results/libri \
        --splits train-clean-100 dev-clean test-clean

Layout that is read: ``<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac``
with one ``<spk>-<chapter>.trans.txt`` per chapter (lines ``<utt_id>
TRANSCRIPT``). Each manifest maps an utterance id to ``wav`` (absolute
path), ``duration`` (seconds), ``spk_id`` and ``wrd`` (the transcript,
upper-cased after Unicode folding: full-width letters and accents give the
same words as plain ASCII).

Bad input: folders and splits are checked before any audio is read; an
audio file with fewer than 1600 samples (0.1 s), with more than one channel
(LibriSpeech is mono; the recipes read one channel) or with NaN or infinite
samples is refused by name; a ``.trans.txt`` file that is not UTF-8 is
refused, naming the file and the line. The save folder is locked while a
preparation runs. A changed corpus (files added, removed or modified) is
prepared again. The word vocabulary of a recipe is built from these
manifests by ``speechbrain_ext.dataio.word_tokens``.
"""

import argparse
import json
import logging
import os

from speechbrain_ext.dataio.preparation import (
    atomic_write,
    audio_durations,
    check_folders,
    corpus_fingerprint,
    normalize_unicode,
    read_text_lines,
    reuse_or_lock,
    write_options,
)
from speechbrain_ext.dataio.preparation import remove_options as _remove_options
from speechbrain_ext.dataio.preparation import write_json as _write_json

logger = logging.getLogger(__name__)

DEFAULT_SPLITS = ("train-clean-100", "dev-clean", "test-clean")
SAMPLE_RATE = 16000


def read_split(split_folder):
    r"""Pair the audio files and transcripts of one LibriSpeech split.

    Arguments
    ---------
    split_folder : str
        A split folder, e.g. ``LibriSpeech/dev-clean``.

    Returns
    -------
    dict
        utt_id -> ``{"wav": absolute flac path, "spk_id": str, "wrd": str}``,
        sorted by utterance id; ``wrd`` is the transcript after
        ``normalize_words``.

    Raises
    ------
    ValueError
        If an audio file has no transcript line, a transcript line has no
        audio file, a transcript line is malformed or a transcript file is
        not UTF-8 (the message names the file, and the line).

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> chapter = os.path.join(tempfile.mkdtemp(), "dev-clean", "84", "121")
    >>> os.makedirs(chapter)
    >>> sf.write(os.path.join(chapter, "84-121-0000.flac"), np.zeros(160),
    ...          16000)
    >>> with open(os.path.join(chapter, "84-121.trans.txt"), "w") as f:
    ...     _ = f.write("84-121-0000 HELLO WORLD\n")
    >>> utts = read_split(os.path.dirname(os.path.dirname(chapter)))
    >>> utts["84-121-0000"]["spk_id"], utts["84-121-0000"]["wrd"]
    ('84', 'HELLO WORLD')
    """
    audio = {}
    texts = {}
    for root, dirs, names in os.walk(split_folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.abspath(os.path.join(root, name))
            if name.endswith(".flac"):
                audio[name[: -len(".flac")]] = path
            elif name.endswith(".trans.txt"):
                texts.update(_read_trans(path))
    for utt_id, path in audio.items():
        if utt_id not in texts:
            chapter_prefix = utt_id.rsplit("-", 1)[0]
            trans = os.path.join(
                os.path.dirname(path), chapter_prefix + ".trans.txt"
            )
            problem = (
                f"no line for it in {trans}"
                if os.path.isfile(trans)
                else f"{trans} is missing"
            )
            raise ValueError(f"audio file {path} has no transcript: {problem}")
    for utt_id, (text, trans) in texts.items():
        if utt_id not in audio:
            raise ValueError(
                f"{trans}: transcript line of {utt_id} has no audio file "
                f"{os.path.join(os.path.dirname(trans), utt_id + '.flac')}"
            )
    return {
        utt_id: {
            "wav": audio[utt_id],
            "spk_id": utt_id.split("-")[0],
            "wrd": texts[utt_id][0],
        }
        for utt_id in sorted(audio)
    }


def prepare_librispeech(
    data_folder, save_folder, splits=DEFAULT_SPLITS, skip_prep=False
):
    r"""Write one ``<split>.json`` manifest per LibriSpeech split.

    A second call with the same options, the same corpus files (count,
    sizes, modification times) and intact outputs does nothing, and writes
    nothing (a read-only save folder is reused); different options, a
    changed corpus or a manifest that does not parse or lost entries
    regenerate the manifests. The save folder is locked during the
    preparation: a second preparation into it waits for the first.

    Arguments
    ---------
    data_folder : str
        The ``LibriSpeech`` folder holding the split folders. It is only
        read.
    save_folder : str
        Folder receiving the manifests; must not be inside ``data_folder``.
    splits : sequence of str
        Split folder names, e.g. ``train-clean-100``.
    skip_prep : bool
        If True, return the output paths without doing anything.

    Returns
    -------
    dict
        split -> manifest path.

    Raises
    ------
    FileNotFoundError
        If ``data_folder`` or a split folder is missing or holds no flac
        file.
    NotADirectoryError
        If ``data_folder`` or ``save_folder`` is a file.
    ValueError
        On unpaired audio and transcripts, a transcript file that is not
        UTF-8, or an unreadable, non-16 kHz, non-mono, too short (fewer
        than 1600 samples) or non-finite (NaN or infinite samples) file.
    PermissionError
        If ``save_folder`` cannot be written and holds no complete
        preparation with these options.

    Example
    -------
    >>> import json, os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> data = tempfile.mkdtemp()
    >>> chapter = os.path.join(data, "dev-clean", "84", "121")
    >>> os.makedirs(chapter)
    >>> for utt, text in [("0000", "HELLO WORLD"), ("0001", "THE END")]:
    ...     flac = os.path.join(chapter, f"84-121-{utt}.flac")
    ...     sf.write(flac, np.zeros(8000), 16000)
    ...     with open(os.path.join(chapter, "84-121.trans.txt"), "a") as f:
    ...         _ = f.write(f"84-121-{utt} {text}\n")
    >>> paths = prepare_librispeech(data, tempfile.mkdtemp(), ["dev-clean"])
    >>> with open(paths["dev-clean"], encoding="utf-8") as f:
    ...     manifest = json.load(f)
    >>> entry = manifest["84-121-0001"]
    >>> entry["spk_id"], entry["wrd"], entry["duration"]
    ('84', 'THE END', 0.5)
    """
    splits = list(splits)
    outputs = {
        split: os.path.join(save_folder, f"{split}.json") for split in splits
    }
    if skip_prep:
        return outputs
    if not splits:
        raise ValueError("splits must name at least one split folder")
    check_folders(data_folder, save_folder)
    for split in splits:
        folder = os.path.join(data_folder, split)
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"split folder {folder} does not exist; expected the "
                "LibriSpeech layout <split>/<spk>/<chapter>/"
                "<spk>-<chapter>-<utt>.flac"
            )
    options = {
        "prepare": "prepare_librispeech",
        "data_folder": os.path.abspath(data_folder),
        "splits": splits,
        "corpus": corpus_fingerprint(_corpus_files(data_folder, splits)),
    }
    with reuse_or_lock(save_folder, options, outputs.values()) as prepared:
        if prepared:
            logger.info(
                "LibriSpeech manifests in %s were prepared with the same "
                "options and corpus, skipping preparation",
                save_folder,
            )
            return outputs
        _prepare(data_folder, save_folder, options, outputs)
    return outputs


def _corpus_files(data_folder, splits):
    """List the audio and transcript files of the splits."""
    files = []
    for split in splits:
        for root, dirs, names in os.walk(os.path.join(data_folder, split)):
            dirs.sort()
            files += [
                os.path.join(root, name)
                for name in sorted(names)
                if name.endswith((".flac", ".trans.txt"))
            ]
    return files


def _prepare(data_folder, save_folder, options, outputs):
    """Read the splits and write the manifests (under the folder lock)."""
    manifests = {}
    for split in options["splits"]:
        folder = os.path.join(data_folder, split)
        manifest = read_split(folder)
        if not manifest:
            raise FileNotFoundError(f"split folder {folder} holds no flac file")
        durations = audio_durations(
            [entry["wav"] for entry in manifest.values()],
            "LibriSpeech",
            SAMPLE_RATE,
        )
        for entry in manifest.values():
            entry["duration"] = durations[entry["wav"]]
        manifests[split] = {
            utt_id: {
                "wav": entry["wav"],
                "duration": entry["duration"],
                "spk_id": entry["spk_id"],
                "wrd": entry["wrd"],
            }
            for utt_id, entry in manifest.items()
        }

    _remove_options(save_folder)
    for split, manifest in manifests.items():
        _write_json(outputs[split], manifest)
        logger.info(
            "%s: %d utterances, %.2f h",
            outputs[split],
            len(manifest),
            sum(e["duration"] for e in manifest.values()) / 3600,
        )
    write_options(save_folder, options, outputs.values())


def normalize_words(text):
    """Normalise a LibriSpeech transcript: Unicode folding, upper case.

    Applies ``normalize_unicode`` (NFKC, accents stripped), upper-cases and
    collapses white space, so that full-width letters or combining accents
    never become new word tokens. Plain LibriSpeech transcripts are left
    as they are.

    Arguments
    ---------
    text : str
        A transcript.

    Returns
    -------
    str
        The normalised transcript.

    Example
    -------
    >>> normalize_words("HELLO  WORLD")
    'HELLO WORLD'
    >>> normalize_words("\uff28\uff25\uff2c\uff2c\uff2f caf\u00e9")
    'HELLO CAFE'
    """
    return " ".join(normalize_unicode(text).upper().split())


def _read_trans(path):
    """Read a ``.trans.txt`` file (UTF-8): utt_id -> (text, path)."""
    texts = {}
    for line_no, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(
                f"{path}, line {line_no}: expected '<utt_id> TRANSCRIPT', "
                f"got {line.rstrip()!r}"
            )
        texts[parts[0]] = (normalize_words(parts[1]), path)
    return texts


def check_merged_manifest(output, prep_folder):
    """Refuses a merged training manifest outside the preparation folder.

    The LibriSpeech recipe writes the union of its training splits to
    ``train_annotation``; pointing that key at a manifest of the user's
    (with ``skip_prep: False``) would overwrite it. Training on one's own
    manifest takes ``skip_prep=True``.

    Arguments
    ---------
    output : str
        The merged manifest (``train_annotation``).
    prep_folder : str
        The folder preparation writes into.

    Raises
    ------
    ValueError
        Naming both paths, when ``output`` is outside ``prep_folder``.

    Example
    -------
    >>> check_merged_manifest("/out/prepared/train.json", "/out/prepared")
    >>> check_merged_manifest("/data/mine.json", "/out/prepared")
    Traceback (most recent call last):
    ...
    ValueError: train_annotation /data/mine.json is outside prep_folder ...
    """
    prep_folder = os.path.abspath(prep_folder)
    inside = os.path.commonpath([os.path.abspath(output), prep_folder])
    if inside != prep_folder:
        raise ValueError(
            f"train_annotation {output} is outside prep_folder "
            f"{prep_folder}, where preparation writes the merged training "
            "manifest; it never overwrites a file of yours: use "
            "--skip_prep=True to train on that manifest as it is"
        )


def merge_manifests(paths, output):
    """Writes the union of JSON manifests (e.g. several training splits).

    Arguments
    ---------
    paths : list of str
        JSON manifests ``{id: entry}``; a later one wins on a shared id.
    output : str
        The merged manifest, written atomically.

    Example
    -------
    >>> import json, tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> for name, ids in (("a", ["u1"]), ("b", ["u2"])):
    ...     with open(os.path.join(tmp, name + ".json"), "w") as f:
    ...         json.dump({i: {"wrd": "HI"} for i in ids}, f)
    >>> out = os.path.join(tmp, "train.json")
    >>> merge_manifests([os.path.join(tmp, n + ".json") for n in "ab"], out)
    >>> sorted(json.load(open(out)))
    ['u1', 'u2']
    """
    merged = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            merged.update(json.load(f))
    with atomic_write(output) as f:
        json.dump(merged, f, indent=2)


def main(argv=None):
    """Run the command-line entry point of ``prepare_librispeech``.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The paths returned by ``prepare_librispeech``.

    Example
    -------
    >>> paths = main(
    ...     ["--data_folder", "LibriSpeech", "--save_folder", "out",
    ...      "--splits", "dev-clean", "--skip_prep"]
    ... )
    >>> paths
    {'dev-clean': 'out/dev-clean.json'}
    """
    parser = argparse.ArgumentParser(
        description="Writes LibriSpeech manifests."
    )
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--save_folder", required=True)
    parser.add_argument("--splits", nargs="+", default=DEFAULT_SPLITS)
    parser.add_argument("--skip_prep", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_prep:
        try:
            check_folders(args.data_folder, args.save_folder)
        except (OSError, ValueError) as error:
            parser.error(str(error))
    logging.basicConfig(level=logging.INFO)
    return prepare_librispeech(
        data_folder=args.data_folder,
        save_folder=args.save_folder,
        splits=args.splits,
        skip_prep=args.skip_prep,
    )


if __name__ == "__main__":
    main()
