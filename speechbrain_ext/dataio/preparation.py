"""Helpers shared by the corpus preparation modules.

Every preparation writes its options next to its outputs, skips when both
exist, parse and match, and never writes inside the corpus folder.

What happens with bad input:

- Arguments are checked before any audio is read (``check_folders`` and the
  checks of each preparation); the error names the argument.
- An audio file with fewer than ``MIN_SAMPLES`` samples (1600, i.e. 0.1 s
  at 16 kHz, the minimum of the inference interface too) is refused by
  name: an encoder with 4x downsampling gives it fewer than two frames, and
  CTC and mean/std pooling turn that into NaN losses.
- A preparation holds an exclusive lock on its save folder
  (``prepare_lock``: ``fcntl.flock`` on ``.prepare.lock`` inside it) from
  the "already prepared?" check to the last write, and writes every output
  to a temporary file of the same folder that ``os.replace`` moves into
  place: two preparations started at once into one folder run one after
  the other and never leave a half-written file. Two preparations with
  different options (e.g. fold 1 and fold 2 of IEMOCAP) into one folder
  write the same file names: the last one wins. Use one save folder per
  fold, as the recipes do.
- ``is_prepared`` trusts existing outputs only when every JSON output
  parses and every csv output has a header; otherwise the preparation
  runs again, with a log line naming the broken file.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import contextlib
import csv
import io
import json
import logging
import os
import unicodedata
import uuid

import numpy as np
import soundfile as sf

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

logger = logging.getLogger(__name__)

OPTIONS_FILE = "prepare_options.json"
LOCK_FILE = ".prepare.lock"
MIN_SAMPLES = 1600
"""Fewest samples an utterance may have: 0.1 s at 16 kHz; shorter files
give fewer than two encoder frames and NaN CTC or pooling losses."""
SILENCE_RMS = 1e-4
"""RMS (on [-1, 1] float audio) below which a noise file counts as silent."""
_MAX_LISTED = 20


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


def check_folders(data_folder, save_folder):
    """Checks ``data_folder`` and ``save_folder`` before anything is read.

    ``data_folder`` must be an existing folder; ``save_folder`` must be an
    existing folder or a path that can be created (no file in the way), and
    must not be inside ``data_folder``.

    Arguments
    ---------
    data_folder : str
        The corpus, which is only read.
    save_folder : str
        Where outputs go.

    Raises
    ------
    FileNotFoundError
        If ``data_folder`` does not exist.
    NotADirectoryError
        If ``data_folder`` or ``save_folder`` (or a folder above it) is a
        file.
    ValueError
        If ``save_folder`` is inside ``data_folder``.

    Example
    -------
    >>> import tempfile
    >>> data, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> check_folders(data, os.path.join(out, "new", "folder"))
    >>> a_file = os.path.join(out, "a_file")
    >>> open(a_file, "w").close()
    >>> try:
    ...     check_folders(data, a_file)
    ... except NotADirectoryError as error:
    ...     print(str(error).replace(a_file, "<file>"))
    save_folder <file> is a file, not a folder
    >>> try:
    ...     check_folders(os.path.join(data, "missing"), out)
    ... except FileNotFoundError as error:
    ...     print(str(error).replace(data, "<tmp>"))
    data_folder <tmp>/missing does not exist
    """
    if not os.path.exists(data_folder):
        raise FileNotFoundError(f"data_folder {data_folder} does not exist")
    if not os.path.isdir(data_folder):
        raise NotADirectoryError(
            f"data_folder {data_folder} is a file, not a folder"
        )
    if os.path.exists(save_folder) and not os.path.isdir(save_folder):
        raise NotADirectoryError(
            f"save_folder {save_folder} is a file, not a folder"
        )
    parent = os.path.dirname(os.path.abspath(save_folder))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(
            f"save_folder {save_folder} cannot be created: {parent} is a "
            "file, not a folder"
        )
    check_save_folder(save_folder, data_folder)


class AudioTooShortError(ValueError):
    """An audio file holds fewer samples than a preparation accepts."""


def audio_duration(
    path, corpus, sample_rate=16000, mono=True, min_samples=MIN_SAMPLES
):
    """Duration of an audio file after checking its rate, channels, length.

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
    min_samples : int
        Fewest samples accepted (default ``MIN_SAMPLES``, 1600 = 0.1 s at
        16 kHz); 0 accepts empty files.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    ValueError
        If the file is unreadable, has another rate or is not mono.
    AudioTooShortError
        (a ``ValueError``) If it has fewer than ``min_samples`` samples.

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
    >>> sf.write(path, np.zeros(10), 16000)
    >>> try:
    ...     audio_duration(path, "Emo-DB")
    ... except AudioTooShortError as error:
    ...     print(str(error).split(";")[0].replace(path, "<wav>"))
    <wav> is too short: 10 samples (0.001 s)
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
    if info.frames < min_samples:
        raise AudioTooShortError(
            f"{path} is too short: {info.frames} samples "
            f"({info.frames / info.samplerate:.3f} s); {corpus} preparation "
            f"refuses audio with fewer than {min_samples} samples "
            f"({1000 * min_samples / sample_rate:g} ms), which gives empty "
            "features and NaN CTC or pooling losses. Remove or replace the "
            "file."
        )
    return info.frames / info.samplerate


