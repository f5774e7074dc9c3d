"""Builders of tiny corpora in the layouts read by the preparation modules.

Every builder writes short sine or noise wavs with soundfile under a given
root folder and returns what the tests need to know about the corpus.
"""

import os

import numpy as np
import soundfile as sf

# the emotion letters of Emo-DB file names (test_emodb_prepare checks the
# table against the corpus documentation)
from speechbrain_ext.dataio.emodb_prepare import EMODB_EMOTIONS

SAMPLE_RATE = 16000


def write_wav(
    path,
    seconds=0.12,
    sample_rate=SAMPLE_RATE,
    kind="sine",
    seed=0,
    channels=1,
    file_format=None,
):
    """Write a short sine or noise signal and return its path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    n = int(round(seconds * sample_rate))
    if kind == "sine":
        t = np.arange(n) / sample_rate
        signal = 0.1 * np.sin(2 * np.pi * (220 + 20 * seed) * t)
    else:
        signal = 0.05 * np.random.default_rng(seed).standard_normal(n)
    if channels > 1:
        signal = np.stack([signal] * channels, axis=1)
    sf.write(path, signal.astype("float32"), sample_rate, format=file_format)
    return path


# (utterance suffix, label) of the two dialogs of every session. The
# improvised dialog is named after the F speaker and the scripted one after
# the M speaker, but both hold utterances of both speakers.
IEMOCAP_IMPRO = [
    ("F000", "neu"),
    ("M000", "hap"),
    ("F001", "exc"),
    ("M001", "sad"),
    ("F002", "ang"),
    ("M002", "fru"),
]
IEMOCAP_SCRIPT = [
    ("F000", "xxx"),
    ("M000", "neu"),
    ("F001", "sad"),
    ("M001", "exc"),
    ("F002", "ang"),
    ("M002", "hap"),
]
# Utterance whose transcript holds only tags.
IEMOCAP_TAG_ONLY = "Ses02M_script01_1_M002"


def iemocap_dialogs(session):
    """Return the dialog names of a session of the tiny IEMOCAP."""
    return [f"Ses{session:02d}F_impro01", f"Ses{session:02d}M_script01_1"]


def iemocap_text(utt_id):
    """Return the raw transcript written for an utterance."""
    if utt_id == IEMOCAP_TAG_ONLY:
        return "[BREATHING] [LAUGHTER]"
    index = utt_id.split("_")[-1]
    return f"Oh, I'm {index.lower()} -- really! [LAUGHTER]"


def iemocap_paths(data_folder, utt_id):
    """Return the evaluation, transcription and wav paths of an utterance."""
    session = f"Session{int(utt_id[3:5])}"
    dialog = utt_id.rsplit("_", 1)[0]
    base = os.path.join(data_folder, session)
    return {
        "emo": os.path.join(base, "dialog", "EmoEvaluation", dialog + ".txt"),
        "trn": os.path.join(base, "dialog", "transcriptions", dialog + ".txt"),
        "wav": os.path.join(base, "sentences", "wav", dialog, utt_id + ".wav"),
    }


def make_iemocap(root, sessions=(1, 2, 3, 4, 5), seconds=0.12):
    """Write a tiny IEMOCAP_full_release under ``root``.

    Every session has an improvised and a scripted dialog of 6 utterances
    (labels ``IEMOCAP_IMPRO`` and ``IEMOCAP_SCRIPT``), so that each session
    brings 2 neu, 4 hap (2 of them exc), 2 sad, 2 ang, 1 fru and 1 xxx.

    Returns
    -------
    data_folder : str
        The ``IEMOCAP_full_release`` folder.
    expected : dict
        utt_id -> {"label", "spk_id", "session", "improvised", "text"}.
    """
    data_folder = os.path.join(str(root), "IEMOCAP_full_release")
    expected = {}
    for session in sessions:
        for dialog, labels in zip(
            iemocap_dialogs(session), [IEMOCAP_IMPRO, IEMOCAP_SCRIPT]
        ):
            emo_lines = [
                "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]",
                "",
            ]
            trn_lines = []
            for i, (suffix, label) in enumerate(labels):
                utt_id = f"{dialog}_{suffix}"
                start, end = 2.0 * i + 1.5, 2.0 * i + 2.75
                emo_lines += [
                    f"[{start:.4f} - {end:.4f}]\t{utt_id}\t{label}\t"
                    "[2.5000, 3.0000, 2.5000]",
                    "C-E2:\tNeutral;\t()",
                    "C-E3:\tNeutral;\tOther:calm",
                    "A-E3:\tval 3; act 2; dom  2;\t()",
                    "",
                ]
                trn_lines.append(
                    f"{utt_id} [{start:08.4f}-{end:08.4f}]: "
                    + iemocap_text(utt_id)
                )
                if i == 2:
                    # Lines that are not utterances of the label file.
                    trn_lines.append("M: [LAUGHTER]")
                    trn_lines.append(
                        f"{dialog}_MXX0 [{end:08.4f}-{end + 1:08.4f}]: Overlap."
                    )
                paths = iemocap_paths(data_folder, utt_id)
                write_wav(paths["wav"], seconds=seconds, seed=i)
                expected[utt_id] = {
                    "label": label,
                    "spk_id": f"Ses{session:02d}{suffix[0]}",
                    "session": session,
                    "improvised": "impro" in dialog,
                    "text": iemocap_text(utt_id),
                }
            _write_lines(paths["emo"], emo_lines)
            _write_lines(paths["trn"], trn_lines)
    return data_folder, expected


def make_musan(root, counts=None, sample_rate=SAMPLE_RATE):
    """Write a tiny MUSAN under ``root/musan``.

    Arguments
    ---------
    counts : dict, optional
        Number of files per category; they are spread over two sources.

    Returns
    -------
    str
        The ``musan`` folder.
    """
    if counts is None:
        counts = {"noise": 5, "music": 4, "speech": 3}
    musan = os.path.join(str(root), "musan")
    for category, count in counts.items():
        folder = os.path.join(musan, category)
        for i in range(count):
            source = "free-sound" if i % 2 == 0 else "sound-bible"
            path = os.path.join(
                folder, source, f"{category}-{source}-{i:04d}.wav"
            )
            write_wav(
                path,
                seconds=0.12 + 0.01 * i,
                sample_rate=sample_rate,
                kind="noise",
                seed=i,
            )
        os.makedirs(folder, exist_ok=True)
        _write_lines(os.path.join(folder, "ANNOTATIONS"), ["file type"])
    _write_lines(os.path.join(musan, "README"), ["MUSAN corpus"])
    return musan


EMODB_SPEAKERS = ("03", "08", "09", "10", "11")


def make_emodb(root, speakers=EMODB_SPEAKERS, texts=("a01", "b02")):
    """Write a tiny Emo-DB under ``root/emodb/wav``.

    Every speaker says every text in every emotion (version ``a``), and the
    first text a second time in anger (version ``b``).

    Returns
    -------
    data_folder : str
        The Emo-DB folder (holding ``wav``).
    expected : dict
        utt_id -> {"spk_id", "emo", "text_id"}.
    """
    data_folder = os.path.join(str(root), "emodb")
    expected = {}
    for spk in speakers:
        items = [(t, e, "a") for t in texts for e in EMODB_EMOTIONS]
        items.append((texts[0], "W", "b"))
        for i, (text, letter, version) in enumerate(items):
            utt_id = f"{spk}{text}{letter}{version}"
            write_wav(
                os.path.join(data_folder, "wav", utt_id + ".wav"),
                seconds=0.12,
                seed=i,
            )
            expected[utt_id] = {
                "spk_id": spk,
                "emo": EMODB_EMOTIONS[letter],
                "text_id": text,
            }
    return data_folder, expected


LIBRISPEECH_TEXTS = {
    "train-clean-100": {
        ("19", "198"): ["THE CAT SAT", "THE DOG RAN AWAY", "A CAT"],
        ("26", "495"): ["THE END", "DOG AND CAT"],
    },
    "dev-clean": {("84", "121123"): ["HELLO WORLD", "THE WORLD"]},
}


def make_librispeech(root, texts=None):
    """Write a tiny LibriSpeech under ``root/LibriSpeech``.

    Arguments
    ---------
    texts : dict, optional
        split -> {(speaker, chapter): [transcript, ...]}.

    Returns
    -------
    data_folder : str
        The ``LibriSpeech`` folder.
    expected : dict
        split -> {utt_id: {"spk_id", "wrd"}}.
    """
    if texts is None:
        texts = LIBRISPEECH_TEXTS
    data_folder = os.path.join(str(root), "LibriSpeech")
    expected = {}
    for split, chapters in texts.items():
        expected[split] = {}
        for (spk, chapter), lines in chapters.items():
            folder = os.path.join(data_folder, split, spk, chapter)
            trans = []
            for i, text in enumerate(lines):
                utt_id = f"{spk}-{chapter}-{i:04d}"
                write_wav(
                    os.path.join(folder, utt_id + ".flac"),
                    seconds=0.12,
                    seed=i,
                    file_format="FLAC",
                )
                trans.append(f"{utt_id} {text}")
                expected[split][utt_id] = {"spk_id": spk, "wrd": text}
            _write_lines(
                os.path.join(folder, f"{spk}-{chapter}.trans.txt"), trans
            )
    return data_folder, expected


def _write_lines(path, lines):
    """Write lines of text, creating the folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
