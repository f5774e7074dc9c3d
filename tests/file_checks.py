"""Snapshots of a folder, to show that code left a user's files as they were.

A test takes :func:`tree_hashes` of a corpus (or a run folder) before and
after the code under test and asserts that the two are equal.
"""

import hashlib
import os


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
