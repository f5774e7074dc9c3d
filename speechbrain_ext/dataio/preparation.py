"""Helpers shared by the corpus preparation modules.

Every preparation writes its options next to its outputs, skips when both
exist, parse and match, and never writes inside the corpus folder.

What happens with bad input:

- Arguments are checked before any audio is read (``check_folders`` and the
  checks of each preparation); the error names the argument. A save folder
  inside the corpus is refused before anything is written.
- An audio file with fewer than ``MIN_SAMPLES`` samples (1600, i.e. 0.1 s
  at 16 kHz, the minimum of the inference interface too) is refused by
  name: an encoder with 4x downsampling gives it fewer than two frames, and
  CTC and mean/std pooling turn that into NaN losses. A float audio file
  holding NaN or infinite samples is refused by name too.
- Text files are decoded as UTF-8; ``read_text_lines`` names the file and
  the line of a byte sequence that is not UTF-8 (and may decode the file
  with a fallback encoding instead, with a warning naming both).
- A preparation holds an exclusive lock on its save folder
  (``prepare_lock``: ``filelock.FileLock`` on ``.prepare.lock`` inside it,
  removed when the preparation ends) from
  the "already prepared?" check to the last write, and writes every output
  to a temporary file of the same folder (``TMP_PREFIX`` + process id +
  random part + file name + ``.tmp``) that ``os.replace`` moves into
  place: two preparations started at once into one folder run one after
  the other and never leave a half-written file. Temporary files of a
  killed preparation are removed by the next one
  (``remove_stale_temporary_files``), in the save folder only. Two
  preparations with different options (e.g. fold 1 and fold 2 of IEMOCAP)
  into one folder write the same file names: the last one wins. Use one
  save folder per fold, as the recipes do.
- A complete preparation in a save folder that cannot be written (read-only
  file system or permissions) is reused without writing anything
  (``reuse_or_lock``).
- ``is_prepared`` trusts existing outputs only when the options match,
  including a fingerprint of the corpus files that were read (count, total
  size, latest modification time and a digest of every path, size and
  modification time: ``corpus_fingerprint``), every JSON output parses,
  every csv output has a header, and every output holds as many entries as
  when it was written; otherwise the preparation runs again, with a log
  line naming what differs.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import contextlib
import csv
import errno
import hashlib
import io
import json
import logging
import os
import re
import stat
import unicodedata
import uuid

import filelock
import numpy as np
import soundfile as sf

logger = logging.getLogger(__name__)

OPTIONS_FILE = "prepare_options.json"
LOCK_FILE = ".prepare.lock"
MIN_SAMPLES = 1600
"""Fewest samples an utterance may have, in preparation and at inference:
0.1 s at 16 kHz. Below 640 samples the demo encoders leave one frame and
mean + std pooling or CTC losses turn to NaN; wav2vec2 needs 400 samples
for its first frame. 0.1 s leaves a margin and holds no word or emotion
anyway."""
SILENCE_RMS = 1e-4
"""RMS (on [-1, 1] float audio) below which a noise file counts as silent."""
TMP_PREFIX = ".prepare-tmp-"
"""Start of the name of every temporary file written by ``atomic_write``;
the process id, a random part and the file name follow, and ``.tmp`` ends
it: ``.prepare-tmp-<pid>-<32 hex digits>-<name>.tmp``.
"""
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
"""soundfile subtypes that can hold NaN or infinite samples."""
_TMP_NAME = re.compile(
    rf"^{re.escape(TMP_PREFIX)}(\d+)-[0-9a-f]{{32}}-.+\.tmp$"
)
_READ_ONLY_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)
_MAX_LISTED = 20


def check_save_folder(save_folder, data_folder, name="save_folder"):
    """Refuses a save folder that is the data folder or inside it.

    Only the paths are compared (after resolving links): nothing needs to
    exist, and nothing is created.

    Arguments
    ---------
    save_folder : str
        Where outputs go.
    data_folder : str
        The corpus, which is only read.
    name : str
        Name of the save folder in the message (e.g. ``output_folder``).

    Raises
    ------
    ValueError
        Naming both folders.

    Example
    -------
    >>> check_save_folder("/data/out", "/corpus")
    >>> try:
    ...     check_save_folder("/corpus/out", "/corpus", "output_folder")
    ... except ValueError as error:
    ...     print(str(error).split(";")[0])
    output_folder /corpus/out is inside data_folder /corpus
    """
    save = os.path.realpath(save_folder)
    data = os.path.realpath(data_folder)
    if save == data or save.startswith(data.rstrip(os.sep) + os.sep):
        raise ValueError(
            f"{name} {save_folder} is inside data_folder {data_folder}; "
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

    A file of a float subtype (``FLOAT``, ``DOUBLE``) is also read, block by
    block, and refused when it holds a NaN or infinite sample; integer
    formats (PCM wav, flac) cannot hold such values and are not read.

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
        If the file is unreadable, has another rate, is not mono or holds
        NaN or infinite samples.
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
    >>> sf.write(path, np.full(1600, np.nan), 16000, subtype="FLOAT")
    >>> try:
    ...     audio_duration(path, "Emo-DB")
    ... except ValueError as error:
    ...     print(str(error).split(";")[0].replace(path, "<wav>"))
    <wav> holds non-finite samples (NaN or infinity): 1600, the first at frame 0
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
    if info.subtype in FLOAT_SUBTYPES:
        non_finite, first = _scan(path)[2:]
        if non_finite:
            raise ValueError(
                f"{_non_finite_problem(path, non_finite, first)}; {corpus} "
                "preparation refuses such audio, which turns features and "
                "losses into NaN. Remove or replace the file."
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

    Raises
    ------
    ValueError
        If the file is unreadable or holds NaN or infinite samples (which
        have no level).

    Example
    -------
    >>> import tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.full(1000, 0.5), 16000, subtype="FLOAT")
    >>> audio_level(path, block_size=300)
    (0.5, 0.5)
    """
    rms, peak, non_finite, first = _scan(path, block_size)
    if non_finite:
        raise ValueError(_non_finite_problem(path, non_finite, first))
    return rms, peak


