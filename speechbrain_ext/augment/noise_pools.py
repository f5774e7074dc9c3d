"""The noise pools of a recipe: checks and the test-condition mixer.

``musan_prepare`` writes one AddNoise csv file per category and pool
(``noise_train.csv``, ``music_test.csv``...). Training augmentation reads the
train pools, the evaluation under noise conditions the test pools.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import os

from speechbrain_ext.augment.conditions import (
    MUSAN_CATEGORIES,
    ConditionMixer,
    find_condition_set,
    load_conditions,
)


def load_condition_set(name_or_path):
    """The conditions of a packaged set (by name) or of a yaml file.

    Arguments
    ---------
    name_or_path : str
        ``paper7``, ``clean``, ``snr_sweep``, or the path of a yaml file.

    Returns
    -------
    list of NoiseCondition
        The conditions, in table order.

    Example
    -------
    >>> [c.name for c in load_condition_set("clean")]
    ['clean']
    """
    return load_conditions(find_condition_set(name_or_path))


def pool_csv(noise_folder, category, pool):
    """Path of the csv file of one category and pool.

    Arguments
    ---------
    noise_folder : str
        Folder of the prepared pools.
    category : str
        ``noise``, ``music`` or ``speech``.
    pool : str
        ``train`` or ``test``.

    Returns
    -------
    str
        ``<noise_folder>/<category>_<pool>.csv``.

    Example
    -------
    >>> pool_csv("pools", "music", "test")
    'pools/music_test.csv'
    """
    return os.path.join(noise_folder, f"{category}_{pool}.csv")


def check_noise_pools(noise_folder, pool, categories=MUSAN_CATEGORIES):
    """Fails unless every category has a non-empty csv file of ``pool``.

    SpeechBrain's ``AddNoise`` falls back to white noise without a csv
    file; noise training must not silently do that.

    Arguments
    ---------
    noise_folder : str
        Folder of the prepared pools.
    pool : str
        ``train`` or ``test``.
    categories : iterable of str
        The categories to check.

    Example
    -------
    >>> import tempfile
    >>> check_noise_pools(tempfile.mkdtemp(), "train")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Missing noise pool .../noise_train.csv: ...
    """
    for category in categories:
        path = pool_csv(noise_folder, category, pool)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Missing noise pool {path}: prepare MUSAN (skip_prep: "
                "False) or set noise_folder."
            )
        with open(path, encoding="utf-8") as f:
            if sum(1 for line in f if line.strip()) < 2:
                raise ValueError(f"Noise pool {path} lists no file")


def build_condition_mixer(conditions, noise_folder, seed):
    """A ``ConditionMixer`` over the test pools that ``conditions`` use.

    Arguments
    ---------
    conditions : list of NoiseCondition
        The evaluation conditions; only their categories need a test pool.
    noise_folder : str
        Folder of the prepared pools.
    seed : int
        Seed of the noise draws.

    Returns
    -------
    ConditionMixer
        The mixer.

    Example
    -------
    >>> from speechbrain_ext.augment.conditions import NoiseCondition
    >>> mixer = build_condition_mixer([NoiseCondition("clean")], "none", 1)
    >>> mixer.pools
    {}
    """
    categories = sorted({c.category for c in conditions if not c.is_clean})
    return ConditionMixer(
        {c: pool_csv(noise_folder, c, "test") for c in categories}, seed=seed
    )


NOISE_KEYS = (
    "musan_folder",
    "noise_prob",
    "snr_low",
    "snr_high",
    "test_conditions",
    "test_noise_seed",
)
"""The noise keys every recipe yaml of the collection has."""

TRAINING_NOISE_KEYS = ("noise_prob", "snr_low", "snr_high")
"""The noise keys of training, which an evaluation-only yaml
(``test_only: True``) does without."""


def recipe_noise(hparams):
    """The test conditions and their mixer for a recipe's hyperparameters.

    Checks that the yaml has every key of :data:`NOISE_KEYS` (but those of
    :data:`TRAINING_NOISE_KEYS` in an evaluation-only yaml, ``test_only:
    True``), and that the training pools exist when the yaml trains on
    noisy copies (``noise_prob`` > 0).

    Arguments
    ---------
    hparams : dict
        The recipe's loaded yaml: the keys of :data:`NOISE_KEYS` and
        ``noise_folder`` (the prepared pools).

    Returns
    -------
    conditions : list of NoiseCondition
        The conditions of ``test_conditions``.
    mixer : ConditionMixer
        Their mixer, for ``RecipeBrain(condition_mixer=...)``.

    Example
    -------
    >>> hparams = {"musan_folder": "musan", "noise_prob": 0.0,
    ...            "snr_low": 5, "snr_high": 35, "test_conditions": "clean",
    ...            "test_noise_seed": 1, "noise_folder": "pools"}
    >>> conditions, mixer = recipe_noise(hparams)
    >>> [c.name for c in conditions]
    ['clean']
    >>> del hparams["snr_low"]
    >>> recipe_noise(hparams)
    Traceback (most recent call last):
    ...
    KeyError: "The recipe's yaml lacks the noise key(s) ['snr_low']."
    >>> evaluation = {"test_only": True, "musan_folder": "musan",
    ...               "test_conditions": "clean", "test_noise_seed": 1,
    ...               "noise_folder": "pools"}
    >>> [c.name for c in recipe_noise(evaluation)[0]]
    ['clean']
    """
    required = NOISE_KEYS
    if hparams.get("test_only", False):
        required = [k for k in NOISE_KEYS if k not in TRAINING_NOISE_KEYS]
    missing = [key for key in required if key not in hparams]
    if missing:
        raise KeyError(f"The recipe's yaml lacks the noise key(s) {missing}.")
    if hparams.get("noise_prob", 0.0) > 0:
        check_noise_pools(hparams["noise_folder"], "train")
    conditions = load_condition_set(hparams["test_conditions"])
    mixer = build_condition_mixer(
        conditions, hparams["noise_folder"], hparams["test_noise_seed"]
    )
    return conditions, mixer
