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
    conditions_of_set,
)


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
"""The noise keys every recipe yaml of the collection has (a recipe that
only evaluates has the test ones: ``musan_folder``, ``test_conditions``,
``test_noise_seed``)."""


def recipe_noise(
    test_conditions, noise_folder, test_noise_seed, noise_prob=0.0
):
    """The test conditions and their mixer of a recipe's noise keys.

    A recipe's ``train.py`` passes its yaml's keys (see
    :data:`NOISE_KEYS`); the training pools must exist when the recipe
    trains on noisy copies (``noise_prob`` > 0): SpeechBrain's ``AddNoise``
    would add white noise without them.

    Arguments
    ---------
    test_conditions : str
        ``test_conditions``: a packaged condition set's name or a yaml path.
    noise_folder : str
        The prepared pools (``noise_folder``).
    test_noise_seed : int
        Seed of the test noise draws (``test_noise_seed``).
    noise_prob : float
        ``noise_prob``: the share of training batches that get a noisy copy.

    Returns
    -------
    conditions : list of NoiseCondition
        The conditions of ``test_conditions``.
    mixer : ConditionMixer
        Their mixer, for ``RecipeBrain(condition_mixer=...)``.

    Example
    -------
    >>> conditions, mixer = recipe_noise("clean", "pools", 1986)
    >>> [c.name for c in conditions]
    ['clean']
    >>> recipe_noise("clean", "no_pools", 1986, noise_prob=1.0)
    Traceback (most recent call last):
    ...
    FileNotFoundError: Missing noise pool no_pools/noise_train.csv: ...
    """
    if noise_prob > 0:
        check_noise_pools(noise_folder, "train")
    conditions = conditions_of_set(test_conditions)
    mixer = build_condition_mixer(conditions, noise_folder, test_noise_seed)
    return conditions, mixer
