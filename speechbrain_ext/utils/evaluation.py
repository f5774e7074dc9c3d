"""Evaluation of a trained ``Brain`` under a list of noise conditions.

The brain is evaluated once per :class:`NoiseCondition`; during each pass it
mixes noise into the test audio (see ``ConditionMixer``) and collects one
record per utterance (``id``, ``ref``, ``hyp``, ``emo``, ``pred``,
``probs``). The records of every condition are written as predictions,
metrics, confusion matrices and plots by :mod:`speechbrain_ext.utils.report`.

Under DDP every process evaluates the whole test set (SpeechBrain does not
shard evaluation) and only the main process writes the reports, so that the
checkpointer's barriers are reached by every process.

The reports of a condition set never overwrite those of another set: the
results folder's top level belongs to the first set evaluated in it, and a
later, different set (``--test_only --test_conditions=snr_sweep``) is
written to ``<results_folder>/condition_sets/<set>/`` (see
:func:`speechbrain_ext.utils.report.condition_set_folder`).

A brain takes part by honouring two attributes, as
:class:`speechbrain_ext.recipe.brain.RecipeBrain` does for every recipe:

* ``test_condition`` -- the condition of the current pass (``None`` outside
  this loop), whose noise the brain mixes into the test audio;
* ``test_records`` -- the list of per-utterance records it fills during
  the pass.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import dataclasses
import logging
import os

from speechbrain.utils.distributed import ddp_barrier, if_main_process

from speechbrain_ext.utils.report import (
    condition_set_folder,
    markdown_table,
    write_condition_report,
    write_run_report,
)

logger = logging.getLogger(__name__)


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
    condition_set=None,
):
    """Evaluates ``brain`` on ``test_set`` under every condition.

    The reports go to ``output_folder`` unless it holds those of another
    condition set; they then go to
    ``<output_folder>/condition_sets/<set name>/``.

    Arguments
    ---------
    brain : speechbrain.Brain
        A brain that honours ``test_condition`` and fills ``test_records``.
    test_set : Dataset or DataLoader
        The test data.
    conditions : list of NoiseCondition
        Conditions to evaluate, in table order.
    output_folder : str
        The run's results folder: where the per-condition folders and the
        run report go (for the first condition set evaluated there).
    labels : list of str, optional
        Emotion labels in confusion-matrix order (default: the brain's
        ``labels``).
    test_loader_kwargs : dict, optional
        Passed to ``brain.evaluate``.
    min_key, max_key : str, optional
        Which checkpoint ``brain.evaluate`` loads.
    title : str, optional
        Title of the run report.
    condition_set : str, optional
        The name or path of the condition set that ``conditions`` come
        from (e.g. ``--test_conditions``); its name (without a ``.yaml``
        extension) names the sub-folder of a set that is not the results
        folder's first. Default: the condition names joined by ``+``.

    Returns
    -------
    dict
        ``{condition name: metrics}`` as computed by the report module (on
        the main process; empty on the others).

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
    if labels is None:
        labels = getattr(brain, "labels", None)
    set_name = condition_set_name(condition_set, conditions)
    description = [_describe(condition) for condition in conditions]
    folder, results = None, {}
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
        if if_main_process():
            if folder is None:  # once a condition could be evaluated
                folder = condition_set_folder(
                    output_folder, set_name, description
                )
            results[condition.name] = write_condition_report(
                folder, condition.name, records, labels
            )
    if if_main_process() and folder is not None:
        write_run_report(folder, results, title=title)
        table = markdown_table(results)
        logger.info("Results per condition (%s):\n%s", folder, table)
    ddp_barrier()
    return results


def condition_set_name(condition_set=None, conditions=()):
    """The name of a condition set, as its results sub-folder uses it.

    Arguments
    ---------
    condition_set : str or os.PathLike, optional
        A packaged set's name or the path of a condition-set yaml file.
    conditions : list of NoiseCondition
        The conditions, named when ``condition_set`` is not given.

    Returns
    -------
    str
        The name, or the file name without its ``.yaml``/``.yml``
        extension, or the condition names joined by ``+``.

    Example
    -------
    >>> condition_set_name("snr_sweep")
    'snr_sweep'
    >>> condition_set_name("/home/me/street_noise.yaml")
    'street_noise'
    >>> from speechbrain_ext.augment.conditions import NoiseCondition
    >>> condition_set_name(conditions=[NoiseCondition("clean"),
    ...                                NoiseCondition("noise_5dB", "noise", 5)])
    'clean+noise_5dB'
    """
    if condition_set is None:
        return "+".join(condition.name for condition in conditions)
    name = os.path.basename(os.fspath(condition_set))
    stem, extension = os.path.splitext(name)
    return stem if extension.lower() in (".yaml", ".yml") else name


def _describe(condition):
    """A JSON-serialisable description of a condition (all its fields)."""
    if dataclasses.is_dataclass(condition):
        return dataclasses.asdict(condition)
    return {"name": condition.name}
