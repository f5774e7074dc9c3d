r"""Prepare MUSAN noise lists for SpeechBrain's ``AddNoise``.

MUSAN has no official split, so the files of each category are divided into
disjoint train and test pools: noise heard in training is never used to
build a test condition::

    python -m speechbrain_ext.dataio.musan_prepare \
        --data_folder /path/to/musan --save_folder results/musan_prepared

Layout that is read: ``musan/{music,noise,speech}/<source>/*.wav`` (16 kHz
mono). ``data_folder`` may be the ``musan`` folder or its parent.

For each category, ``<category>_train.csv`` and ``<category>_test.csv`` are
written in the format of ``speechbrain.augment.time_domain.AddNoise``
(header ``ID,duration,wav,wav_format,wav_opts``, absolute paths).

Silent files are left out of the pools, with a warning listing them: files
whose RMS over the whole file is below ``min_rms`` (1e-4 on [-1, 1] float
audio; all-zero files always), and files with fewer than 1600 samples
(0.1 s). Each file is read block by block, never whole. Partly silent files
stay: the test-time mixer redraws near-silent segments. A float file with
NaN or infinite samples stops the preparation with an error naming it (it
has no level, and would turn every mixture it enters into NaN).

The corpus folder is only read. Unlike
``speechbrain.augment.preparation.prepare_csv``, which cuts long files in
place and deletes the originals, nothing in ``data_folder`` is cut, moved,
modified or deleted. The save folder is locked while a preparation runs
and every csv file is written to a temporary file first, then moved into
place. A changed corpus (files added, removed or modified) is prepared
again.
"""

import argparse
import csv
import logging
import os
import random

from speechbrain_ext.dataio.preparation import (
    MIN_SAMPLES,
    SILENCE_RMS,
    atomic_write,
    audio_duration,
    audio_level,
    check_folders,
    corpus_fingerprint,
    reuse_or_lock,
    write_options,
)
from speechbrain_ext.dataio.preparation import remove_options as _remove_options

logger = logging.getLogger(__name__)

MUSAN_CATEGORIES = ("noise", "music", "speech")
"""MUSAN's categories (``speech`` is babble in the noise conditions)."""

CSV_HEADER = ("ID", "duration", "wav", "wav_format", "wav_opts")
SAMPLE_RATE = 16000
_MAX_LISTED = 20


def split_pool(files, test_share=0.2, seed=1234):
    """Split files into disjoint train and test pools with a seeded shuffle.

    The files are sorted before shuffling, so the pools depend only on the
    file names, the share and the seed, not on the listing order.

    Arguments
    ---------
    files : list of str
        Files of one category (at least 2).
    test_share : float
        Share of the files in the test pool, strictly between 0 and 1; each
        pool keeps at least one file.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    train : list of str
        Sorted files of the train pool.
    test : list of str
        Sorted files of the test pool.

    Example
    -------
    >>> files = [f"n{i}.wav" for i in range(10)]
    >>> train, test = split_pool(files, test_share=0.2, seed=1)
    >>> len(train), len(test)
    (8, 2)
    >>> sorted(train + test) == files
    True
    >>> split_pool(list(reversed(files)), 0.2, seed=1) == (train, test)
    True
    """
    if not 0 < test_share < 1:
        raise ValueError(
            f"test_share must be strictly between 0 and 1, got {test_share}"
        )
    if len(files) < 2:
        raise ValueError(
            f"at least 2 files are needed for disjoint pools, got {len(files)}"
        )
    shuffled = sorted(files)
    random.Random(seed).shuffle(shuffled)
    n_test = min(max(1, round(len(files) * test_share)), len(files) - 1)
    return sorted(shuffled[n_test:]), sorted(shuffled[:n_test])


def list_category_files(musan_folder, category):
    """List the sorted wav files of one MUSAN category.

    Arguments
    ---------
    musan_folder : str
        The ``musan`` folder.
    category : str
        ``"noise"``, ``"music"`` or ``"speech"``.

    Returns
    -------
    list of str
        Absolute paths of the ``.wav`` files under ``musan/<category>``.

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> musan = os.path.join(tempfile.mkdtemp(), "musan")
    >>> os.makedirs(os.path.join(musan, "noise", "free-sound"))
    >>> for name in ["b.wav", "a.wav", "notes.txt"]:
    ...     path = os.path.join(musan, "noise", "free-sound", name)
    ...     sf.write(path, np.zeros(160), 16000, format="WAV")
    >>> [os.path.basename(p) for p in list_category_files(musan, "noise")]
    ['a.wav', 'b.wav']
    """
    folder = os.path.join(musan_folder, category)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"MUSAN category folder {folder} does not exist; expected "
            "musan/{music,noise,speech}/<source>/*.wav"
        )
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(
            os.path.abspath(os.path.join(root, name))
            for name in names
            if name.lower().endswith(".wav") and not name.startswith(".")
        )
    return sorted(files)