def audio_durations(paths, corpus, sample_rate=16000, mono=True):
    """Durations of audio files, listing every too-short file in one error.

    Each file is checked by ``audio_duration``; a file of another rate or
    an unreadable one raises at once, files shorter than ``MIN_SAMPLES``
    are collected and reported together.

    Arguments
    ---------
    paths : iterable of str
        Audio files.
    corpus : str
        Corpus name, for the error message.
    sample_rate : int
        Required sample rate.
    mono : bool
        Whether the files must have one channel.

    Returns
    -------
    dict
        path -> seconds.

    Raises
    ------
    AudioTooShortError
        Listing the files with fewer than ``MIN_SAMPLES`` samples.

    Example
    -------
    >>> import tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, n) for n in ("a.wav", "b.wav")]
    >>> sf.write(paths[0], np.zeros(1600), 16000)
    >>> sf.write(paths[1], np.zeros(0), 16000)
    >>> try:
    ...     audio_durations(paths, "test")
    ... except AudioTooShortError as error:
    ...     print(str(error).splitlines()[0])
    1 test audio files are too short (fewer than 1600 samples, 100 ms):
    >>> audio_durations(paths[:1], "test")[paths[0]]
    0.1
    """
    durations, short = {}, []
    for path in paths:
        try:
            durations[path] = audio_duration(path, corpus, sample_rate, mono)
        except AudioTooShortError as error:
            short.append(str(error).split(";")[0])
    if short:
        raise AudioTooShortError(
            f"{len(short)} {corpus} audio files are too short (fewer than "
            f"{MIN_SAMPLES} samples, {1000 * MIN_SAMPLES / sample_rate:g} "
            "ms):\n  "
            + _listing(short)
            + "\nShorter files give empty features and NaN CTC or pooling "
            "losses; remove or replace them."
        )
    return durations


def audio_level(path, block_size=65536):
    """RMS and peak of an audio file, read block by block.

    The file is never held in memory as a whole: it is read in blocks of
    ``block_size`` frames (``soundfile.blocks``) as float in [-1, 1].

    Arguments
    ---------
    path : str
        Audio file.
    block_size : int
        Frames per block.

    Returns
    -------
    rms : float
        Root mean square over every sample of every channel (0.0 for an
        empty file).
    peak : float
        Largest absolute sample value.

    Example
    -------
    >>> import tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.full(1000, 0.5), 16000, subtype="FLOAT")
    >>> audio_level(path, block_size=300)
    (0.5, 0.5)
    """
    total, count, peak = 0.0, 0, 0.0
    try:
        for block in sf.blocks(
            path, blocksize=block_size, dtype="float32", always_2d=True
        ):
            if block.size:
                block = block.astype(np.float64)
                total += float(np.dot(block.ravel(), block.ravel()))
                count += block.size
                peak = max(peak, float(np.abs(block).max()))
    except (RuntimeError, OSError, ValueError) as error:
        raise ValueError(f"cannot read audio file {path}: {error}") from None
    rms = (total / count) ** 0.5 if count else 0.0
    return rms, peak


def normalize_unicode(text):
    r"""Folds Unicode variants of a text onto plain letters.

    Applies NFKC (full-width letters, ligatures and other compatibility
    forms become their usual characters), then strips accents by removing
    the combining marks of the NFKD decomposition, so that "cafe" with a
    precomposed or a combining acute accent, or in full-width letters, is
    always "cafe". Meant for English transcripts (removing combining marks
    would damage scripts that need them).

    Arguments
    ---------
    text : str
        Any text.

    Returns
    -------
    str
        The folded text, in NFC.

    Example
    -------
    >>> normalize_unicode("\uff28\uff25\uff2c\uff2c\uff2f caf\u00e9")
    'HELLO cafe'
    >>> normalize_unicode("cafe\u0301") == normalize_unicode("caf\u00e9")
    True
    """
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", text)


def is_prepared(save_folder, options, outputs):
    """Tells whether the outputs exist, are intact and match ``options``.

    Outputs ending in ``.json`` must parse; outputs ending in ``.csv`` must
    have a header line starting with ``ID``, rows as long as the header and
    a final newline. A broken output is logged by name and means "not
    prepared".

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
    >>> manifest = os.path.join(folder, "train.json")
    >>> with open(manifest, "w") as f:
    ...     _ = f.write('{"utt1": {"wav": "a.w')
    >>> is_prepared(folder, options, [manifest])
    False
    """
    path = os.path.join(save_folder, OPTIONS_FILE)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError) as error:
        logger.warning("%s is unreadable (%s); preparing again", path, error)
        return False
    if not isinstance(previous, dict):
        return False
    if previous.get("prepare") != options["prepare"]:
        logger.warning(
            "%s holds outputs of %s; use a separate save_folder per corpus",
            save_folder,
            previous.get("prepare"),
        )
    if previous != options:
        return False
    for output in outputs:
        problem = _output_problem(output)
        if problem is not None:
            logger.warning(
                "%s %s; preparing %s again", output, problem, save_folder
            )
            return False
    return True


