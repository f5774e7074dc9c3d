"""Evaluation of a trained ``Brain`` under a list of noise conditions.

The brain is evaluated once per :class:`NoiseCondition`; during each pass it
mixes noise into the test audio (see ``ConditionMixer``) and collects one
record per utterance (``id``, ``ref``, ``hyp``, ``emo``, ``pred``,
``probs``). The records of every condition are written as predictions,
metrics, confusion matrices and plots by :mod:`speechbrain_ext.utils.report`.

A brain takes part by honouring two attributes:

* ``test_condition`` -- the condition of the current pass (``None`` outside
  this loop), read in ``compute_forward``;
* ``test_records`` -- the list it fills during the pass.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import logging
import os

from speechbrain_ext.utils.report import (
    markdown_table,
    write_condition_report,
    write_run_report,
)

logger = logging.getLogger(__name__)

CONDITION_SETS_DIR = os.path.join(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ),
    "hparams",
    "conditions",
)


def find_condition_set(name_or_path):
    """Path of a condition-set yaml file, given its path or its name.

    A name (``paper7``, ``clean``, ``snr_sweep``...) refers to a file of the
    collection's top-level ``hparams/conditions`` folder.

    Arguments
    ---------
    name_or_path : str
        A yaml path, or the name of a file in ``hparams/conditions``.

    Returns
    -------
    str
        The yaml path.

    Example
    -------
    >>> os.path.basename(find_condition_set("paper7"))
    'paper7.yaml'
    """
    if os.path.isfile(name_or_path):
        return name_or_path
    candidate = os.path.join(CONDITION_SETS_DIR, f"{name_or_path}.yaml")
    if os.path.isfile(candidate):
        return candidate
    available = sorted(
        f[:-5] for f in os.listdir(CONDITION_SETS_DIR) if f.endswith(".yaml")
    )
    raise FileNotFoundError(
        f"No condition set {name_or_path!r}: not a file, and not one of "
        f"{available} in {CONDITION_SETS_DIR}"
    )


def evaluate_conditions(
    brain,
    test_set,
    conditions,
    output_folder,
    labels=None,
    test_loader_kwargs=None,
    min_key=None,
    max_key=None,
    title=None,
):
    """Evaluates ``brain`` on ``test_set`` under every condition.

    Arguments
    ---------
    brain : speechbrain.Brain
        A brain that honours ``test_condition`` and fills ``test_records``.
    test_set : Dataset or DataLoader
        The test data.
    conditions : list of NoiseCondition
        Conditions to evaluate, in table order.
    output_folder : str
        Where the per-condition folders and the run report go.
    labels : list of str, optional
        Emotion labels in confusion-matrix order.
    test_loader_kwargs : dict, optional
        Passed to ``brain.evaluate``.
    min_key, max_key : str, optional
        Which checkpoint ``brain.evaluate`` loads.
    title : str, optional
        Title of the run report.

    Returns
    -------
    dict
        ``{condition name: metrics}`` as computed by the report module.

    Example
    -------
    >>> class Echo:
    ...     test_condition, test_records = None, []
    ...     def evaluate(self, data, **kwargs):
    ...         self.test_records = [
    ...             {"id": str(i), "emo": e, "pred": e} for i, e in data]
    >>> from speechbrain_ext.augment.conditions import NoiseCondition
    >>> import tempfile
    >>> res = evaluate_conditions(
    ...     Echo(), [(0, "neu"), (1, "ang")], [NoiseCondition("clean")],
    ...     tempfile.mkdtemp(), labels=["neu", "ang"])
    >>> res["clean"]["WA"]
    100.0
    """
    results = {}
    for condition in conditions:
        logger.info("Evaluating condition %s", condition.name)
        brain.test_condition = condition
        brain.test_records = []
        try:
            brain.evaluate(
                test_set,
                min_key=min_key,
                max_key=max_key,
                test_loader_kwargs=test_loader_kwargs or {},
            )
        finally:
            brain.test_condition = None
        records = sorted(brain.test_records, key=lambda r: r["id"])
        results[condition.name] = write_condition_report(
            output_folder, condition.name, records, labels
        )
    write_run_report(output_folder, results, title=title)
    table = markdown_table(results)
    logger.info("Results per condition (%s):\n%s", output_folder, table)
    return results