def prepare_musan(
    data_folder,
    save_folder,
    categories=MUSAN_CATEGORIES,
    test_share=0.2,
    seed=1234,
    min_rms=SILENCE_RMS,
    skip_prep=False,
):
    """Write disjoint train and test ``AddNoise`` csv files per category.

    Silent files (RMS below ``min_rms``, or all zero) and files shorter than
    1600 samples are left out, with a warning listing them; the remaining
    files of each category are split into the two pools. A second call with
    the same options, the same corpus files (count, sizes, modification
    times) and intact outputs does nothing, and writes nothing (a read-only
    save folder is reused); different options, a changed corpus or a csv
    file without header or with lost rows regenerate the files. The save
    folder is locked during the preparation. ``data_folder`` is only read.

    Arguments
    ---------
    data_folder : str
        The ``musan`` folder or its parent.
    save_folder : str
        Folder receiving the csv files; must not be inside ``data_folder``.
    categories : sequence of str
        Categories to prepare, among ``"noise"``, ``"music"``, ``"speech"``.
    test_share : float
        Share of each category's files in the test pool (0 < share < 1).
    seed : int
        Seed of the shuffle choosing the pools.
    min_rms : float
        Files whose RMS over the whole file (float audio in [-1, 1]) is
        below this floor count as silent and are left out.
    skip_prep : bool
        If True, return the output paths without doing anything.

    Returns
    -------
    dict
        category -> ``{"train": csv path, "test": csv path}``.

    Raises
    ------
    FileNotFoundError
        If a category folder is missing.
    NotADirectoryError
        If ``data_folder`` or ``save_folder`` is a file.
    ValueError
        On a bad argument (named in the message), if a category has fewer
        than 2 usable files, or a file is unreadable, not 16 kHz, not mono
        or holds NaN or infinite samples.
    PermissionError
        If ``save_folder`` cannot be written and holds no complete
        preparation with these options.

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> musan = os.path.join(tempfile.mkdtemp(), "musan")
    >>> os.makedirs(os.path.join(musan, "noise", "free-sound"))
    >>> for i in range(5):
    ...     path = os.path.join(musan, "noise", "free-sound", f"n{i}.wav")
    ...     noise = np.random.default_rng(i).normal(0, 0.1, 8000)
    ...     sf.write(path, noise, 16000)
    >>> save = tempfile.mkdtemp()
    >>> paths = prepare_musan(musan, save, categories=["noise"])
    >>> with open(paths["noise"]["test"], encoding="utf-8") as f:
    ...     lines = f.read().splitlines()
    >>> lines[0]
    'ID,duration,wav,wav_format,wav_opts'
    >>> len(lines) - 1, lines[1].split(",")[1], lines[1].endswith(",wav,")
    (1, '0.5', True)
    """
    categories = list(categories)
    outputs = {
        category: {
            pool: os.path.join(save_folder, f"{category}_{pool}.csv")
            for pool in ("train", "test")
        }
        for category in categories
    }
    if skip_prep:
        return outputs

    _check_arguments(categories, test_share, min_rms)
    check_folders(data_folder, save_folder)
    musan = _find_musan_folder(data_folder, categories)
    files = {}
    for category in categories:
        files[category] = list_category_files(musan, category)
        if len(files[category]) < 2:
            raise ValueError(
                f"{os.path.join(musan, category)} holds "
                f"{len(files[category])} wav file(s); at least 2 are needed "
                "for disjoint train and test pools"
            )

    options = {
        "prepare": "prepare_musan",
        "data_folder": musan,
        "categories": categories,
        "test_share": test_share,
        "seed": seed,
        "min_rms": min_rms,
        "corpus": corpus_fingerprint(f for fs in files.values() for f in fs),
    }
    paths = [p for pools in outputs.values() for p in pools.values()]
    with reuse_or_lock(save_folder, options, paths) as prepared:
        if prepared:
            logger.info(
                "MUSAN lists in %s were prepared with the same options and "
                "corpus, skipping preparation",
                save_folder,
            )
            return outputs
        _prepare(musan, save_folder, options, outputs, files)
    return outputs


def _prepare(musan, save_folder, options, outputs, files):
    """Check the files, split them and write the csv files (locked)."""
    pools, durations, left_out = {}, {}, []
    for category, category_files in files.items():
        usable, unusable = [], []
        for path in category_files:
            duration, problem = _check_noise_file(path, options["min_rms"])
            if problem is None:
                usable.append(path)
                durations[path] = duration
            else:
                unusable.append(f"{path}: {problem}")
        left_out += unusable
        if len(usable) < 2:
            raise ValueError(
                f"{os.path.join(musan, category)} holds {len(usable)} usable "
                "wav file(s) (not silent, at least "
                f"{MIN_SAMPLES} samples); at least 2 are needed for disjoint "
                "train and test pools. Left out:\n  "
                + "\n  ".join(unusable[:_MAX_LISTED])
            )
        train, test = split_pool(usable, options["test_share"], options["seed"])
        pools[category] = {"train": train, "test": test}
    if left_out:
        more = len(left_out) - _MAX_LISTED
        logger.warning(
            "%d MUSAN files are left out of the noise pools (silent or too "
            "short):\n  %s%s",
            len(left_out),
            "\n  ".join(left_out[:_MAX_LISTED]),
            f"\n  ... and {more} more" if more > 0 else "",
        )

    _remove_options(save_folder)
    for category, category_pools in pools.items():
        for pool, files in category_pools.items():
            path = outputs[category][pool]
            _write_csv(path, files, os.path.join(musan, category), durations)
            logger.info(
                "%s: %d files, %.1f s",
                path,
                len(files),
                sum(durations[f] for f in files),
            )
    write_options(
        save_folder,
        options,
        [p for pools in outputs.values() for p in pools.values()],
    )


