r"""Prepare the Berlin Database of Emotional Speech (Emo-DB).

Writes JSON manifests of one fold of a 10-fold leave-one-speaker-out
cross-validation, or of one fixed speaker-disjoint split (below)::

    python -m speechbrain_ext.dataio.emodb_prepare \
        --data_folder /path/to/emodb --save_folder results/emodb_prepared \
        --fold 1

Layout that is read: ``wav/<spk><text><emotion><version>.wav``, e.g.
``03a01Fa.wav`` is speaker ``03`` saying text ``a01`` in emotion ``F``
(happiness), version ``a``. Emotion letters: W anger, L boredom, E disgust,
A fear, F happiness, T sadness, N neutral, mapped to ``ang``, ``bor``,
``dis``, ``fea``, ``hap``, ``sad``, ``neu``.

Two protocols, both speaker-independent:

* ``protocol="loso"`` (default): fold ``k`` tests the ``k``-th speaker of the
  sorted speaker ids; the validation speaker is by default the next one in
  sorted order (the first after the last); the other speakers train.
* ``protocol="speakers"``: one fixed split with speakers disjoint across
  train, valid and test. By default the split of Cournut & Buldu (408 / 56 /
  71 utterances): validation speaker ``15`` (56 utterances), test speaker
  ``16`` (71), the eight others train (408). The paper gives only the
  counts; speakers 15 and 16 are the only speakers of Emo-DB with 56 and 71
  utterances, and no two speakers add up to either count.

Command line of the fixed split::

    python -m speechbrain_ext.dataio.emodb_prepare \
        --data_folder /path/to/emodb --save_folder results/emodb_split \
        --protocol speakers --valid_speakers 15 --test_speakers 16

Each manifest maps an utterance id (the file name without extension) to
``wav`` (absolute path), ``duration`` (seconds), ``spk_id``, ``emo`` and
``text_id``.

Bad input: folders, file names and ``fold`` are checked before any audio is
read; a wav with fewer than 1600 samples (0.1 s) or with NaN or infinite
samples is refused by name. The save folder is locked while a preparation
runs; use one save folder per fold. A changed corpus (files added, removed
or modified) is prepared again.
"""

import argparse
import collections
import logging
import numbers
import os
import re

from speechbrain_ext.dataio.preparation import (
    audio_durations,
    check_folders,
    corpus_fingerprint,
    reuse_or_lock,
    write_options,
)
from speechbrain_ext.dataio.preparation import remove_options as _remove_options
from speechbrain_ext.dataio.preparation import write_json as _write_json

logger = logging.getLogger(__name__)

EMODB_EMOTIONS = {
    "W": "ang",
    "L": "bor",
    "E": "dis",
    "A": "fea",
    "F": "hap",
    "T": "sad",
    "N": "neu",
}
SPLITS = ("train", "valid", "test")
PROTOCOLS = ("loso", "speakers")
PAPER_SPLIT = {"valid": ("15",), "test": ("16",)}
"""Validation and test speakers of Cournut & Buldu's split (see above)."""
SAMPLE_RATE = 16000

_FILE_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Za-z])([a-z])\.wav$")


def parse_emodb_name(file_name):
    """Parse an Emo-DB file name.

    Arguments
    ---------
    file_name : str
        File name (or path) such as ``03a01Fa.wav``.

    Returns
    -------
    dict
        ``spk_id``, ``text_id``, ``emo`` (mapped label) and ``version``.

    Raises
    ------
    ValueError
        If the name does not have the Emo-DB form or the emotion letter is
        unknown (the message names the file).

    Example
    -------
    >>> parse_emodb_name("03a01Fa.wav")
    {'spk_id': '03', 'text_id': 'a01', 'emo': 'hap', 'version': 'a'}
    >>> parse_emodb_name("16b10Wb.wav")["emo"]
    'ang'
    """
    match = _FILE_NAME.match(os.path.basename(file_name))
    if match is None:
        raise ValueError(
            f"{file_name} is not an Emo-DB file name "
            "<speaker:2 digits><text:letter+2 digits><emotion letter>"
            "<version letter>.wav, e.g. 03a01Fa.wav"
        )
    spk_id, text_id, letter, version = match.groups()
    if letter not in EMODB_EMOTIONS:
        raise ValueError(
            f"{file_name}: unknown Emo-DB emotion letter '{letter}'; known "
            "letters are "
            + ", ".join(f"{k} ({v})" for k, v in EMODB_EMOTIONS.items())
        )
    return {
        "spk_id": spk_id,
        "text_id": text_id,
        "emo": EMODB_EMOTIONS[letter],
        "version": version,
    }


