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

The corpus folder is only read. Unlike
``speechbrain.augment.preparation.prepare_csv``, which cuts long files in
place and deletes the originals, nothing in ``data_folder`` is cut, moved,
modified or deleted.
"""

import argparse
import csv
import logging
import os
import random

from speechbrain_ext.dataio.preparation import OPTIONS_FILE, audio_duration
from speechbrain_ext.dataio.preparation import (
    check_save_folder as _check_save_folder,
)
from speechbrain_ext.dataio.preparation import is_prepared as _is_prepared
from speechbrain_ext.dataio.preparation import remove_options as _remove_options
from speechbrain_ext.dataio.preparation import write_json as _write_json

logger = logging.getLogger(__name__)

MUSAN_CATEGORIES = ("noise", "music", "speech")
CSV_HEADER = ("ID", "duration", "wav", "wav_format", "wav_opts")
SAMPLE_RATE = 16000


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
    skip_prep=False,
):
    """Write disjoint train and test ``AddNoise`` csv files per category.

    A second call with the same options and existing outputs does nothing;
    different options regenerate the files. ``data_folder`` is only read.

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
    ValueError
        If a category has fewer than 2 files, or a file is unreadable, not
        16 kHz or not mono.

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> musan = os.path.join(tempfile.mkdtemp(), "musan")
    >>> os.makedirs(os.path.join(musan, "noise", "free-sound"))
    >>> for i in range(5):
    ...     path = os.path.join(musan, "noise", "free-sound", f"n{i}.wav")
    ...     sf.write(path, np.zeros(8000), 16000)
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

    unknown = [c for c in categories if c not in MUSAN_CATEGORIES]
    if unknown or not categories:
        raise ValueError(
            f"categories {categories} must be a non-empty subset of "
            f"{', '.join(MUSAN_CATEGORIES)}"
        )
    if not 0 < test_share < 1:
        raise ValueError(
            f"test_share must be strictly between 0 and 1, got {test_share}"
        )
    musan = _find_musan_folder(data_folder, categories)
    _check_save_folder(save_folder, data_folder)

    options = {
        "prepare": "prepare_musan",
        "data_folder": musan,
        "categories": categories,
        "test_share": test_share,
        "seed": seed,
    }
    paths = [p for pools in outputs.values() for p in pools.values()]
    if _is_prepared(save_folder, options, paths):
        logger.info(
            "MUSAN lists in %s were prepared with the same options, "
            "skipping preparation",
            save_folder,
        )
        return outputs

    pools = {}
    for category in categories:
        files = list_category_files(musan, category)
        if len(files) < 2:
            raise ValueError(
                f"{os.path.join(musan, category)} holds {len(files)} wav "
                "file(s); at least 2 are needed for disjoint train and test "
                "pools"
            )
        train, test = split_pool(files, test_share, seed)
        pools[category] = {"train": train, "test": test}

    durations = {
        path: _audio_duration(path)
        for category_pools in pools.values()
        for files in category_pools.values()
        for path in files
    }

    _remove_options(save_folder)
    os.makedirs(save_folder, exist_ok=True)
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
    _write_json(os.path.join(save_folder, OPTIONS_FILE), options)
    return outputs


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
    return audio_duration(path, "MUSAN", SAMPLE_RATE)


def _file_id(path, category_folder):
    """Return a unique id built from the path inside the category folder."""
    relative = os.path.relpath(path, category_folder)
    return os.path.splitext(relative)[0].replace(os.sep, "_")


def _write_csv(path, files, category_folder, durations):
    """Write one ``AddNoise`` csv file."""
    with open(path, "w", encoding="utf-8", newline="") as f:
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
    parser.add_argument("--skip_prep", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    return prepare_musan(
        data_folder=args.data_folder,
        save_folder=args.save_folder,
        categories=args.categories,
        test_share=args.test_share,
        seed=args.seed,
        skip_prep=args.skip_prep,
    )


if __name__ == "__main__":
    main()