def _check_arguments(categories, test_share, min_rms):
    """Check the arguments of ``prepare_musan`` before anything is read."""
    unknown = [c for c in categories if c not in MUSAN_CATEGORIES]
    if unknown or not categories:
        raise ValueError(
            f"categories {categories} must be a non-empty subset of "
            f"{', '.join(MUSAN_CATEGORIES)}"
        )
    if not (isinstance(test_share, (int, float)) and 0 < test_share < 1):
        raise ValueError(
            f"test_share must be strictly between 0 and 1, got {test_share}"
        )
    if not (isinstance(min_rms, (int, float)) and 0 <= min_rms < 1):
        raise ValueError(
            "min_rms must be a number in [0, 1) (RMS of float audio in "
            f"[-1, 1]), got {min_rms!r}"
        )


def _check_noise_file(path, min_rms):
    """Return (duration, None) for a usable noise file, or (None, reason).

    Raises on an unreadable, non-16 kHz, non-mono or non-finite file.
    """
    duration = _audio_duration(path)
    frames = round(duration * SAMPLE_RATE)
    if frames < MIN_SAMPLES:
        return None, f"too short ({frames} samples, fewer than {MIN_SAMPLES})"
    rms, peak = audio_level(path)
    if peak == 0:
        return None, "silent (all samples are zero)"
    if rms < min_rms:
        return None, f"silent (RMS {rms:.1e} below min_rms {min_rms:g})"
    return duration, None


def _find_musan_folder(data_folder, categories):
    """Return the absolute ``musan`` folder holding the category folders."""
    for folder in (os.path.join(data_folder, "musan"), data_folder):
        if all(os.path.isdir(os.path.join(folder, c)) for c in categories):
            return os.path.abspath(folder)
    missing = [
        os.path.join(data_folder, c)
        for c in categories
        if not os.path.isdir(os.path.join(data_folder, c))
    ]
    raise FileNotFoundError(
        f"{data_folder} is not a MUSAN folder: missing "
        f"{', '.join(missing)}. Expected layout: "
        "musan/{music,noise,speech}/<source>/*.wav (data_folder may be the "
        "musan folder or its parent)"
    )


def _audio_duration(path):
    """Return the duration of a MUSAN audio file, or raise."""
    return audio_duration(path, "MUSAN", SAMPLE_RATE, min_samples=0)


def _file_id(path, category_folder):
    """Return a unique id built from the path inside the category folder."""
    relative = os.path.relpath(path, category_folder)
    return os.path.splitext(relative)[0].replace(os.sep, "_")


def _write_csv(path, files, category_folder, durations):
    """Write one ``AddNoise`` csv file (atomically)."""
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for wav in files:
            writer.writerow(
                [
                    _file_id(wav, category_folder),
                    f"{durations[wav]:.4f}".rstrip("0").rstrip("."),
                    wav,
                    "wav",
                    "",
                ]
            )


def main(argv=None):
    """Run the command-line entry point of ``prepare_musan``.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The paths returned by ``prepare_musan``.

    Example
    -------
    >>> paths = main(
    ...     ["--data_folder", "musan", "--save_folder", "out",
    ...      "--categories", "noise", "music", "--skip_prep"]
    ... )
    >>> paths["music"]["test"]
    'out/music_test.csv'
    """
    parser = argparse.ArgumentParser(
        description="Writes disjoint train/test AddNoise lists of MUSAN."
    )
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--save_folder", required=True)
    parser.add_argument(
        "--categories",
        nargs="+",
        default=MUSAN_CATEGORIES,
        choices=MUSAN_CATEGORIES,
    )
    parser.add_argument("--test_share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--min_rms",
        type=float,
        default=SILENCE_RMS,
        help="files with a lower RMS (float audio in [-1, 1]) are left out "
        "as silent",
    )
    parser.add_argument("--skip_prep", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_prep:
        try:
            _check_arguments(args.categories, args.test_share, args.min_rms)
            check_folders(args.data_folder, args.save_folder)
        except (OSError, ValueError) as error:
            parser.error(str(error))
    logging.basicConfig(level=logging.INFO)
    return prepare_musan(
        data_folder=args.data_folder,
        save_folder=args.save_folder,
        categories=args.categories,
        test_share=args.test_share,
        seed=args.seed,
        min_rms=args.min_rms,
        skip_prep=args.skip_prep,
    )


if __name__ == "__main__":
    main()
