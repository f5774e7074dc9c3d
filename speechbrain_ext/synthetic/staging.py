"""Writing a generated corpus into a folder that may hold a user's files.

:func:`generate_once` is how the corpus generators
(:mod:`~speechbrain_ext.synthetic.synthemo`,
:mod:`~speechbrain_ext.synthetic.synthemodb`,
:mod:`~speechbrain_ext.synthetic.synthlibri`) write their corpora. For a
generator called ``name`` writing the folders ``corpora`` of
``output_folder``:

* the corpora are written inside the staging folder ``<name>.partial``,
  which holds the generator's mark file ``.<name>_partial``, and moved into
  place only once complete; the record ``<name>.json`` (options and
  summary) is written last, so that a corpus without its record is never
  taken for a complete one;
* a record with the same options returns its summary without writing
  anything; a record with other options is an error;
* nothing that the generator did not write is modified or deleted: a
  target folder that exists and is not empty without the record, or a
  staging folder without the mark, is an error naming the folder;
* a staging folder with the mark is a generation of this generator that
  was interrupted: it is removed and the corpus generated again (or, when
  only the final moves were interrupted, the moves are completed);
* ``output_folder`` is locked (:func:`~speechbrain_ext.dataio.preparation.
  prepare_lock`) while the generator runs, so two runs never write into the
  same folder at once.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import json
import logging
import os
import shutil

from speechbrain_ext.dataio.preparation import prepare_lock, write_json

logger = logging.getLogger(__name__)


def _is_free(path):
    """True if ``path`` does not exist or is an empty folder."""
    if not os.path.lexists(path):
        return True
    return (
        os.path.isdir(path)
        and not os.path.islink(path)
        and not (os.listdir(path))
    )


def _refuse_foreign(path, name, record):
    raise FileExistsError(
        f"{path} exists and is not empty, and no {record} says that {name} "
        "wrote it: it is left untouched; choose another output folder (or "
        "move it away)."
    )


def _publish(staging, targets, record, staged_record):
    """Moves the staged corpora and then the record into place."""
    for corpus, target in targets.items():
        source = os.path.join(staging, corpus)
        if os.path.lexists(source):
            if os.path.lexists(target):
                os.rmdir(target)  # checked empty by the caller
            os.rename(source, target)
    os.replace(staged_record, record)
    shutil.rmtree(staging)


def generate_once(output_folder, name, corpora, options, generate):
    """Generates ``corpora`` in ``output_folder`` once, never over others.

    Arguments
    ---------
    output_folder : str
        Folder receiving the corpora, the record ``<name>.json`` and, while
        the generator runs, the staging folder ``<name>.partial``; created
        if needed.
    name : str
        Name of the generator, e.g. ``"synthemo"``.
    corpora : list of str
        Names of the folders of ``output_folder`` that ``generate`` writes.
    options : dict
        JSON-serialisable options of the generation: a record with other
        options is an error.
    generate : callable
        Called with the staging folder; must write every folder of
        ``corpora`` in it and return a JSON-serialisable summary.

    Returns
    -------
    dict
        The summary (read back from the record when the corpora exist).

    Raises
    ------
    FileExistsError
        If a folder of ``corpora`` exists and is not empty without the
        record, if the staging folder exists without the generator's mark,
        or if the record holds other options. Nothing is written then.

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> def write(staging):
    ...     os.makedirs(os.path.join(staging, "corpus"))
    ...     return {"files": 0}
    >>> generate_once(out, "demo", ["corpus"], {"seed": 1}, write)
    {'files': 0}
    >>> sorted(os.listdir(out))
    ['corpus', 'demo.json']
    >>> generate_once(out, "demo", ["corpus"], {"seed": 2}, write)
    Traceback (most recent call last):
    ...
    FileExistsError: ... generated with other options ...
    >>> user = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(user, "corpus"))
    >>> open(os.path.join(user, "corpus", "mine.txt"), "w").close()
    >>> generate_once(user, "demo", ["corpus"], {"seed": 1}, write)
    Traceback (most recent call last):
    ...
    FileExistsError: .../corpus exists and is not empty, and no ...
    """
    record = os.path.join(output_folder, f"{name}.json")
    staging = os.path.join(output_folder, f"{name}.partial")
    mark = os.path.join(staging, f".{name}_partial")
    staged_record = os.path.join(staging, f"{name}.json")
    targets = {c: os.path.join(output_folder, c) for c in corpora}
    with prepare_lock(output_folder):
        if os.path.exists(record):
            with open(record, encoding="utf-8") as f:
                done = json.load(f)
            if done.get("options") != options:
                raise FileExistsError(
                    f"{output_folder} holds a corpus that {name} generated "
                    f"with other options ({done.get('options')}, not "
                    f"{options}); choose another folder or delete it."
                )
            present = [c for c, t in targets.items() if os.path.isdir(t)]
            if len(present) == len(targets):
                if os.path.isfile(mark):  # left by an interrupted clean-up
                    shutil.rmtree(staging)
                logger.info("%s already generated in %s", name, output_folder)
                return done["summary"]
            if present:
                missing = [t for c, t in targets.items() if c not in present]
                raise FileExistsError(
                    f"{', '.join(missing)} is missing from the corpus that "
                    f"{record} describes; move away or delete the rest of "
                    f"it ({', '.join(targets[c] for c in present)} and "
                    f"{record}) to generate it again, or choose another "
                    "output folder."
                )
            logger.info(
                "%s removed: generating again", ", ".join(targets.values())
            )
            os.remove(record)
        if os.path.lexists(staging):
            if not os.path.isfile(mark):
                raise FileExistsError(
                    f"{staging} exists but was not written by {name} (no "
                    f"{mark}): it is left untouched; move it away or choose "
                    "another output folder."
                )
            if os.path.isfile(staged_record) and all(
                os.path.lexists(os.path.join(staging, c))
                or not _is_free(targets[c])
                for c in corpora
            ):
                # Complete; only the moves into place were interrupted.
                for c, target in targets.items():
                    if os.path.lexists(os.path.join(staging, c)):
                        if not _is_free(target):
                            _refuse_foreign(target, name, record)
                _publish(staging, targets, record, staged_record)
                with open(record, encoding="utf-8") as f:
                    return json.load(f)["summary"]
            logger.info("removing %s, an interrupted generation", staging)
            shutil.rmtree(staging)
        for target in targets.values():
            if not _is_free(target):
                _refuse_foreign(target, name, record)
        os.makedirs(staging)
        open(mark, "w").close()
        try:
            summary = generate(staging)
            for c in corpora:
                if not os.path.isdir(os.path.join(staging, c)):
                    raise RuntimeError(f"{name} did not write {c}")
            write_json(staged_record, {"options": options, "summary": summary})
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(staging, targets, record, staged_record)
    return summary
