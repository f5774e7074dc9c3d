"""Helpers shared by the corpus preparation modules.

Every preparation writes its options next to its outputs, skips when both
exist and match, and never writes inside the corpus folder.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import json
import logging
import os

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
