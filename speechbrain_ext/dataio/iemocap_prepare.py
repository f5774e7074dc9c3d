r"""Prepare IEMOCAP for joint speech recognition and emotion recognition.

Reads the ``IEMOCAP_full_release`` folder and writes JSON manifests for one
fold of a cross-validation protocol::

    python -m speechbrain_ext.dataio.iemocap_prepare \
        --data_folder /path/to/IEMOCAP_full_release \
        --save_folder results/iemocap_prepared --protocol session --fold 1

Layout that is read (nothing is ever written inside ``data_folder``)::

    Session{1..5}/dialog/EmoEvaluation/<dialog>.txt
    Session{1..5}/dialog/transcriptions/<dialog>.txt
    Session{1..5}/sentences/wav/<dialog>/<utt_id>.wav

The speaker of an utterance is its session plus the first letter of the last
underscore-separated part of the utterance id: ``Ses01F_impro01_M000`` is
spoken by ``Ses01M`` although the dialog name carries an ``F``.

Protocols (``list_folds`` gives the fold numbers of each one):

- ``"speaker"``: 10-fold leave-one-speaker-out. Fold ``k`` tests the ``k``-th
  speaker of ``Ses01F, Ses01M, Ses02F, ..., Ses05M``; the validation speaker
  is by default the other speaker of the test session; the 8 others train.
- ``"session"``: 5-fold leave-one-session-out. Fold ``k`` tests both
  speakers of session ``k``; the validation speaker is by default the female
  speaker of the next session (``k mod 5 + 1``); the 7 others train.
- ``"random"``: speaker-dependent split of all utterances in the
  proportions ``split_ratio`` (one fold), stratified by emotion: each split
  holds every class in the proportions of the whole set (within one
  utterance), drawn with scikit-learn's ``train_test_split`` and ``seed``.
- ``"random_kfold"``: speaker-dependent, emotion-stratified ``n_folds``-fold
  cross-validation (scikit-learn's ``StratifiedKFold`` with shuffling and
  ``seed``). Fold ``k`` tests the ``k``-th part; every utterance is tested
  by exactly one fold, and each test part holds every class in the
  proportions of the whole set (within one utterance). The validation set
  is ``valid_percent`` percent of the other utterances, stratified as
  well; the rest trains. Keep ``seed`` (and ``n_folds``) the same for
  every fold so that the folds partition the same shuffle.

Classes and counts: ``label_map`` renames IEMOCAP labels (default
``{"exc": "hap"}``, the usual 4-class set of 5531 utterances; ``{}`` keeps
exc apart, so that ``emotions`` neu, hap, sad, ang hold 4490), then only
the ``emotions`` are kept. ``check_counts`` compares the counts of the
whole corpus, before ``improvised_only`` and ``max_utterance_seconds``,
with those of the full release under the same ``label_map`` (see
``expected_full_release_counts``). ``max_utterance_seconds`` leaves the
longer utterances out of every split (Feng et al. 2020 leave out those
over 20 s).

Each manifest maps an utterance id to ``wav`` (absolute path), ``duration``
(seconds), ``spk_id`` (e.g. ``Ses01M``), ``session`` (int), ``gender``
(``F``/``M``), ``emo`` (label after ``label_map``), ``wrd`` (transcript after
``normalize_transcript``) and ``improvised`` (bool).

Bad input: arguments (``split_ratio``, folds, ``n_folds``,
``valid_percent``, ``max_utterance_seconds``, folders) are checked before
anything is read; a class too small to be stratified is named; a wav with
fewer than 1600 samples (0.1 s) or with NaN or infinite samples is refused
by name; a wav shorter than its ``[start - end]`` segment in EmoEvaluation
is kept with a warning naming it; a session or speaker without any
labelled utterance is named in a warning. The save
folder is locked while a preparation runs (see
``speechbrain_ext.dataio.preparation``); use one save folder per fold: two
folds prepared into one folder overwrite each other's manifests (the last
one wins). A changed corpus (files added, removed or modified) is prepared
again.

Text encoding: the EmoEvaluation and transcription files are decoded as
UTF-8 (the release is ASCII). A file that is not UTF-8 is decoded as
Windows-1252 (``cp1252``, Latin-1 with the Windows punctuation), which
keeps an "É" of a Latin-1 transcript, and a warning names the file and its
first line that is not UTF-8; a file that is neither is refused, naming the
file and the line. No character is ever replaced silently.
"""

import argparse
import collections
import logging
import math
import os
import re
import unicodedata