def fold_speakers(speakers, fold, valid_speaker=None):
    """Return the test and validation speakers of a fold.

    Arguments
    ---------
    speakers : list of str
        Speaker ids of the corpus (sorted here).
    fold : int
        Fold number, from 1 to the number of speakers.
    valid_speaker : str, optional
        Validation speaker; default: the speaker after the test speaker in
        sorted order (the first one after the last).

    Returns
    -------
    test_speaker : str
        Speaker of the test set.
    valid_speaker : str
        Speaker of the validation set; every other speaker trains.

    Example
    -------
    >>> spk = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    >>> fold_speakers(spk, 1)
    ('03', '08')
    >>> fold_speakers(spk, 10)
    ('16', '03')
    >>> fold_speakers(spk, 2, valid_speaker="15")
    ('08', '15')
    """
    speakers = sorted(set(speakers))
    if not 1 <= fold <= len(speakers):
        raise ValueError(
            f"fold {fold} does not exist with {len(speakers)} speakers; use "
            f"1 to {len(speakers)}"
        )
    test = speakers[fold - 1]
    if valid_speaker is None:
        valid_speaker = speakers[fold % len(speakers)]
    if valid_speaker not in speakers:
        raise ValueError(
            f"valid_speaker '{valid_speaker}' is not a speaker of the corpus "
            f"({', '.join(speakers)})"
        )
    if valid_speaker == test:
        raise ValueError(
            f"valid_speaker '{valid_speaker}' is the test speaker of fold "
            f"{fold}"
        )
    return test, valid_speaker


def speaker_split(speakers, valid_speakers=None, test_speakers=None):
    """Return the speakers of a fixed speaker-disjoint split.

    Arguments
    ---------
    speakers : list of str
        Speaker ids of the corpus.
    valid_speakers : list of str, optional
        Validation speakers; default ``PAPER_SPLIT["valid"]`` (``15``).
    test_speakers : list of str, optional
        Test speakers; default ``PAPER_SPLIT["test"]`` (``16``).

    Returns
    -------
    dict
        ``{"train": [...], "valid": [...], "test": [...]}``, sorted; every
        speaker not in valid or test trains.

    Example
    -------
    >>> spk = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    >>> split = speaker_split(spk)
    >>> split["valid"], split["test"], len(split["train"])
    (['15'], ['16'], 8)
    >>> speaker_split(["03", "08", "09"], ["08"], [3])["train"]
    ['09']
    """
    speakers = sorted(set(speakers))
    chosen = {
        "valid": PAPER_SPLIT["valid"]
        if valid_speakers is None
        else valid_speakers,
        "test": PAPER_SPLIT["test"] if test_speakers is None else test_speakers,
    }
    for name in ("valid", "test"):
        if isinstance(chosen[name], str):
            chosen[name] = [chosen[name]]
        # Speaker ids are two digits ("03"); a yaml number 3 means "03"
        chosen[name] = sorted(
            {
                f"{s:02d}" if isinstance(s, numbers.Integral) else str(s)
                for s in chosen[name]
            }
        )
        if not chosen[name]:
            raise ValueError(f"{name}_speakers is empty")
        unknown = [s for s in chosen[name] if s not in speakers]
        if unknown:
            raise ValueError(
                f"{name}_speakers {unknown} are not speakers of the corpus "
                f"({', '.join(speakers)})"
            )
    both = sorted(set(chosen["valid"]) & set(chosen["test"]))
    if both:
        raise ValueError(f"speakers {both} are both validation and test")
    held_out = set(chosen["valid"]) | set(chosen["test"])
    chosen["train"] = [s for s in speakers if s not in held_out]
    if not chosen["train"]:
        raise ValueError(
            "the speaker split leaves no training speaker (speakers: "
            f"{', '.join(speakers)})"
        )
    return chosen


