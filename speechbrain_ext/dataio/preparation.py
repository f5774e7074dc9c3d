"""Helpers shared by the corpus preparation modules.

Every preparation writes its options next to its outputs, skips when both
exist and match, and never writes inside the corpus folder.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import json
import logging
import os

import soundfile as sf

logger = logging.getLogger(__name__)

OPTIONS_FILE = "prepare_options.json"


def check_save_folder(save_folder, data_folder):
    """Refuses a save folder that is the data folder or inside it.

    Arguments
    ---------
    save_folder : str
        Where outputs go.
    data_folder : str
        The corpus, which is only read.

    Example
    -------
    >>> check_save_folder("/data/out", "/corpus")
    >>> try:
    ...     check_save_folder("/corpus/out", "/corpus")
    ... except ValueError as error:
    ...     print(str(error).split(";")[0])
    save_folder /corpus/out is inside data_folder /corpus
    """
    save = os.path.realpath(save_folder)
    data = os.path.realpath(data_folder)
    if save == data or save.startswith(data + os.sep):
        raise ValueError(
            f"save_folder {save_folder} is inside data_folder {data_folder}; "
            "choose a folder outside the corpus, which is only read"
        )


def audio_duration(path, corpus, sample_rate=16000, mono=True):
    """Duration of an audio file after checking its rate and channels.

    Arguments
    ---------
    path : str
        Audio file.
    corpus : str
        Corpus name, for the error message.
    sample_rate : int
        Required sample rate.
    mono : bool
        Whether the file must have one channel.

    Returns
    -------
    float
        Seconds.

    Example
    -------
    >>> import tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(8000), 8000)
    >>> try:
    ...     audio_duration(path, "MUSAN")
    ... except ValueError as error:
    ...     print(str(error).split("; ")[1])
    MUSAN files are 16000 Hz
    >>> audio_duration(path, "test", sample_rate=8000)
    1.0
    """
    try:
        info = sf.info(path)
    except (RuntimeError, OSError, ValueError) as error:
        raise ValueError(f"cannot read audio file {path}: {error}") from None
    if info.samplerate != sample_rate:
        raise ValueError(
            f"{path} has a sample rate of {info.samplerate} Hz; {corpus} "
            f"files are {sample_rate} Hz"
        )
    if mono and info.channels != 1:
        raise ValueError(
            f"{path} has {info.channels} channels; {corpus} files are mono"
        )
    return info.frames / info.samplerate


def is_prepared(save_folder, options, outputs):
    """Tells whether the outputs exist and were made with ``options``.

    Arguments
    ---------
    save_folder : str
        Folder holding the options file.
    options : dict
        The options of this call (with a ``prepare`` key naming the
        preparation).
    outputs : list of str
        Files the preparation writes.

    Returns
    -------
    bool

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> options = {"prepare": "demo", "seed": 1}
    >>> write_json(os.path.join(folder, OPTIONS_FILE), options)
    >>> changed = {**options, "seed": 2}
    >>> is_prepared(folder, options, []), is_prepared(folder, changed, [])
    (True, False)
    """
    path = os.path.join(save_folder, OPTIONS_FILE)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError):
        return False
    if previous.get("prepare") != options["prepare"]:
        logger.warning(
            "%s holds outputs of %s; use a separate save_folder per corpus",
            save_folder,
            previous.get("prepare"),
        )
    return previous == options and all(os.path.isfile(p) for p in outputs)


def remove_options(save_folder):
    """Removes a previous options file so a failed run never looks done.

    Arguments
    ---------
    save_folder : str
        Folder holding the options file.
    """
    path = os.path.join(save_folder, OPTIONS_FILE)
    if os.path.isfile(path):
        os.remove(path)


def write_json(path, data):
    """Writes ``data`` as indented JSON.

    Arguments
    ---------
    path : str
        Output file.
    data : object
        JSON-serialisable data.
    """
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