from speechbrain_ext.dataio.preparation import (
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

IEMOCAP_LABELS = (
    "neu",
    "hap",
    "exc",
    "sad",
    "ang",
    "fru",
    "sur",
    "fea",
    "dis",
    "oth",
    "xxx",
)
IEMOCAP_SPEAKERS = tuple(
    f"Ses{session:02d}{gender}" for session in range(1, 6) for gender in "FM"
)
DEFAULT_LABEL_MAP = {"exc": "hap"}
DEFAULT_EMOTIONS = ("neu", "hap", "sad", "ang")
# Utterances of the full release per IEMOCAP label, for the labels of the
# 4-class sets: 5531 with exc merged into hap (hap + exc 1636), 4490 without
# exc. The other labels are not checked.
FULL_RELEASE_LABEL_COUNTS = {
    "neu": 1708,
    "hap": 595,
    "exc": 1041,
    "sad": 1084,
    "ang": 1103,
}
PROTOCOLS = ("speaker", "session", "random", "random_kfold")
# Protocols that split utterances rather than speakers.
UTTERANCE_PROTOCOLS = ("random", "random_kfold")
SPLITS = ("train", "valid", "test")
SAMPLE_RATE = 16000
# A wav may be this much shorter (seconds) than its EmoEvaluation segment
# before a warning says it looks truncated.
TRUNCATION_TOLERANCE = 0.1
TEXT_FALLBACK_ENCODING = "cp1252"
"""Encoding of a text file that is not UTF-8 (with a warning naming it)."""

_NUMBER = r"\d+(?:\.\d+)?"
_EMO_LINE = re.compile(
    rf"^\[\s*({_NUMBER})\s*-\s*({_NUMBER})\s*\]\s+(\S+)\s+(\S+)(?:\s|$)"
)
_TRN_LINE = re.compile(rf"^(\S+)\s+\[\s*{_NUMBER}\s*-\s*{_NUMBER}\s*\]:(.*)$")
_SESSION_DIR = re.compile(r"^Session([1-5])$")
_MAX_LISTED = 20
_TAGS = re.compile(r"\[[^\]]*\]|<[^>]*>")


def normalize_transcript(text):
    """Normalise an IEMOCAP transcript for word-level scoring.

    Folds Unicode variants (NFKC, then accents stripped: full-width
    letters and combining accents give the same words as plain ASCII),
    removes bracketed tags (``[LAUGHTER]``, ``[BREATHING]``, ``<...>``),
    upper-cases, removes punctuation and symbols (emoji) while keeping
    apostrophes inside words and collapses whitespace. Apply the same
    function to references and hypotheses before computing a WER.

    Arguments
    ---------
    text : str
        Raw transcript.

    Returns
    -------
    str
        Normalised transcript; empty when the text holds only tags,
        punctuation or symbols.

    Example
    -------
    >>> normalize_transcript("Oh, I'm so happy! [LAUGHTER]")
    "OH I'M SO HAPPY"
    >>> normalize_transcript("'Cause  it's <noise> twenty-five...")
    "CAUSE IT'S TWENTY FIVE"
    >>> normalize_transcript("[BREATHING]")
    ''
    >>> normalize_transcript("\uff28\uff25\uff2c\uff2c\uff2f cafe\u0301")
    'HELLO CAFE'
    """
    text = _TAGS.sub(" ", normalize_unicode(text))
    text = text.replace("\u2019", "'").upper()
    text = re.sub(r"[^\w\s']|_", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def utterance_speaker(utt_id):
    """Return the speaker of an IEMOCAP utterance id.

    The speaker is the session plus the first letter of the last
    underscore-separated part of the id, not the letter of the dialog name.

    Arguments
    ---------
    utt_id : str
        Utterance id, e.g. ``Ses01F_script01_1_M003``.

    Returns
    -------
    str
        Speaker id, e.g. ``Ses01M``.

    Raises
    ------
    ValueError
        If the id does not have the IEMOCAP form.

    Example
    -------
    >>> utterance_speaker("Ses01F_impro01_M000")
    'Ses01M'
    >>> utterance_speaker("Ses03M_script01_1_F012")
    'Ses03F'
    """
    parts = utt_id.split("_")
    session = re.match(r"^Ses(0[1-5])[FM]", parts[0])
    if len(parts) < 3 or session is None or parts[-1][:1] not in ("F", "M"):
        raise ValueError(
            f"'{utt_id}' is not an IEMOCAP utterance id of the form "
            "SesNNG_<dialog>_<G><index> (G = F or M)"
        )
    return f"Ses{session.group(1)}{parts[-1][0]}"


def read_emo_evaluation(path):
    r"""Read the utterance labels of one ``EmoEvaluation/<dialog>.txt`` file.

    Only the first line of each block (``[start - end]<TAB>utt_id<TAB>emo
    <TAB>[V, A, D]``) is read, also when indented; header and annotator
    lines are skipped. The file is decoded as UTF-8, or as
    ``TEXT_FALLBACK_ENCODING`` (cp1252) with a warning naming the file and
    line when it is not UTF-8.

    Arguments
    ---------
    path : str
        Path of the evaluation file.

    Returns
    -------
    dict
        Utterance id -> IEMOCAP label, in file order.

    Raises
    ------
    ValueError
        If a label is not an IEMOCAP label, a block line is malformed, an
        utterance id occurs twice or the file is neither UTF-8 nor cp1252
        (the message names the file and line).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "Ses01F_impro01.txt")
    >>> with open(path, "w", encoding="utf-8") as f:
    ...     _ = f.write(
    ...         "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
    ...         "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5, 2, 2]\n"
    ...         "C-E2:\tNeutral;\t()\n"
    ...         "A-E3:\tval 3; act 2; dom  2;\t()\n\n"
    ...         "[10.0 - 11.5]\tSes01F_impro01_M000\texc\t[4, 3.5, 3]\n"
    ...     )
    >>> read_emo_evaluation(path)
    {'Ses01F_impro01_F000': 'neu', 'Ses01F_impro01_M000': 'exc'}
    """
    return {utt: seg[0] for utt, seg in _read_emo_segments(path).items()}


def _read_emo_segments(path):
    """Read an evaluation file: utt_id -> (label, start, end) in seconds."""
    labels = {}
    lines = read_text_lines(path, TEXT_FALLBACK_ENCODING)
    for line_no, line in enumerate(lines, start=1):
        # Indented lines (and a byte-order mark) are still utterances.
        line = line.lstrip().lstrip("\ufeff").lstrip()
        if not line.startswith("["):
            continue
        match = _EMO_LINE.match(line)
        if match is None:
            raise ValueError(
                f"{path}, line {line_no}: malformed utterance line "
                f"{line.rstrip()!r}; expected "
                "'[start - end]<TAB>utt_id<TAB>emo<TAB>[V, A, D]'"
            )
        start, end, utt_id, label = match.groups()
        if label not in IEMOCAP_LABELS:
            raise ValueError(
                f"{path}, line {line_no}: unknown emotion label "
                f"'{label}' for {utt_id}; IEMOCAP labels are "
                f"{', '.join(IEMOCAP_LABELS)}"
            )
        if utt_id in labels:
            raise ValueError(
                f"{path}, line {line_no}: utterance {utt_id} is labelled twice"
            )
        labels[utt_id] = (label, float(start), float(end))
    return labels


def read_transcriptions(path):
    r"""Read one ``transcriptions/<dialog>.txt`` file.

    Lines of the form ``<utt_id> [start-end]: text`` are utterances; any
    other line is skipped. The file is decoded as UTF-8, or as
    ``TEXT_FALLBACK_ENCODING`` (cp1252) with a warning naming the file and
    line when it is not UTF-8 (a Latin-1 "CAFÉ" stays "CAFÉ").

    Arguments
    ---------
    path : str
        Path of the transcription file.

    Returns
    -------
    dict
        Utterance id -> raw text (stripped, possibly empty).

    Raises
    ------
    ValueError
        If the file is neither UTF-8 nor cp1252 (naming file and line).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "Ses01F_impro01.txt")
    >>> with open(path, "w", encoding="utf-8") as f:
    ...     _ = f.write(
    ...         "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
    ...         "M: [LAUGHTER]\n"
    ...         "Ses01F_impro01_M000 [010.0000-011.5000]: Yeah [BREATHING]\n"
    ...     )
    >>> texts = read_transcriptions(path)
    >>> sorted(texts)
    ['Ses01F_impro01_F000', 'Ses01F_impro01_M000']
    >>> texts["Ses01F_impro01_M000"]
    'Yeah [BREATHING]'
    """
    texts = {}
    for line in read_text_lines(path, TEXT_FALLBACK_ENCODING):
        match = _TRN_LINE.match(line.strip())
        if match is not None:
            texts[match.group(1)] = match.group(2).strip()
    return texts


def list_folds(protocol, n_folds=5):
    """Return the fold numbers of a protocol.

    Arguments
    ---------
    protocol : str
        ``"speaker"`` (10 folds), ``"session"`` (5 folds), ``"random"``
        (a single fold; use ``seed`` for other draws) or ``"random_kfold"``
        (``n_folds`` folds).
    n_folds : int
        Number of folds of the ``"random_kfold"`` protocol (at least 2).

    Returns
    -------
    list of int
        The valid values of ``fold``.

    Example
    -------
    >>> list_folds("session")
    [1, 2, 3, 4, 5]
    >>> len(list_folds("speaker"))
    10
    >>> list_folds("random")
    [1]
    >>> list_folds("random_kfold", n_folds=3)
    [1, 2, 3]
    """
    if protocol == "speaker":
        return list(range(1, len(IEMOCAP_SPEAKERS) + 1))
    if protocol == "session":
        return [1, 2, 3, 4, 5]
    if protocol == "random":
        return [1]
    if protocol == "random_kfold":
        _check_n_folds(n_folds)
        return list(range(1, n_folds + 1))
    raise ValueError(
        f"unknown protocol '{protocol}'; use one of {', '.join(PROTOCOLS)}"
    )


def _check_n_folds(n_folds):
    """Raise unless ``n_folds`` is an integer of at least 2."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise ValueError(
            f"n_folds must be an integer of at least 2, got {n_folds!r}"
        )


def fold_speakers(protocol, fold, valid_speaker=None):
    """Return the test and validation speakers of a fold.

    Arguments
    ---------
    protocol : str
        ``"speaker"`` or ``"session"`` (the ``"random"`` and
        ``"random_kfold"`` protocols do not split by speaker).
    fold : int
        Fold number, see ``list_folds``.
    valid_speaker : str, optional
        Validation speaker replacing the protocol default.

    Returns
    -------
    test_speakers : tuple of str
        Speakers of the test set.
    valid_speakers : tuple of str
        Speakers of the validation set; every other speaker trains.

    Example
    -------
    >>> fold_speakers("speaker", 2)
    (('Ses01M',), ('Ses01F',))
    >>> fold_speakers("session", 5)
    (('Ses05F', 'Ses05M'), ('Ses01F',))
    >>> fold_speakers("session", 1, valid_speaker="Ses04M")
    (('Ses01F', 'Ses01M'), ('Ses04M',))
    """
    if protocol in UTTERANCE_PROTOCOLS:
        raise ValueError(
            f"the '{protocol}' protocol splits utterances, not speakers"
        )
    folds = list_folds(protocol)
    if fold not in folds:
        raise ValueError(
            f"fold {fold} does not exist for protocol '{protocol}'; "
            f"use one of {folds}"
        )
    if protocol == "speaker":
        test = (IEMOCAP_SPEAKERS[fold - 1],)
        session = test[0][:5]
        other = "M" if test[0].endswith("F") else "F"
        default_valid = session + other
    else:
        test = (f"Ses{fold:02d}F", f"Ses{fold:02d}M")
        default_valid = f"Ses{fold % 5 + 1:02d}F"
    valid = default_valid if valid_speaker is None else valid_speaker
    if valid not in IEMOCAP_SPEAKERS:
        raise ValueError(
            f"valid_speaker '{valid}' is not an IEMOCAP speaker; use one of "
            f"{', '.join(IEMOCAP_SPEAKERS)}"
        )
    if valid in test:
        raise ValueError(
            f"valid_speaker '{valid}' is a test speaker of fold {fold} of "
            f"protocol '{protocol}'"
        )
    return test, (valid,)


def prepare_iemocap(
    data_folder,
    save_folder,
    protocol="speaker",
    fold=1,
    valid_speaker=None,
    label_map=None,
    emotions=DEFAULT_EMOTIONS,
    improvised_only=False,
    check_counts=True,
    split_ratio=(80, 10, 10),
    seed=1234,
    skip_prep=False,
    n_folds=5,
    valid_percent=10,
    max_utterance_seconds=None,
):
    r"""Write the IEMOCAP manifests of one fold of a protocol.

    Writes ``train.json``, ``valid.json`` and ``test.json`` for the fold,
    ``all.json`` with every kept utterance and ``prepare_options.json`` with
    the options. A second call with the same options, the same corpus
    files (count, sizes, modification times) and intact outputs does
    nothing, and writes nothing (a read-only save folder is reused);
    different options, a changed corpus or a manifest that does not parse
    or lost entries regenerate the manifests. The save folder is locked
    during the preparation: a second preparation into it waits for the
    first. Each fold needs its own save folder; folds sharing one overwrite
    each other and the last one wins. Text files that are not UTF-8 are
    decoded as cp1252 with a warning (see the module docstring).

    Arguments
    ---------
    data_folder : str
        The ``IEMOCAP_full_release`` folder (or a folder containing it).
        It is only read.
    save_folder : str
        Folder receiving the manifests; must not be inside ``data_folder``.
    protocol : str
        ``"speaker"``, ``"session"``, ``"random"`` or ``"random_kfold"``
        (see module docstring).
    fold : int
        Fold number, see ``list_folds``.
    valid_speaker : str, optional
        Validation speaker replacing the protocol default
        (``"speaker"`` and ``"session"`` protocols only).
    label_map : dict, optional
        Maps IEMOCAP labels to output labels; labels absent from the map
        keep their name. Default ``{"exc": "hap"}``; ``{}`` keeps exc
        apart (it is then dropped unless ``emotions`` holds it).
    emotions : sequence of str
        Output labels to keep; utterances with another label are dropped.
    improvised_only : bool
        Keep only improvised dialogs (dialog name containing ``impro``)
        before splitting.
    check_counts : bool
        Check the counts of the ``emotions`` in the whole corpus, before
        any filtering, against the full release under the same
        ``label_map`` (``expected_full_release_counts``: 5531 utterances
        with the default map, 4490 with ``{}``). Classes that gather other
        labels than neu, hap, exc, sad and ang are not checked. Set to
        False for a subset or a generated corpus.
    split_ratio : sequence of 3 numbers
        Train, valid and test percentages of the ``"random"`` protocol:
        finite, non-negative, summing to 100 (each positive for the
        ``"random"`` protocol).
    seed : int
        Seed of the ``"random"`` and ``"random_kfold"`` draws.
    skip_prep : bool
        If True, return the output paths without doing anything.
    n_folds : int
        Number of folds of the ``"random_kfold"`` protocol (at least 2).
    valid_percent : float
        Percentage of the utterances outside the test fold kept for
        validation by the ``"random_kfold"`` protocol (stratified), in
        ]0, 100[.
    max_utterance_seconds : float, optional
        Utterances longer than this (wav duration, seconds) are left out
        of every split and of ``all.json``; ``None`` keeps them all.

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path, "all": path}``.

    Raises
    ------
    FileNotFoundError
        If ``data_folder``, the layout, a transcription file or wav files
        are missing.
    NotADirectoryError
        If ``data_folder`` or ``save_folder`` is a file.
    ValueError
        On a bad argument (named in the message), an unknown label, a
        missing or empty transcript, a text file neither UTF-8 nor cp1252,
        an unreadable, non-16 kHz, non-mono, too short (fewer than 1600
        samples) or non-finite (NaN or infinite samples) wav, counts that
        differ from the full release, an empty split or a split that
        cannot be stratified (a class with too few utterances).
    PermissionError
        If ``save_folder`` cannot be written and holds no complete
        preparation with these options.

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> data = tempfile.mkdtemp()
    >>> for k in range(1, 6):
    ...     ses, dia = os.path.join(data, f"Session{k}"), f"Ses0{k}F_impro01"
    ...     wav_dir = os.path.join(ses, "sentences", "wav", dia)
    ...     os.makedirs(wav_dir)
    ...     emo, trn = ["% header\n\n"], []
    ...     for utt, label in [("F000", "neu"), ("M000", "exc")]:
    ...         utt = f"{dia}_{utt}"
    ...         emo.append(f"[1.0 - 1.1]\t{utt}\t{label}\t[3, 3, 3]\n\n")
    ...         trn.append(f"{utt} [001.0000-001.1000]: Hi [LAUGHTER]\n")
    ...         wav = os.path.join(wav_dir, utt + ".wav")
    ...         sf.write(wav, np.zeros(1600), 16000)
    ...     for sub, lines in [("EmoEvaluation", emo), ("transcriptions", trn)]:
    ...         os.makedirs(os.path.join(ses, "dialog", sub))
    ...         path = os.path.join(ses, "dialog", sub, dia + ".txt")
    ...         with open(path, "w", encoding="utf-8") as f:
    ...             _ = f.write("".join(lines))
    >>> save = tempfile.mkdtemp()
    >>> paths = prepare_iemocap(
    ...     data, save, protocol="session", fold=1, check_counts=False
    ... )
    >>> import json
    >>> with open(paths["test"], encoding="utf-8") as f:
    ...     test = json.load(f)
    >>> sorted(test)
    ['Ses01F_impro01_F000', 'Ses01F_impro01_M000']
    >>> entry = test["Ses01F_impro01_M000"]
    >>> entry["spk_id"], entry["emo"], entry["wrd"], entry["duration"]
    ('Ses01M', 'hap', 'HI', 0.1)
    """
    outputs = {
        name: os.path.join(save_folder, f"{name}.json")
        for name in SPLITS + ("all",)
    }
    if skip_prep:
        return outputs

    label_map = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)
    emotions = list(emotions)
    _check_options(protocol, fold, valid_speaker, label_map, emotions, n_folds)
    split_ratio = _check_split_ratio(split_ratio, protocol)
    valid_percent, max_utterance_seconds = _check_numbers(
        valid_percent, max_utterance_seconds
    )
    check_folders(data_folder, save_folder)
    corpus = _find_corpus_root(data_folder)

    options = {
        "prepare": "prepare_iemocap",
        "data_folder": corpus,
        "protocol": protocol,
        "fold": fold,
        "valid_speaker": valid_speaker,
        "label_map": label_map,
        "emotions": emotions,
        "improvised_only": improvised_only,
        "check_counts": check_counts,
        "split_ratio": split_ratio,
        "n_folds": n_folds,
        "valid_percent": valid_percent,
        "max_utterance_seconds": max_utterance_seconds,
        "seed": seed,
        "corpus": corpus_fingerprint(_corpus_files(corpus)),
    }
    with reuse_or_lock(save_folder, options, outputs.values()) as prepared:
        if prepared:
            logger.info(
                "IEMOCAP manifests in %s were prepared with the same "
                "options and corpus, skipping preparation",
                save_folder,
            )
            return outputs
        _prepare(corpus, save_folder, options, outputs)
    return outputs


def _corpus_files(corpus):
    """List the files a preparation reads: annotations and sentence wavs."""
    files = []
    for name in sorted(os.listdir(corpus)):
        session = os.path.join(corpus, name)
        if _SESSION_DIR.match(name) is None or not os.path.isdir(session):
            continue
        for sub in ("EmoEvaluation", "transcriptions"):
            folder = os.path.join(session, "dialog", sub)
            if os.path.isdir(folder):
                files += [os.path.join(folder, n) for n in _list_txt(folder)]
        wav_root = os.path.join(session, "sentences", "wav")
        for root, dirs, names in os.walk(wav_root):
            dirs.sort()
            files += [
                os.path.join(root, n)
                for n in sorted(names)
                if n.endswith(".wav") and not n.startswith(".")
            ]
    return files


def _prepare(corpus, save_folder, options, outputs):
    """Read the corpus and write the manifests (under the folder lock)."""
    protocol, fold = options["protocol"], options["fold"]
    label_map, emotions = options["label_map"], options["emotions"]
    improvised_only = options["improvised_only"]
    utterances = _read_all_labels(corpus)
    _warn_missing_speakers(utterances, corpus)
    if options["check_counts"]:
        _check_full_release_counts(utterances, corpus, label_map, emotions)

    kept = []
    for utt in utterances:
        utt["emo"] = label_map.get(utt["label"], utt["label"])
        if utt["emo"] not in emotions:
            continue
        if improvised_only and not utt["improvised"]:
            continue
        kept.append(utt)
    if not kept:
        raise ValueError(
            f"no utterance of {corpus} is left with emotions {emotions} "
            f"(improvised_only={improvised_only})"
        )
    _add_transcripts(kept, corpus)
    _add_audio(kept, corpus)
    kept = _drop_long(kept, options["max_utterance_seconds"], corpus)

    manifest = {
        utt["utt_id"]: {
            "wav": utt["wav"],
            "duration": utt["duration"],
            "spk_id": utt["spk_id"],
            "session": utt["session"],
            "gender": utt["gender"],
            "emo": utt["emo"],
            "wrd": utt["wrd"],
            "improvised": utt["improvised"],
        }
        for utt in sorted(kept, key=lambda utt: utt["utt_id"])
    }
    if protocol == "random":
        splits = _split_random(
            manifest, options["split_ratio"], options["seed"]
        )
    elif protocol == "random_kfold":
        splits = _split_kfold(
            manifest,
            options["n_folds"],
            fold,
            options["valid_percent"],
            options["seed"],
        )
    else:
        test_spk, valid_spk = fold_speakers(
            protocol, fold, options["valid_speaker"]
        )
        splits = _split_by_speaker(manifest, test_spk, valid_spk)
    for name in SPLITS:
        if not splits[name]:
            raise ValueError(
                f"the {name} split of fold {fold} of protocol '{protocol}' "
                f"is empty with the utterances found in {corpus}"
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


def _check_options(protocol, fold, valid_speaker, label_map, emotions, n_folds):
    """Validate the options before reading anything."""
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"unknown protocol '{protocol}'; use one of {', '.join(PROTOCOLS)}"
        )
    _check_n_folds(n_folds)
    if protocol == "random" and fold not in list_folds(protocol):
        raise ValueError(
            "the 'random' protocol has a single fold (fold=1); change "
            "seed for another draw"
        )
    if protocol == "random_kfold" and fold not in list_folds(protocol, n_folds):
        raise ValueError(
            f"fold {fold!r} does not exist for protocol 'random_kfold' with "
            f"n_folds={n_folds}; use one of 1..{n_folds}"
        )
    if protocol in UTTERANCE_PROTOCOLS:
        if valid_speaker is not None:
            raise ValueError(
                f"valid_speaker is not used by the '{protocol}' protocol"
            )
    else:
        fold_speakers(protocol, fold, valid_speaker)
    unknown = sorted(set(label_map) - set(IEMOCAP_LABELS))
    if unknown:
        raise ValueError(
            f"label_map keys {unknown} are not IEMOCAP labels "
            f"({', '.join(IEMOCAP_LABELS)})"
        )
    reachable = {label_map.get(label, label) for label in IEMOCAP_LABELS}
    unreachable = [emo for emo in emotions if emo not in reachable]
    if not emotions or unreachable:
        raise ValueError(
            f"emotions {emotions} must be a non-empty subset of the labels "
            f"produced by label_map {label_map}: {sorted(reachable)}"
        )


def _check_numbers(valid_percent, max_utterance_seconds):
    """Return ``valid_percent`` and ``max_utterance_seconds`` as floats."""
    try:
        percent = float(valid_percent)
    except (TypeError, ValueError):
        percent = math.nan
    if isinstance(valid_percent, bool) or not 0 < percent < 100:
        raise ValueError(
            "valid_percent must be a percentage strictly between 0 and 100, "
            f"got {valid_percent!r}"
        )
    if max_utterance_seconds is None:
        return percent, None
    try:
        seconds = float(max_utterance_seconds)
    except (TypeError, ValueError):
        seconds = math.nan
    if (
        isinstance(max_utterance_seconds, bool)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise ValueError(
            "max_utterance_seconds must be a positive number of seconds or "
            f"None, got {max_utterance_seconds!r}"
        )
    return percent, seconds


def _check_split_ratio(split_ratio, protocol="random"):
    """Return the split ratio as a list of 3 floats, or raise."""
    problem = (
        "split_ratio must be 3 finite, non-negative percentages (train, "
        "valid, test) summing to 100"
    )
    try:
        ratio = [float(r) for r in split_ratio]
    except (TypeError, ValueError):
        raise ValueError(f"{problem}, got {split_ratio!r}") from None
    if (
        len(ratio) != 3
        or not all(math.isfinite(r) and r >= 0 for r in ratio)
        or abs(sum(ratio) - 100) > 1e-6
    ):
        raise ValueError(f"{problem}, got {ratio}")
    if protocol == "random" and min(ratio) == 0:
        raise ValueError(
            f"split_ratio {ratio} leaves the "
            f"{SPLITS[ratio.index(0)]} split of the 'random' protocol empty; "
            "give each split a positive share"
        )
    return ratio


def _find_corpus_root(data_folder):
    """Return the absolute folder holding the ``Session*`` folders."""
    candidates = [
        data_folder,
        os.path.join(data_folder, "IEMOCAP_full_release"),
    ]
    for folder in candidates:
        if os.path.isdir(folder) and any(
            _SESSION_DIR.match(name)
            and os.path.isdir(
                os.path.join(folder, name, "dialog", "EmoEvaluation")
            )
            for name in os.listdir(folder)
        ):
            return os.path.abspath(folder)
    raise FileNotFoundError(
        f"{data_folder} is not an IEMOCAP_full_release folder: no "
        "Session{1..5}/dialog/EmoEvaluation found. Expected layout: "
        "Session{k}/dialog/EmoEvaluation/<dialog>.txt, "
        "Session{k}/dialog/transcriptions/<dialog>.txt, "
        "Session{k}/sentences/wav/<dialog>/<utt_id>.wav"
    )


def _list_txt(folder):
    """Return the sorted visible ``.txt`` files directly in a folder."""
    return sorted(
        name
        for name in os.listdir(folder)
        if name.endswith(".txt")
        and not name.startswith(".")
        and os.path.isfile(os.path.join(folder, name))
    )


def _read_all_labels(corpus):
    """Read every labelled utterance of every session."""
    utterances = []
    for name in sorted(os.listdir(corpus)):
        match = _SESSION_DIR.match(name)
        emo_dir = os.path.join(corpus, name, "dialog", "EmoEvaluation")
        if match is None or not os.path.isdir(emo_dir):
            continue
        session = int(match.group(1))
        for file_name in _list_txt(emo_dir):
            path = os.path.join(emo_dir, file_name)
            dialog = file_name[: -len(".txt")]
            segments = _read_emo_segments(path)
            for utt_id, (label, start, end) in segments.items():
                try:
                    spk_id = utterance_speaker(utt_id)
                except ValueError as error:
                    raise ValueError(f"{path}: {error}") from None
                if int(spk_id[3:5]) != session:
                    raise ValueError(
                        f"{path}: utterance {utt_id} does not belong to "
                        f"session {session}"
                    )
                utterances.append(
                    {
                        "utt_id": utt_id,
                        "label": label,
                        "session": session,
                        "session_dir": name,
                        "dialog": dialog,
                        "spk_id": spk_id,
                        "gender": spk_id[-1],
                        "improvised": "impro" in dialog,
                        "segment": (start, end),
                    }
                )
    return utterances


def _warn_missing_speakers(utterances, corpus):
    """Warn about sessions and speakers without any labelled utterance."""
    sessions = {utt["session"] for utt in utterances}
    speakers = {utt["spk_id"] for utt in utterances}
    for session in range(1, 6):
        folder = os.path.join(corpus, f"Session{session}")
        if session in sessions:
            continue
        if not os.path.isdir(folder):
            logger.warning(
                "%s does not exist: session %d has no utterance",
                folder,
                session,
            )
        else:
            logger.warning(
                "%s holds no labelled utterance (no utterance line in "
                "dialog/EmoEvaluation/*.txt): session %d is empty",
                folder,
                session,
            )
    for spk_id in IEMOCAP_SPEAKERS:
        session = int(spk_id[3:5])
        if session in sessions and spk_id not in speakers:
            logger.warning(
                "speaker %s has no labelled utterance in %s",
                spk_id,
                os.path.join(corpus, f"Session{session}"),
            )


def expected_full_release_counts(label_map=None, emotions=DEFAULT_EMOTIONS):
    """Return the full-release count of each class after a label map.

    A class is counted when every IEMOCAP label mapped to it has a known
    full-release count (neu 1708, hap 595, exc 1041, sad 1084, ang 1103);
    classes that gather other labels are left out.

    Arguments
    ---------
    label_map : dict, optional
        Maps IEMOCAP labels to output labels (default ``{"exc": "hap"}``).
    emotions : sequence of str
        Output labels.

    Returns
    -------
    dict
        Class -> (IEMOCAP labels mapped to it, utterances of the full
        release), in the order of ``emotions``.

    Example
    -------
    >>> counts = expected_full_release_counts()
    >>> counts["hap"]
    (['hap', 'exc'], 1636)
    >>> sum(n for _, n in counts.values())
    5531
    >>> counts = expected_full_release_counts({})
    >>> counts["hap"], sum(n for _, n in counts.values())
    ((['hap'], 595), 4490)
    >>> "ang" in expected_full_release_counts({"fru": "ang"})
    False
    """
    label_map = DEFAULT_LABEL_MAP if label_map is None else label_map
    expected = {}
    for emo in emotions:
        sources = [
            label
            for label in IEMOCAP_LABELS
            if label_map.get(label, label) == emo
        ]
        if sources and all(s in FULL_RELEASE_LABEL_COUNTS for s in sources):
            count = sum(FULL_RELEASE_LABEL_COUNTS[s] for s in sources)
            expected[emo] = (sources, count)
    return expected


def _check_full_release_counts(utterances, corpus, label_map, emotions):
    """Compare the class counts with those of the full release."""
    expected = expected_full_release_counts(label_map, emotions)
    unchecked = [emo for emo in emotions if emo not in expected]
    if unchecked:
        logger.warning(
            "check_counts: the full-release counts of %s are not known "
            "(only classes made of neu, hap, exc, sad and ang are checked, "
            "label_map %s)",
            ", ".join(unchecked),
            label_map,
        )
    if not expected:
        return
    found = collections.Counter(
        label_map.get(utt["label"], utt["label"]) for utt in utterances
    )
    if all(found[emo] == n for emo, (_, n) in expected.items()):
        return
    names = {
        emo: emo if sources == [emo] else f"{emo} ({' + '.join(sources)})"
        for emo, (sources, _) in expected.items()
    }
    width = max(16, *(len(name) + 2 for name in names.values()))
    rows = [f"  {'class':<{width}}{'expected':>10}{'found':>10}"]
    for emo, (_, count) in expected.items():
        rows.append(f"  {names[emo]:<{width}}{count:>10}{found[emo]:>10}")
    total = sum(n for _, n in expected.values())
    total_found = sum(found[emo] for emo in expected)
    rows.append(f"  {'total':<{width}}{total:>10}{total_found:>10}")
    raise ValueError(
        f"the class counts of {corpus} differ from the IEMOCAP full "
        f"release (label_map {label_map}):\n"
        + "\n".join(rows)
        + "\nIf this is a subset of IEMOCAP or a generated corpus, pass "
        "check_counts=False (--no_check_counts on the command line)."
    )


def _add_transcripts(utterances, corpus):
    """Add the normalised transcript ``wrd`` to each utterance."""
    cache = {}
    tag_only, unspeakable = [], []
    for utt in utterances:
        path = os.path.join(
            corpus,
            utt["session_dir"],
            "dialog",
            "transcriptions",
            utt["dialog"] + ".txt",
        )
        if path not in cache:
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"transcription file {path} of utterance "
                    f"{utt['utt_id']} is missing"
                )
            cache[path] = read_transcriptions(path)
        text = cache[path].get(utt["utt_id"])
        if text is None:
            raise ValueError(
                f"{path}: no transcript line for utterance {utt['utt_id']}"
            )
        if not text:
            raise ValueError(
                f"{path}: the transcript of utterance {utt['utt_id']} is empty"
            )
        utt["wrd"] = normalize_transcript(text)
        if not utt["wrd"]:
            if _is_tags_only(text):
                tag_only.append(utt["utt_id"])
            else:
                unspeakable.append(f"{utt['utt_id']} ({text!r})")
    if tag_only:
        logger.warning(
            "%d utterances have a transcript made only of tags and get an "
            "empty wrd (e.g. %s)",
            len(tag_only),
            ", ".join(tag_only[:5]),
        )
    if unspeakable:
        logger.warning(
            "%d utterances have no speakable words after normalisation "
            "(only punctuation or symbols such as emoji) and get an empty "
            "wrd: %s",
            len(unspeakable),
            ", ".join(unspeakable[:_MAX_LISTED]),
        )


def _is_tags_only(text):
    """Tell whether a text holds tags and nothing else but punctuation."""
    rest = _TAGS.sub(" ", text)
    return rest != text and all(
        char.isspace() or unicodedata.category(char).startswith("P")
        for char in rest
    )


def _add_audio(utterances, corpus):
    """Add ``wav`` and ``duration``, checking files and sample rates."""
    missing = []
    for utt in utterances:
        utt["wav"] = os.path.join(
            corpus,
            utt["session_dir"],
            "sentences",
            "wav",
            utt["dialog"],
            utt["utt_id"] + ".wav",
        )
        if not os.path.isfile(utt["wav"]):
            missing.append(utt["wav"])
    if missing:
        listed = "\n  ".join(missing[:_MAX_LISTED])
        more = len(missing) - _MAX_LISTED
        raise FileNotFoundError(
            f"{len(missing)} wav files of labelled utterances are missing "
            f"in {corpus}:\n  {listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    durations = audio_durations(
        [utt["wav"] for utt in utterances], "IEMOCAP", SAMPLE_RATE
    )
    truncated = []
    for utt in utterances:
        utt["duration"] = durations[utt["wav"]]
        start, end = utt["segment"]
        if utt["duration"] < end - start - TRUNCATION_TOLERANCE:
            truncated.append(
                f"{utt['wav']}: {utt['duration']:.2f} s of audio for the "
                f"{start:.2f}-{end:.2f} s segment ({end - start:.2f} s)"
            )
    if truncated:
        listed = "\n  ".join(truncated[:_MAX_LISTED])
        more = len(truncated) - _MAX_LISTED
        logger.warning(
            "%d wav files are shorter than their [start - end] segment in "
            "EmoEvaluation (truncated files?); they are kept with their own "
            "duration:\n  %s%s",
            len(truncated),
            listed,
            f"\n  ... and {more} more" if more > 0 else "",
        )


def _split_by_speaker(manifest, test_speakers, valid_speakers):
    """Split a manifest into train, valid and test by speaker."""
    splits = {name: {} for name in SPLITS}
    for utt_id, entry in manifest.items():
        if entry["spk_id"] in test_speakers:
            splits["test"][utt_id] = entry
        elif entry["spk_id"] in valid_speakers:
            splits["valid"][utt_id] = entry
        else:
            splits["train"][utt_id] = entry
    return splits


def _drop_long(utterances, max_seconds, corpus):
    """Leave out the utterances longer than ``max_seconds`` (if not None)."""
    if max_seconds is None:
        return utterances
    kept = [utt for utt in utterances if utt["duration"] <= max_seconds]
    if len(kept) < len(utterances):
        long = collections.Counter(
            utt["emo"] for utt in utterances if utt["duration"] > max_seconds
        )
        logger.info(
            "%d utterances longer than %s s are left out of every split: %s",
            sum(long.values()),
            max_seconds,
            dict(long),
        )
    if not kept:
        raise ValueError(
            f"every utterance of {corpus} kept so far is longer than "
            f"max_utterance_seconds={max_seconds}"
        )
    return kept


def _stratified_draw(manifest, utt_ids, n_drawn, seed, names):
    """Draw ``n_drawn`` of ``utt_ids`` at random, stratified by emotion.

    Returns the ids left and the ids drawn (``names`` name both parts in
    the error raised when the classes are too small to be stratified).
    """
    from sklearn.model_selection import train_test_split

    labels = [manifest[utt_id]["emo"] for utt_id in utt_ids]
    counts = dict(sorted(collections.Counter(labels).items()))
    n_classes = len(counts)
    if min(counts.values()) < 2 or min(n_drawn, len(utt_ids) - n_drawn) < (
        n_classes
    ):
        raise ValueError(
            f"the {names[0]} and {names[1]} splits ({len(utt_ids) - n_drawn} "
            f"and {n_drawn} of {len(utt_ids)} utterances, classes {counts}) "
            "cannot be stratified by emotion: each split needs an utterance "
            "of every class, so every class needs 2 utterances and each "
            f"split at least {n_classes}; use more utterances or change "
            "split_ratio (valid_percent for 'random_kfold')"
        )
    left, drawn = train_test_split(
        utt_ids,
        test_size=n_drawn,
        shuffle=True,
        stratify=labels,
        random_state=seed,
    )
    return left, drawn


def _subsets(manifest, parts):
    """Return ``{split: {utt_id: entry}}`` with the ids of each split sorted."""
    return {
        name: {utt_id: manifest[utt_id] for utt_id in sorted(parts[name])}
        for name in SPLITS
    }


def _split_random(manifest, split_ratio, seed):
    """Split a manifest in the proportions ``split_ratio``, stratified."""
    utt_ids = sorted(manifest)
    total = sum(split_ratio)
    n_train = round(len(utt_ids) * split_ratio[0] / total)
    n_valid = round(len(utt_ids) * split_ratio[1] / total)
    n_valid = min(n_valid, len(utt_ids) - n_train)
    n_test = len(utt_ids) - n_train - n_valid
    rest, test = _stratified_draw(
        manifest, utt_ids, n_test, seed, ("train + valid", "test")
    )
    train, valid = _stratified_draw(
        manifest, sorted(rest), n_valid, seed, ("train", "valid")
    )
    return _subsets(manifest, {"train": train, "valid": valid, "test": test})


def _split_kfold(manifest, n_folds, fold, valid_percent, seed):
    """Fold ``fold`` of an emotion-stratified ``n_folds``-fold split."""
    from sklearn.model_selection import StratifiedKFold

    utt_ids = sorted(manifest)
    labels = [manifest[utt_id]["emo"] for utt_id in utt_ids]
    counts = dict(sorted(collections.Counter(labels).items()))
    small = {emo: n for emo, n in counts.items() if n < n_folds}
    if small:
        raise ValueError(
            f"the 'random_kfold' protocol with n_folds={n_folds} needs at "
            f"least {n_folds} utterances of every class (one per test "
            f"fold); these classes have fewer: {small}"
        )
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    _, test_index = list(folds.split(utt_ids, labels))[fold - 1]
    test = {utt_ids[i] for i in test_index}
    rest = [utt_id for utt_id in utt_ids if utt_id not in test]
    n_valid = round(len(rest) * valid_percent / 100)
    train, valid = _stratified_draw(
        manifest, rest, n_valid, seed, ("train", "valid")
    )
    return _subsets(manifest, {"train": train, "valid": valid, "test": test})


def main(argv=None):
    """Run the command-line entry point of ``prepare_iemocap``.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The paths returned by ``prepare_iemocap``.

    Example
    -------
    >>> paths = main(
    ...     ["--data_folder", "IEMOCAP_full_release", "--save_folder", "out",
    ...      "--protocol", "session", "--fold", "2", "--skip_prep"]
    ... )
    >>> sorted(paths)
    ['all', 'test', 'train', 'valid']
    """
    parser = argparse.ArgumentParser(
        description="Writes IEMOCAP manifests for one fold of a protocol."
    )
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--save_folder", required=True)
    parser.add_argument("--protocol", default="speaker", choices=PROTOCOLS)
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--valid_speaker", default=None)
    parser.add_argument(
        "--label_map",
        nargs="*",
        default=None,
        metavar="FROM=TO",
        help="label mapping, e.g. exc=hap (default: exc=hap)",
    )
    parser.add_argument("--emotions", nargs="+", default=DEFAULT_EMOTIONS)
    parser.add_argument("--improvised_only", action="store_true")
    parser.add_argument(
        "--no_check_counts",
        action="store_true",
        help="skip the full-release count check (subset or generated data)",
    )
    parser.add_argument(
        "--split_ratio", nargs=3, type=float, default=(80, 10, 10)
    )
    parser.add_argument(
        "--n_folds",
        type=int,
        default=5,
        help="folds of the random_kfold protocol (default: 5)",
    )
    parser.add_argument(
        "--valid_percent",
        type=float,
        default=10,
        help="random_kfold: percentage of the non-test utterances used "
        "for validation (default: 10)",
    )
    parser.add_argument(
        "--max_utterance_seconds",
        type=float,
        default=None,
        help="leave longer utterances out of every split (default: keep all)",
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--skip_prep", action="store_true")
    args = parser.parse_args(argv)
    label_map = None
    if args.label_map is not None:
        pairs = [item.split("=", 1) for item in args.label_map]
        if any(len(pair) != 2 for pair in pairs):
            parser.error("--label_map items must look like FROM=TO")
        label_map = dict(pairs)
    if not args.skip_prep:
        try:
            _check_split_ratio(args.split_ratio, args.protocol)
            _check_n_folds(args.n_folds)
            _check_numbers(args.valid_percent, args.max_utterance_seconds)
            check_folders(args.data_folder, args.save_folder)
        except (OSError, ValueError) as error:
            parser.error(str(error))
    logging.basicConfig(level=logging.INFO)
    return prepare_iemocap(
        data_folder=args.data_folder,
        save_folder=args.save_folder,
        protocol=args.protocol,
        fold=args.fold,
        valid_speaker=args.valid_speaker,
        label_map=label_map,
        emotions=args.emotions,
        improvised_only=args.improvised_only,
        check_counts=not args.no_check_counts,
        split_ratio=args.split_ratio,
        seed=args.seed,
        skip_prep=args.skip_prep,
        n_folds=args.n_folds,
        valid_percent=args.valid_percent,
        max_utterance_seconds=args.max_utterance_seconds,
    )


if __name__ == "__main__":
    main()
