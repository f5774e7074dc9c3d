"""Evaluation of a trained ``Brain`` under a list of noise conditions.

The brain is evaluated once per :class:`NoiseCondition`; during each pass it
mixes noise into the test audio (see ``ConditionMixer``) and collects one
record per utterance (``id``, ``ref``, ``hyp``, ``emo``, ``pred``,
``probs``). The records of every condition are written as predictions,
metrics, confusion matrices and plots by :mod:`speechbrain_ext.utils.report`.

Under DDP every process evaluates the whole test set (SpeechBrain does not
shard evaluation) and only the main process writes the reports, so that the
checkpointer's barriers are reached by every process.

A brain takes part by honouring two attributes:

* ``test_condition`` -- the condition of the current pass (``None`` outside
  this loop), read in ``compute_forward``;
* ``test_records`` -- the list it fills during the pass.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import logging

from speechbrain.utils.distributed import ddp_barrier, if_main_process

from speechbrain_ext.utils.report import (
    markdown_table,
    write_condition_report,
    write_run_report,
)

logger = logging.getLogger(__name__)


def utterance_records(
    ids, emotions, refs=None, hyps=None, probs=None, labels=None
):
    """The per-utterance records that the condition reports read.

    Arguments
    ---------
    ids : list of str
        Utterance ids.
    emotions : list of str
        True emotion labels, in the order of the classifier's outputs.
    refs : list of str, optional
        Reference transcripts (ASR head).
    hyps : list of list of str, optional
        Hypotheses as lists of words (ASR head).
    probs : torch.Tensor, optional
        Class probabilities [batch, classes] (emotion head), in the order
        of ``labels``.
    labels : list of str, optional
        The classes (needed with ``probs``).

    Returns
    -------
    list of dict
        ``id``, ``emo`` and, where given, ``ref``, ``hyp``, ``pred`` (the
        most probable label) and ``probs``.

    Example
    -------
    >>> import torch
    >>> utterance_records(["u1"], ["sad"], refs=["OH NO"],
    ...                   hyps=[["OH", "NO"]])
    [{'id': 'u1', 'emo': 'sad', 'ref': 'OH NO', 'hyp': 'OH NO'}]
    >>> utterance_records(["u1"], ["sad"], probs=torch.tensor([[0.2, 0.8]]),
    ...                   labels=["neu", "sad"])[0]["pred"]
    'sad'
    """
    records = []
    for i, uid in enumerate(ids):
        record = {"id": uid, "emo": emotions[i]}
        if hyps is not None:
            record["ref"], record["hyp"] = refs[i], " ".join(hyps[i])
        if probs is not None:
            record["pred"] = labels[int(probs[i].argmax())]
            record["probs"] = probs[i].tolist()
        records.append(record)
    return records


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
        if if_main_process():
            results[condition.name] = write_condition_report(
                output_folder, condition.name, records, labels
            )
    if if_main_process():
        write_run_report(output_folder, results, title=title)
        table = markdown_table(results)
        logger.info("Results per condition (%s):\n%s", output_folder, table)
    ddp_barrier()
    return results