def prepare_emodb(
    data_folder,
    save_folder,
    fold=1,
    valid_speaker=None,
    skip_prep=False,
    protocol="loso",
    valid_speakers=None,
    test_speakers=None,
):
    """Write the Emo-DB manifests of one fold or of a fixed speaker split.

    Writes ``train.json``, ``valid.json``, ``test.json``, ``all.json`` and
    ``prepare_options.json``. A second call with the same options, the same
    corpus files (count, sizes, modification times) and intact outputs does
    nothing, and writes nothing (a read-only save folder is reused);
    different options, a changed corpus or a manifest that does not parse
    or lost entries regenerate them. The save folder is locked during the
    preparation; folds sharing one save folder overwrite each other (the
    last one wins), so give each fold its own.

    Arguments
    ---------
    data_folder : str
        The Emo-DB folder holding ``wav/``. It is only read.
    save_folder : str
        Folder receiving the manifests; must not be inside ``data_folder``.
    fold : int
        Fold number, 1 to the number of speakers (10 for Emo-DB);
        ``protocol="loso"`` only.
    valid_speaker : str, optional
        Validation speaker; default: the next speaker in sorted order;
        ``protocol="loso"`` only.
    skip_prep : bool
        If True, return the output paths without doing anything.
    protocol : str
        ``loso`` (leave-one-speaker-out fold ``fold``) or ``speakers`` (the
        fixed split given by ``valid_speakers`` and ``test_speakers``).
    valid_speakers : list of str, optional
        Validation speakers of ``protocol="speakers"``; default ``["15"]``.
    test_speakers : list of str, optional
        Test speakers of ``protocol="speakers"``; default ``["16"]``.

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path, "all": path}``.

    Raises
    ------
    FileNotFoundError
        If ``data_folder`` or ``data_folder/wav`` is missing or holds no
        wav file.
    NotADirectoryError
        If ``data_folder`` or ``save_folder`` is a file.
    ValueError
        On a bad ``protocol``, ``fold``, ``valid_speaker``,
        ``valid_speakers`` or ``test_speakers``, a file name that is not an
        Emo-DB name, an unknown emotion letter, an unreadable, non-16 kHz,
        non-mono, too short (fewer than 1600 samples) or non-finite (NaN or
        infinite samples) file, or an empty split.
    PermissionError
        If ``save_folder`` cannot be written and holds no complete
        preparation with these options.

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> data = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(data, "wav"))
    >>> for name in ["03a01Fa", "03a02Wb", "08a01Na", "09b03Ta"]:
    ...     path = os.path.join(data, "wav", name + ".wav")
    ...     sf.write(path, np.zeros(4000), 16000)
    >>> paths = prepare_emodb(data, tempfile.mkdtemp(), fold=1)
    >>> import json
    >>> with open(paths["test"], encoding="utf-8") as f:
    ...     test = json.load(f)
    >>> sorted(test)
    ['03a01Fa', '03a02Wb']
    >>> test["03a02Wb"]["emo"], test["03a02Wb"]["duration"]
    ('ang', 0.25)
    >>> paths = prepare_emodb(data, tempfile.mkdtemp(), protocol="speakers",
    ...                       valid_speakers=["08"], test_speakers=["09"])
    >>> with open(paths["train"], encoding="utf-8") as f:
    ...     sorted(json.load(f))
    ['03a01Fa', '03a02Wb']
    """
    outputs = {
        name: os.path.join(save_folder, f"{name}.json")
        for name in SPLITS + ("all",)
    }
    if skip_prep:
        return outputs

    if protocol not in PROTOCOLS:
        raise ValueError(
            f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}"
        )
    if isinstance(fold, bool) or not isinstance(fold, numbers.Integral):
        raise ValueError(f"fold must be an integer, got {fold!r}")
    fold = int(fold)
    check_folders(data_folder, save_folder)
    wav_folder = os.path.join(data_folder, "wav")
    if not os.path.isdir(wav_folder):
        raise FileNotFoundError(
            f"{wav_folder} does not exist; expected the Emo-DB layout "
            "<data_folder>/wav/<spk><text><emotion><version>.wav"
        )
    # File names give speakers and labels: check them and the fold before
    # reading any audio.
    names = sorted(
        name
        for name in os.listdir(wav_folder)
        if name.lower().endswith(".wav") and not name.startswith(".")
    )
    if not names:
        raise FileNotFoundError(f"{wav_folder} holds no wav file")
    manifest = {}
    for name in names:
        path = os.path.abspath(os.path.join(wav_folder, name))
        parsed = parse_emodb_name(path)
        manifest[name[: -len(".wav")]] = {
            "wav": path,
            "duration": None,
            "spk_id": parsed["spk_id"],
            "emo": parsed["emo"],
            "text_id": parsed["text_id"],
        }
    speakers = sorted({entry["spk_id"] for entry in manifest.values()})
    if protocol == "loso":
        test_spk, valid_spk = fold_speakers(speakers, fold, valid_speaker)
        options = {
            "prepare": "prepare_emodb",
            "data_folder": os.path.abspath(data_folder),
            "fold": fold,
            "valid_speaker": valid_speaker,
        }
        held_out = {"test": {test_spk}, "valid": {valid_spk}}
    else:
        split = speaker_split(speakers, valid_speakers, test_speakers)
        options = {
            "prepare": "prepare_emodb",
            "data_folder": os.path.abspath(data_folder),
            "protocol": protocol,
            "valid_speakers": split["valid"],
            "test_speakers": split["test"],
        }
        held_out = {"test": set(split["test"]), "valid": set(split["valid"])}
    options["corpus"] = corpus_fingerprint(e["wav"] for e in manifest.values())
    with reuse_or_lock(save_folder, options, outputs.values()) as prepared:
        if prepared:
            logger.info(
                "Emo-DB manifests in %s were prepared with the same options "
                "and corpus, skipping preparation",
                save_folder,
            )
            return outputs
        durations = audio_durations(
            [entry["wav"] for entry in manifest.values()], "Emo-DB", SAMPLE_RATE
        )
        for entry in manifest.values():
            entry["duration"] = durations[entry["wav"]]
        _write_fold(
            save_folder,
            options,
            outputs,
            manifest,
            held_out["test"],
            held_out["valid"],
        )
    return outputs


