"""Files as the tests read them back.

A test takes :func:`tree_hashes` of a corpus (or a run folder) before and
after the code under test and asserts that the two are equal: the code
left a user's files as they were. :func:`load_json` reads a manifest;
:func:`refused_command_line` runs a command line that must stop before
writing anything.
"""

import hashlib
import json
import os

import pytest


def load_json(path):
    """The content of a JSON file (a manifest, a metrics file)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def tree_hashes(folder, stat=(), folders=False):
    """``{relative path: sha256}`` of every file under ``folder``.

    Arguments
    ---------
    folder : str or os.PathLike
        The folder.
    stat : tuple of str
        Fields of ``os.stat_result`` (``st_mtime_ns``, ``st_mode``) kept
        beside each digest: an entry is then ``(digest, *values)``.
    folders : bool
        Also record every sub-folder, as ``("dir", *values)``.

    Returns
    -------
    dict
        The entries, by path relative to ``folder``.
    """
    entries = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            is_dir = name in dirs
            if is_dir and not folders:
                continue
            values = tuple(getattr(os.stat(path), field) for field in stat)
            if is_dir:
                entry = ("dir", *values)
            else:
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                entry = (digest, *values) if stat else digest
            entries[os.path.relpath(path, folder)] = entry
    return entries


def refused_command_line(main, output_folder, args, capsys):
    """The error message of a command line that its parser refuses.

    Fails unless ``main`` exits with status 2 (argparse's usage error)
    and ``output_folder`` does not exist afterwards.

    Arguments
    ---------
    main : callable
        The command's ``main(argv)``.
    output_folder : pathlib.Path
        Given as ``--output_folder``.
    args : list of str
        The other arguments.
    capsys : pytest.CaptureFixture
        The test's capture of stderr.

    Returns
    -------
    str
        What the command wrote to stderr.
    """
    with pytest.raises(SystemExit) as error:
        main(["--output_folder", str(output_folder), *args])
    assert error.value.code == 2
    assert not output_folder.exists()
    return capsys.readouterr().err