def _scan(path, block_size=65536):
    """Read a file block by block: (rms, peak, non-finite count, first).

    ``rms`` and ``peak`` are over the finite samples; ``first`` is the frame
    of the first non-finite sample (None when there is none).
    """
    total, count, peak = 0.0, 0, 0.0
    non_finite, first, frame = 0, None, 0
    try:
        for block in sf.blocks(
            path, blocksize=block_size, dtype="float64", always_2d=True
        ):
            values = block.ravel()
            finite = np.isfinite(block)
            if not finite.all():
                if first is None:
                    bad_frames = np.flatnonzero(~finite.all(axis=1))
                    first = frame + int(bad_frames[0])
                non_finite += int(block.size - finite.sum())
                values = block[finite]
            frame += len(block)
            if values.size:
                total += float(np.dot(values, values))
                count += values.size
                peak = max(peak, float(np.abs(values).max()))
    except (RuntimeError, OSError, ValueError) as error:
        raise ValueError(f"cannot read audio file {path}: {error}") from None
    rms = (total / count) ** 0.5 if count else 0.0
    return rms, peak, non_finite, first


def _non_finite_problem(path, count, first):
    """Describe the non-finite samples of a file."""
    return (
        f"{path} holds non-finite samples (NaN or infinity): {count}, the "
        f"first at frame {first}"
    )


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