def _write_fold(save_folder, options, outputs, manifest, test_spk, valid_spk):
    """Split the manifest by speaker (sets of ids) and write the outputs."""
    speakers = sorted({e["spk_id"] for e in manifest.values()})
    wav_folder = os.path.join(options["data_folder"], "wav")
    splits = {name: {} for name in SPLITS}
    for utt_id, entry in manifest.items():
        if entry["spk_id"] in test_spk:
            splits["test"][utt_id] = entry
        elif entry["spk_id"] in valid_spk:
            splits["valid"][utt_id] = entry
        else:
            splits["train"][utt_id] = entry
    if not splits["train"]:
        what = f"fold {options['fold']}" if "fold" in options else "the split"
        raise ValueError(
            f"{what} leaves no training speaker in {wav_folder} "
            f"(speakers: {', '.join(speakers)})"
        )

    _remove_options(save_folder)
    for name in SPLITS:
        _write_json(outputs[name], splits[name])
        logger.info(
            "%s: %d utterances %s",
            outputs[name],
            len(splits[name]),
            dict(collections.Counter(e["emo"] for e in splits[name].values())),
        )
    _write_json(outputs["all"], manifest)
    write_options(save_folder, options, outputs.values())


def main(argv=None):
    """Run the command-line entry point of ``prepare_emodb``.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The paths returned by ``prepare_emodb``.

    Example
    -------
    >>> paths = main(
    ...     ["--data_folder", "emodb", "--save_folder", "out", "--fold", "3",
    ...      "--skip_prep"]
    ... )
    >>> paths["valid"]
    'out/valid.json'
    """
    parser = argparse.ArgumentParser(
        description="Writes Emo-DB manifests of one leave-one-speaker-out "
        "fold (--protocol loso) or of a fixed speaker split (--protocol "
        "speakers)."
    )
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--save_folder", required=True)
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--valid_speaker", default=None)
    parser.add_argument("--skip_prep", action="store_true")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="loso")
    parser.add_argument("--valid_speakers", nargs="+", default=None)
    parser.add_argument("--test_speakers", nargs="+", default=None)
    args = parser.parse_args(argv)
    if not args.skip_prep:
        try:
            check_folders(args.data_folder, args.save_folder)
        except (OSError, ValueError) as error:
            parser.error(str(error))
    logging.basicConfig(level=logging.INFO)
    return prepare_emodb(
        data_folder=args.data_folder,
        save_folder=args.save_folder,
        fold=args.fold,
        valid_speaker=args.valid_speaker,
        skip_prep=args.skip_prep,
        protocol=args.protocol,
        valid_speakers=args.valid_speakers,
        test_speakers=args.test_speakers,
    )


if __name__ == "__main__":
    main()