def _output_problem(path):
    """Return why an output cannot be trusted, or None when it is intact."""
    if not os.path.isfile(path):
        return "is missing"
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if path.endswith(".json"):
                json.load(f)
            elif path.endswith(".csv"):
                text = f.read()
                rows = list(csv.reader(io.StringIO(text)))
                if not rows or rows[0][0:1] != ["ID"] or text[-1:] != "\n":
                    return "has no complete csv header starting with ID"
                if any(len(row) != len(rows[0]) for row in rows):
                    return "has csv rows of the wrong length (cut short?)"
    except (OSError, ValueError) as error:
        return f"is broken ({type(error).__name__}: {error})"
    return None


def remove_options(save_folder):
    """Removes a previous options file so a failed run never looks done.

    Arguments
    ---------
    save_folder : str
        Folder holding the options file.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_json(os.path.join(folder, OPTIONS_FILE), {"prepare": "demo"})
    >>> remove_options(folder)
    >>> os.listdir(folder)
    []
    """
    path = os.path.join(save_folder, OPTIONS_FILE)
    if os.path.isfile(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_write(path, newline=None):
    r"""Opens a temporary text file that replaces ``path`` when closed.

    The data goes to a hidden temporary file of the same folder, which is
    flushed to disk and moved onto ``path`` with ``os.replace`` when the
    block ends without error (and removed otherwise): a reader or a
    concurrent writer never sees a half-written ``path``.

    Arguments
    ---------
    path : str
        Final file.
    newline : str, optional
        Passed to ``open`` (``""`` for the csv module).

    Yields
    ------
    file
        The temporary file, open for writing in UTF-8.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with atomic_write(path) as f:
    ...     _ = f.write("hello\n")
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('hello\n', ['a.txt'])
    """
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_json(path, data):
    r"""Writes ``data`` as indented JSON, atomically (see ``atomic_write``).

    Arguments
    ---------
    path : str
        Output file.
    data : object
        JSON-serialisable data.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.json")
    >>> write_json(path, {"a": 1})
    >>> open(path).read()
    '{\n  "a": 1\n}\n'
    """
    with atomic_write(path) as f:
        json.dump(data, f, indent=2)
        f.write("\n")


@contextlib.contextmanager
def prepare_lock(save_folder):
    """Holds an exclusive lock on a save folder, creating the folder.

    Takes ``fcntl.flock`` on ``save_folder/.prepare.lock``; a second
    preparation into the same folder waits (with a log line) until the
    first one ends, then finds its outputs. The lock is released, and the
    lock file removed, when the block ends, also on an exception; a save
    folder created by this call is removed again when the block fails and
    leaves it empty. On platforms without ``fcntl`` no lock is taken, and
    some network file systems do not share ``flock`` locks between
    machines: start preparations of one folder from one machine.

    Arguments
    ---------
    save_folder : str
        Folder receiving the outputs.

    Yields
    ------
    str
        The save folder.

    Example
    -------
    >>> import tempfile
    >>> save = os.path.join(tempfile.mkdtemp(), "prepared")
    >>> with prepare_lock(save):
    ...     os.path.isfile(os.path.join(save, LOCK_FILE))
    True
    >>> os.listdir(save)
    []
    """
    created = False
    lock_path = os.path.join(save_folder, LOCK_FILE)
    while True:
        parent = os.path.dirname(os.path.abspath(save_folder))
        os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(save_folder)
            created = True
        except FileExistsError:
            pass
        if fcntl is None:  # pragma: no cover - not POSIX
            fd = None
            break
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.info(
                    "waiting for another preparation writing to %s",
                    save_folder,
                )
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _is_same_file(fd, lock_path):
                break
        except BaseException:
            os.close(fd)
            raise
        # The holder before us removed the lock file: lock the new one.
        os.close(fd)
    failed = False
    try:
        yield save_folder
    except BaseException:
        failed = True
        raise
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.remove(lock_path)
        if failed and created:
            with contextlib.suppress(OSError):
                os.rmdir(save_folder)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _is_same_file(fd, path):
    """Tell whether the open file ``fd`` is still the file at ``path``."""
    try:
        linked = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (linked.st_dev, linked.st_ino)


def _listing(lines, limit=_MAX_LISTED):
    """Join at most ``limit`` lines, saying how many more there are."""
    text = "\n  ".join(lines[:limit])
    if len(lines) > limit:
        text += f"\n  ... and {len(lines) - limit} more"
    return text