def read_text_lines(path, fallback_encoding=None):
    r"""Lines of a text file, decoded strictly as UTF-8.

    Line ends are those of ``open`` in text mode (``\n``, ``\r\n``,
    ``\r``, all read as ``\n``).

    Arguments
    ---------
    path : str
        Text file.
    fallback_encoding : str, optional
        Encoding of a file that is not UTF-8 (e.g. ``"cp1252"``): the whole
        file is decoded with it and a warning names the file and its first
        line that is not UTF-8. Without it, such a file is refused.

    Returns
    -------
    list of str
        The lines, each ending in ``\n`` but perhaps the last.

    Raises
    ------
    ValueError
        If the file is not UTF-8 (and not ``fallback_encoding`` either);
        the message names the file, the line and the bytes.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(path, "wb") as f:
    ...     _ = f.write("A\r\nCAF\u00c9\n".encode("cp1252"))
    >>> try:
    ...     read_text_lines(path)
    ... except ValueError as error:
    ...     print(str(error).replace(path, "<txt>").split(";")[0])
    <txt>, line 2: byte b'\xc9' is not UTF-8
    >>> read_text_lines(path, fallback_encoding="cp1252")
    ['A\n', 'CAF\xc9\n']
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problem = (
            f"{path}, line {line}: byte {data[error.start : error.end]!r} is "
            "not UTF-8"
        )
        if fallback_encoding is None:
            raise ValueError(f"{problem}; save the file as UTF-8") from None
        try:
            text = data.decode(fallback_encoding)
        except UnicodeDecodeError as second:
            line = data.count(b"\n", 0, second.start) + 1
            raise ValueError(
                f"{problem}, and {path} is not {fallback_encoding} either "
                f"(line {line}: byte {data[second.start : second.end]!r}); "
                "save the file as UTF-8"
            ) from None
        logger.warning(
            "%s; %s is decoded as %s. Check its text, or save it as UTF-8",
            problem,
            path,
            fallback_encoding,
        )
    return io.StringIO(text, newline=None).readlines()


def corpus_fingerprint(paths):
    """A cheap fingerprint of corpus files, from their metadata only.

    Every file is ``stat``-ed, none is read: the fingerprint changes when a
    file is added, removed, renamed, resized or modified (its modification
    time changes).

    Arguments
    ---------
    paths : iterable of str
        Files a preparation reads (audio and annotations).

    Returns
    -------
    dict
        ``files`` (count), ``bytes`` (total size), ``latest_mtime_ns``
        (latest modification time) and ``digest`` (SHA-256 of every path,
        size and modification time, in sorted order).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("hello")
    >>> before = corpus_fingerprint([path])
    >>> before["files"], before["bytes"]
    (1, 5)
    >>> os.utime(path, ns=(0, 10**18))
    >>> corpus_fingerprint([path]) == before
    False
    """
    digest = hashlib.sha256()
    files = size = latest = 0
    for path in sorted(os.path.abspath(p) for p in paths):
        info = os.stat(path)
        files += 1
        size += info.st_size
        latest = max(latest, info.st_mtime_ns)
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return {
        "files": files,
        "bytes": size,
        "latest_mtime_ns": latest,
        "digest": digest.hexdigest(),
    }


def is_prepared(save_folder, options, outputs):
    """Tells whether the outputs exist, are intact and match ``options``.

    The options file must hold ``options`` (the preparations put the
    ``corpus_fingerprint`` of the files they read under ``corpus``: a
    changed corpus means "not prepared") and the entry counts that
    ``write_options`` recorded. Outputs ending in ``.json`` must parse and
    hold as many entries as recorded; outputs ending in ``.csv`` must have
    a header line starting with ``ID``, rows as long as the header, a final
    newline and as many rows as recorded (a csv file cut at a line boundary
    is caught). What differs is logged and means "not prepared".

    Arguments
    ---------
    save_folder : str
        Folder holding the options file.
    options : dict
        The options of this call (with a ``prepare`` key naming the
        preparation).
    outputs : iterable of str
        Files the preparation writes.

    Returns
    -------
    bool

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> manifest = os.path.join(folder, "train.json")
    >>> write_json(manifest, {"utt1": {"wav": "a.wav"}})
    >>> options = {"prepare": "demo", "seed": 1}
    >>> write_options(folder, options, [manifest])
    >>> changed = {**options, "seed": 2}
    >>> is_prepared(folder, options, [manifest])
    True
    >>> is_prepared(folder, changed, [manifest])
    False
    >>> write_json(manifest, {})
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
    rows = previous.pop("rows", None)
    if previous != options:
        changed = sorted(
            key
            for key in set(previous) | set(options)
            if previous.get(key) != options.get(key)
        )
        if "corpus" in changed:
            logger.info(
                "the corpus files changed since the preparation in %s "
                "(%s, now %s); preparing again",
                save_folder,
                previous.get("corpus"),
                options.get("corpus"),
            )
        else:
            logger.info(
                "%s was written with other options (%s); preparing again",
                path,
                ", ".join(changed),
            )
        return False
    if not isinstance(rows, dict):
        logger.info("%s records no entry counts; preparing again", path)
        return False
    for output in outputs:
        found, problem = _read_output(output)
        recorded = rows.get(_output_key(save_folder, output))
        if problem is None and found != recorded:
            problem = (
                f"holds {found} entries, not the {recorded} written "
                "(cut short or edited?)"
            )
        if problem is not None:
            logger.warning(
                "%s %s; preparing %s again", output, problem, save_folder
            )
            return False
    return True


