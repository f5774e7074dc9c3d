"""Loading of a recipe's hyperparameters, with checks of the shared keys.

Every ``train.py`` of the collection reads its yaml with :func:`load_hparams`
instead of calling ``load_hyperpyyaml`` itself, so that a value that would
make the run do something other than asked fails before anything is built,
with an error that names the key, the value and where it comes from:

* ``number_of_epochs`` must be a non-negative integer. SpeechBrain's
  ``EpochCounter`` would truncate ``1.5`` to one epoch, fail on ``abc``
  with an error that does not name the key, and train nothing with ``-1``
  (the run then stops on a missing checkpoint). ``0`` is accepted: it
  trains nothing and evaluates the checkpoint already in the output folder,
  as ``--test_only`` does (which skips training whatever the number).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import ruamel.yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references

EPOCHS_KEY = "number_of_epochs"


def check_number_of_epochs(value, where="in the hyperparameters"):
    """Fails unless ``value`` is a valid ``number_of_epochs``.

    Arguments
    ---------
    value : object
        The value of ``number_of_epochs``.
    where : str
        Where the value comes from, for the message (``in <yaml file>``,
        ``from the command line``).

    Raises
    ------
    ValueError
        When ``value`` is not an integer (booleans, floats and strings
        included) or is negative; the message names the key and the value.

    Example
    -------
    >>> check_number_of_epochs(0)
    >>> check_number_of_epochs(1.5, "from the command line")
    Traceback (most recent call last):
    ...
    ValueError: number_of_epochs=1.5 (from the command line) is not a ...
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{EPOCHS_KEY}={value!r} ({where}) is not a non-negative "
            "integer: give a whole number of epochs (0 trains nothing and "
            "evaluates the checkpoint of the output folder)."
        )


def _top_level(text_or_mapping):
    """The top-level mapping of a yaml text (unknown tags kept as data)."""
    if text_or_mapping is None or isinstance(text_or_mapping, dict):
        return text_or_mapping or {}
    loaded = ruamel.yaml.YAML(typ="rt").load(text_or_mapping)
    return loaded if isinstance(loaded, dict) else {}


def load_hparams(hparams_file, overrides=None):
    r"""Loads a recipe's yaml with its overrides, after checking shared keys.

    The values are checked as the yaml and the command line give them,
    before any object of the yaml is built (an ``EpochCounter`` would
    already have converted ``number_of_epochs``).

    Arguments
    ---------
    hparams_file : str
        Path of the yaml file.
    overrides : str or dict, optional
        Overrides as returned by ``speechbrain.parse_arguments`` (yaml
        text) or a mapping.

    Returns
    -------
    dict
        The hyperparameters, as ``load_hyperpyyaml`` returns them.

    Raises
    ------
    ValueError
        When ``number_of_epochs`` is invalid (see
        :func:`check_number_of_epochs`).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("number_of_epochs: 2\n"
    ...                 "epoch_counter: !new:speechbrain.utils."
    ...                 "epoch_loop.EpochCounter\n"
    ...                 "  limit: !ref <number_of_epochs>\n")
    >>> load_hparams(path)["epoch_counter"].limit
    2
    >>> load_hparams(path, "number_of_epochs: abc")
    Traceback (most recent call last):
    ...
    ValueError: number_of_epochs='abc' (from the command line) is not a ...
    """
    with open(hparams_file, encoding="utf-8") as fin:
        resolved = resolve_references(fin, overrides)
    values = _top_level(resolved.getvalue())
    if EPOCHS_KEY in values:
        if EPOCHS_KEY in _top_level(overrides):
            where = "from the command line"
        else:
            where = f"in {hparams_file}"
        check_number_of_epochs(values[EPOCHS_KEY], where)
    with open(hparams_file, encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, overrides)