def write_options(save_folder, options, outputs):
    """Writes the options file last, with the entry count of every output.

    Arguments
    ---------
    save_folder : str
        Folder receiving the options file.
    options : dict
        The options of the preparation.
    outputs : iterable of str
        Files the preparation wrote; their entries (JSON keys or csv rows)
        are counted and recorded under ``rows``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> manifest = os.path.join(folder, "train.json")
    >>> write_json(manifest, {"utt1": {}, "utt2": {}})
    >>> write_options(folder, {"prepare": "demo"}, [manifest])
    >>> with open(os.path.join(folder, OPTIONS_FILE)) as f:
    ...     json.load(f)["rows"]
    {'train.json': 2}
    """
    rows = {}
    for output in outputs:
        count, problem = _read_output(output)
        if problem is not None:
            raise ValueError(f"{output} {problem} right after it was written")
        rows[_output_key(save_folder, output)] = count
    write_json(
        os.path.join(save_folder, OPTIONS_FILE), {**options, "rows": rows}
    )


def _output_key(save_folder, path):
    """Name of an output in the ``rows`` record: its path in the folder."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(save_folder))


def _read_output(path):
    """Return (entry count, None), or (None, why the output is broken)."""
    if not os.path.isfile(path):
        return None, "is missing"
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if path.endswith(".json"):
                data = json.load(f)
                return (
                    len(data) if isinstance(data, (dict, list)) else 1
                ), None
            if path.endswith(".csv"):
                text = f.read()
                rows = list(csv.reader(io.StringIO(text)))
                if not rows or rows[0][0:1] != ["ID"] or text[-1:] != "\n":
                    return None, "has no complete csv header starting with ID"
                if any(len(row) != len(rows[0]) for row in rows):
                    return None, "has csv rows of the wrong length (cut short?)"
                return len(rows) - 1, None
            return sum(1 for _ in f), None
    except (OSError, ValueError) as error:
        return None, f"is broken ({type(error).__name__}: {error})"


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
def atomic_path(path):
    r"""Yields a temporary path that replaces ``path`` when the block ends.

    The temporary file is in the folder of ``path``, named ``TMP_PREFIX``
    + process id + random part + file name + ``.tmp``; it is moved onto
    ``path`` with ``os.replace`` when the block ends without error (and
    removed otherwise): a reader or a concurrent writer never sees a
    half-written ``path``. The temporary file of a killed process stays;
    ``remove_stale_temporary_files`` removes it.

    Arguments
    ---------
    path : str
        Final file.

    Yields
    ------
    str
        The temporary path, for a writer that takes a path.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with atomic_path(path) as tmp:
    ...     _ = open(tmp, "w").write("hello\n")
    ...     os.path.exists(path)
    False
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('hello\n', ['a.txt'])
    """
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(
        folder, f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}-{name}.tmp"
    )
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, newline=None):
    r"""Opens a temporary text file that replaces ``path`` when closed.

    The data goes to the temporary file of :func:`atomic_path`, which is
    flushed to disk and moved onto ``path`` when the block ends without
    error (and removed otherwise).

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
    with atomic_path(path) as tmp:
        with open(tmp, "x", encoding="utf-8", newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def remove_stale_temporary_files(folder):
    """Removes the temporary files that killed writers left in a folder.

    Only files directly in ``folder`` whose name has the form of
    ``atomic_write``'s temporary files (``TMP_PREFIX``, process id, 32 hex
    digits, file name, ``.tmp``) and whose process no longer runs are
    removed; anything else, including the temporary files of running
    processes, is left alone.

    Arguments
    ---------
    folder : str
        A save folder (never a corpus folder).

    Returns
    -------
    list of str
        The removed files.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> dead = 2**22 + 1  # above the largest process id of Linux
    >>> names = [f"{TMP_PREFIX}{pid}-{'0' * 32}-a.json.tmp"
    ...          for pid in (dead, os.getpid())] + ["notes.tmp"]
    >>> for name in names:
    ...     open(os.path.join(folder, name), "w").close()
    >>> [os.path.basename(p) for p in remove_stale_temporary_files(folder)]
    ['.prepare-tmp-4194305-00000000000000000000000000000000-a.json.tmp']
    >>> len(os.listdir(folder))
    2
    """
    removed = []
    for name in sorted(os.listdir(folder)):
        match = _TMP_NAME.match(name)
        if match is None or _process_runs(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.remove(path)
                removed.append(path)
    if removed:
        logger.info(
            "removed %d temporary files of interrupted writers in %s",
            len(removed),
            folder,
        )
    return removed


def _process_runs(pid):
    """Tell whether a process of this id exists."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


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

    Takes ``filelock.FileLock`` on ``save_folder/.prepare.lock``; a second
    preparation into the same folder waits (with a log line) until the
    first one ends, then finds its outputs. When the block ends, also on an
    exception, the lock file is removed and then the lock released: the
    folder holds only the preparation's outputs. A waiting preparation
    that then gets the lock of the removed file drops it and locks the new
    file (``filelock`` 3.20.4 and later check this), so that two
    preparations never hold the lock together. A save folder created by
    this call is removed again when the block fails and leaves it empty.
    Some network file systems do not share locks between machines: start
    preparations of one folder from one machine.

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
    lock_path = os.path.join(save_folder, LOCK_FILE)
    while True:
        parent = os.path.dirname(os.path.abspath(save_folder))
        os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(save_folder)
            created = True
        except FileExistsError:
            created = False
        lock = filelock.FileLock(lock_path)
        try:
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                logger.info(
                    "waiting for another preparation writing to %s",
                    save_folder,
                )
                lock.acquire()
            break
        except FileNotFoundError:
            # a failed preparation removed the folder it had created
            continue
    failed = False
    try:
        yield save_folder
    except BaseException:
        failed = True
        raise
    finally:
        try:
            with contextlib.suppress(OSError):
                os.remove(lock_path)
            if failed and created:
                with contextlib.suppress(OSError):
                    os.rmdir(save_folder)
        finally:
            lock.release()


@contextlib.contextmanager
def reuse_or_lock(save_folder, options, outputs):
    """Tells whether a preparation can be reused, else locks its folder.

    Takes ``prepare_lock`` on ``save_folder``, removes the temporary files
    of interrupted writers (``remove_stale_temporary_files``) and yields
    ``is_prepared(save_folder, options, outputs)``: the caller returns at
    once on True and prepares under the lock on False. A save folder that
    cannot be written (read-only file system or permissions) is not locked:
    a complete preparation with the same options is reused without writing
    anything (yields True), otherwise ``PermissionError`` names the folder.

    Arguments
    ---------
    save_folder : str
        Folder receiving the outputs.
    options : dict
        The options of this call (see ``is_prepared``).
    outputs : iterable of str
        Files the preparation writes.

    Yields
    ------
    bool
        Whether the outputs can be reused as they are.

    Raises
    ------
    PermissionError
        If the folder cannot be written and holds no complete preparation
        with these options.

    Example
    -------
    >>> import tempfile
    >>> save = tempfile.mkdtemp()
    >>> options = {"prepare": "demo"}
    >>> with reuse_or_lock(save, options, []) as prepared:
    ...     if not prepared:
    ...         write_options(save, options, [])
    >>> with reuse_or_lock(save, options, []) as prepared:
    ...     prepared
    True
    """
    outputs = list(outputs)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(prepare_lock(save_folder))
            read_only = None
        except OSError as error:
            if error.errno not in _READ_ONLY_ERRORS:
                raise
            read_only = error.strerror
        if read_only is None:
            remove_stale_temporary_files(save_folder)
            yield is_prepared(save_folder, options, outputs)
            return
    if not is_prepared(save_folder, options, outputs):
        raise PermissionError(
            f"save_folder {save_folder} cannot be written ({read_only}) and "
            "holds no complete preparation with these options; choose a "
            "writable save_folder"
        )
    logger.info(
        "%s cannot be written (%s); reusing its complete preparation",
        save_folder,
        read_only,
    )
    yield True


def _listing(lines, limit=_MAX_LISTED):
    """Join at most ``limit`` lines, saying how many more there are."""
    text = "\n  ".join(lines[:limit])
    if len(lines) > limit:
        text += f"\n  ... and {len(lines) - limit} more"
    return text
