"""The metrics of the collection, one module for validation and test.

A recipe's ``compute_forward`` returns a dict of predictions (the
*prediction contract*, see :func:`check_predictions`); the recipe core
(:class:`speechbrain_ext.recipe.brain.RecipeBrain`) turns each evaluated
batch into one record per utterance (:func:`records_from_predictions`) and
scores the records of a stage with :func:`compute_metrics`. Validation and
test therefore use the same records, the same text normalisation and the
same metric code; :mod:`speechbrain_ext.utils.report` writes them as files,
tables and plots.

Records are dicts with the keys

* ``id``: utterance id;
* ``ref`` / ``hyp``: reference and hypothesis transcripts (ASR head);
* ``emo`` / ``pred``: true and predicted emotion labels (SER head);
* ``probs`` (optional): class probabilities, in label order;
* ``n_windows`` / ``windows_correct`` (window classifiers): how many
  windows the utterance was cut into, and how many of them the classifier
  got right on their own.

All metrics are percentages (0-100). WER and CER are corpus-level (total
edits over total reference words or characters, counted by ``jiwer``)
after the same :func:`normalize_text` on references and hypotheses; WA,
UA, macro-F1 and the confusion matrix come from ``sklearn.metrics``.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import math
import re
import unicodedata

import jiwer
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
)

ASR_KEYS = ("ref", "hyp")
"""Record keys of a transcript."""

SER_KEYS = ("emo", "pred")
"""Record keys of an emotion label and its prediction."""

WINDOW_KEYS = ("n_windows", "windows_correct")
"""Record keys of a window classifier's counts."""

ERROR_METRICS = ("loss", "WER", "CER")
"""Metrics where lower is better; the others are accuracies in %."""

_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'"}
_SPACES = re.compile(r"\s+")


def normalize_text(text):
    """Normalise a transcript for WER: upper case, no punctuation.

    Every Unicode punctuation character except the apostrophe becomes a
    space (typographic apostrophes are mapped to ``'``), letters are
    upper-cased and runs of white space collapse to one space. Apply it to
    both the reference and the hypothesis.

    Arguments
    ---------
    text : str
        A transcript.

    Returns
    -------
    str
        The normalised transcript.

    Example
    -------
    >>> normalize_text("  Well, I don’t know...   maybe-later!")
    "WELL I DON'T KNOW MAYBE LATER"
    """
    chars = []
    for char in text:
        char = _APOSTROPHES.get(char, char)
        if char != "'" and unicodedata.category(char).startswith("P"):
            char = " "
        chars.append(char)
    return _SPACES.sub(" ", "".join(chars).upper()).strip()


def _has_keys(records, keys, what):
    """Tell whether all records carry ``keys`` (error when only some do)."""
    present = [all(key in record for key in keys) for record in records]
    if any(present) and not all(present):
        missing = present.index(False)
        raise ValueError(
            f"Only some records carry {what} keys {keys}; record "
            f"{records[missing].get('id', missing)!r} lacks them."
        )
    return all(present)


def _error_counts(refs, hyps, characters):
    """Return (edits, reference units) over a corpus of normalised text."""
    edits, units = 0, 0
    pairs_ref, pairs_hyp = [], []
    for ref, hyp in zip(refs, hyps):
        if ref:
            pairs_ref.append(ref)
            pairs_hyp.append(hyp)
        elif hyp:
            # An empty reference: every hypothesis unit is an insertion.
            edits += len(hyp) if characters else len(hyp.split())
    if pairs_ref:
        if characters:
            out = jiwer.process_characters(pairs_ref, pairs_hyp)
        else:
            out = jiwer.process_words(pairs_ref, pairs_hyp)
        edits += out.substitutions + out.deletions + out.insertions
        units += out.substitutions + out.deletions + out.hits
    return edits, units


def _rate(edits, units):
    """Error rate in %, 0 or 100 when there is no reference unit."""
    if units == 0:
        return 0.0 if edits == 0 else 100.0
    return 100.0 * edits / units


def _error_rate(refs, hyps, characters=False):
    """Corpus error rate in %, 0 or 100 when there is no reference unit."""
    return _rate(*_error_counts(refs, hyps, characters))


def compute_metrics(records, labels=None):
    """Compute the SER and ASR metrics of one condition.

    Emotion metrics are computed when the records carry ``emo`` and
    ``pred``, transcript metrics when they carry ``ref`` and ``hyp`` (all
    records or none). All values are percentages (0-100):

    * ``WA``: weighted accuracy, the fraction of correct predictions;
    * ``UA``: unweighted accuracy, the mean recall of the labels that occur
      as true labels;
    * ``macro_F1``: the mean F1 of the labels that occur as true or
      predicted labels;
    * ``WER`` / ``CER``: corpus word / character error rate, total edits
      over total reference words / characters (spaces included) after
      :func:`normalize_text`. An empty reference adds its hypothesis as
      insertions; a corpus without reference words scores 0 when the
      hypotheses are empty too and 100 otherwise;
    * ``WER_by_emotion``: the WER of the utterances of each true emotion;
    * ``window_WA``: when the records carry ``n_windows`` and
      ``windows_correct``, the accuracy over all the windows of all the
      utterances (every window counts once, so long utterances weigh more
      than in ``WA``), with ``n_windows`` their total.

    Arguments
    ---------
    records : list of dict
        One dict per utterance with keys ``id`` and ``emo``/``pred`` and/or
        ``ref``/``hyp``; other keys are ignored.
    labels : list, optional
        The emotion labels in the order of the confusion matrix. Defaults to
        the sorted set of true and predicted labels. A label outside this
        list raises ValueError.

    Returns
    -------
    dict
        ``n`` (number of utterances); with emotions ``labels``, ``WA``,
        ``UA``, ``macro_F1`` and ``confusion`` (list of lists, rows true,
        columns predicted, in ``labels`` order); with transcripts ``WER``,
        ``CER`` and, when emotions are present too, ``WER_by_emotion``;
        with window counts ``n_windows`` and ``window_WA``.

    Example
    -------
    >>> records = [
    ...     {"id": "a", "ref": "hello there", "hyp": "Hello, there!",
    ...      "emo": "hap", "pred": "hap"},
    ...     {"id": "b", "ref": "go away now", "hyp": "go way",
    ...      "emo": "ang", "pred": "hap"},
    ... ]
    >>> metrics = compute_metrics(records, labels=["ang", "hap"])
    >>> metrics["WA"], metrics["UA"], metrics["confusion"]
    (50.0, 50.0, [[0, 1], [0, 1]])
    >>> metrics["WER"], metrics["WER_by_emotion"]
    (40.0, {'ang': 66.66666666666667, 'hap': 0.0})
    >>> windows = [
    ...     {"id": "a", "emo": "hap", "pred": "hap",
    ...      "n_windows": 3, "windows_correct": 2},
    ...     {"id": "b", "emo": "ang", "pred": "ang",
    ...      "n_windows": 1, "windows_correct": 1},
    ... ]
    >>> metrics = compute_metrics(windows, labels=["ang", "hap"])
    >>> metrics["WA"], metrics["window_WA"], metrics["n_windows"]
    (100.0, 75.0, 4)
    """
    if len(records) == 0:
        raise ValueError("compute_metrics needs at least one record.")
    has_ser = _has_keys(records, SER_KEYS, "emotion")
    has_asr = _has_keys(records, ASR_KEYS, "transcript")
    has_windows = _has_keys(records, WINDOW_KEYS, "window")
    if not has_ser and not has_asr:
        raise ValueError(
            "Records carry neither emo/pred nor ref/hyp: nothing to score."
        )
    metrics = {"n": len(records)}

    if has_ser:
        true = [record["emo"] for record in records]
        pred = [record["pred"] for record in records]
        if labels is None:
            labels = sorted(set(true) | set(pred))
        labels = list(labels)
        index = {label: i for i, label in enumerate(labels)}
        unknown = [x for x in dict.fromkeys(true + pred) if x not in index]
        if unknown:
            raise ValueError(
                f"Emotion label(s) {unknown} are not in labels {labels}."
            )
        y_true = [index[t] for t in true]
        y_pred = [index[p] for p in pred]
        present = sorted(set(y_true))
        scored = sorted(set(y_true) | set(y_pred))
        metrics["labels"] = labels
        metrics["WA"] = 100.0 * accuracy_score(y_true, y_pred)
        metrics["UA"] = 100.0 * recall_score(
            y_true, y_pred, labels=present, average="macro", zero_division=0
        )
        metrics["macro_F1"] = 100.0 * f1_score(
            y_true, y_pred, labels=scored, average="macro", zero_division=0
        )
        metrics["confusion"] = confusion_matrix(
            y_true, y_pred, labels=range(len(labels))
        ).tolist()

    if has_windows:
        n_windows = sum(int(record["n_windows"]) for record in records)
        correct = sum(int(record["windows_correct"]) for record in records)
        if n_windows == 0:
            raise ValueError("The records' n_windows add up to 0 windows.")
        metrics["n_windows"] = n_windows
        metrics["window_WA"] = 100.0 * correct / n_windows

    if has_asr:
        refs = [normalize_text(record["ref"]) for record in records]
        hyps = [normalize_text(record["hyp"]) for record in records]
        metrics["WER"] = _error_rate(refs, hyps)
        metrics["CER"] = _error_rate(refs, hyps, characters=True)
        if has_ser:
            by_emotion = {}
            for label in labels:
                rows = [
                    i
                    for i, record in enumerate(records)
                    if record["emo"] == label
                ]
                if rows:
                    by_emotion[str(label)] = _error_rate(
                        [refs[i] for i in rows], [hyps[i] for i in rows]
                    )
            metrics["WER_by_emotion"] = by_emotion
    return metrics


WORD_COUNT_BINS = ((0, 10), (11, 20), (21, 30), (31, None))
"""Reference word-count bins of Li, Bell & Lai (2022), Table 2: inclusive
``(min_words, max_words)``, ``None`` for no upper bound."""


def _bin_name(low, high):
    """Name a word-count bin: ``<=10``, ``11-20``, ``>30``."""
    if high is None:
        return f">{low - 1}" if low > 0 else "all"
    if low == 0:
        return f"<={high}"
    return str(low) if low == high else f"{low}-{high}"


def _check_bins(bins):
    """Validate word-count bins; return them as a list of (low, high)."""
    checked, previous = [], -1
    for pair in bins:
        low, high = pair
        if previous is None or low <= previous or low < 0:
            raise ValueError(
                f"Word-count bins must be increasing and disjoint, with "
                f"non-negative bounds; got {list(bins)}."
            )
        if high is not None and high < low:
            raise ValueError(f"Bin {pair} has its upper bound below its lower.")
        checked.append((int(low), None if high is None else int(high)))
        previous = high
    if not checked:
        raise ValueError("wer_breakdown needs at least one word-count bin.")
    return checked


def _group(counts, rows):
    """Pool the (edits, words) counts of ``rows`` into one table row."""
    errors = sum(counts[i][0] for i in rows)
    words = sum(counts[i][1] for i in rows)
    return {
        "n_utterances": len(rows),
        "n_words": words,
        "errors": errors,
        "WER": _rate(errors, words) if rows else None,
    }


def wer_breakdown(records, labels=None, bins=WORD_COUNT_BINS):
    """Break the WER down by true emotion and by reference word count.

    Each group reports the corpus-level WER of its utterances (their total
    word edits over their total reference words, counted as for ``WER`` in
    :func:`compute_metrics`), the number of utterances and of reference
    words. The word count of an utterance is that of its reference after
    :func:`normalize_text`. A group without utterances has ``WER`` None; a
    group whose references are all empty follows :func:`compute_metrics`
    (0 without hypothesis words, 100 otherwise).

    Arguments
    ---------
    records : list of dict
        Per-utterance records (see :func:`compute_metrics`). Only ``ref``,
        ``hyp`` and, for the emotion groups, ``emo`` (the true label) are
        read.
    labels : list, optional
        The emotion groups, in this order; a label without utterances gets
        an empty row. Defaults to the sorted true labels. A true label
        outside this list raises ValueError.
    bins : sequence of (int, int or None)
        Inclusive ``(min_words, max_words)`` bins in increasing, disjoint
        order; ``None`` as the last upper bound means no bound. The default
        is ``<=10``, ``11-20``, ``21-30`` and ``>30`` words. Utterances
        outside every bin are left out of ``by_length`` only.

    Returns
    -------
    dict or None
        None when the records carry no ``ref``/``hyp`` (SER-only run) or
        there is no record. Otherwise ``all`` (every utterance),
        ``by_emotion`` (``{label: row}``, None when the records carry no
        ``emo``), ``by_length`` (``{bin_name: row}``, each row also with
        ``min_words`` and ``max_words``) and ``by_length_and_emotion``
        (``{bin_name: {label: row}}``, the layout of Table 2; None without
        ``emo``). A row holds ``n_utterances``, ``n_words``, ``errors`` and
        ``WER`` (in %, None when empty).

    Example
    -------
    >>> records = [
    ...     {"id": "a", "ref": "oh no, oh no", "hyp": "oh no", "emo": "sad"},
    ...     {"id": "b", "ref": "yes", "hyp": "yes", "emo": "hap"},
    ...     {"id": "c", "ref": " ".join(["word"] * 16),
    ...      "hyp": " ".join(["word"] * 14), "emo": "sad"},
    ... ]
    >>> out = wer_breakdown(records, labels=["neu", "hap", "sad"])
    >>> for name, row in out["by_emotion"].items():
    ...     print(name, row["n_utterances"], row["n_words"], row["WER"])
    neu 0 0 None
    hap 1 1 0.0
    sad 2 20 20.0
    >>> for name, row in out["by_length"].items():
    ...     print(name, row["n_utterances"], row["n_words"], row["WER"])
    <=10 2 5 40.0
    11-20 1 16 12.5
    21-30 0 0 None
    >30 0 0 None
    >>> out["by_length_and_emotion"]["<=10"]["sad"]["WER"]
    50.0
    >>> out["all"]["WER"] == compute_metrics(records)["WER"]
    True
    >>> wer_breakdown([{"id": "a", "emo": "sad", "pred": "neu"}]) is None
    True
    """
    bins = _check_bins(bins)
    if not records or not _has_keys(records, ASR_KEYS, "transcript"):
        return None
    counts = []
    for record in records:
        ref = normalize_text(record["ref"])
        hyp = normalize_text(record["hyp"])
        counts.append(_error_counts([ref], [hyp], characters=False))
    everything = list(range(len(records)))
    breakdown = {"all": _group(counts, everything), "by_emotion": None}
    true = None
    if _has_keys(records, ("emo",), "emotion"):
        true = [record["emo"] for record in records]
        labels = sorted(set(true)) if labels is None else list(labels)
        unknown = [x for x in dict.fromkeys(true) if x not in labels]
        if unknown:
            raise ValueError(
                f"Emotion label(s) {unknown} are not in labels {labels}."
            )
        breakdown["by_emotion"] = {
            str(label): _group(
                counts, [i for i in everything if true[i] == label]
            )
            for label in labels
        }

    by_length, crossed = {}, {}
    for low, high in bins:
        rows = [
            i
            for i in everything
            if low <= counts[i][1] and (high is None or counts[i][1] <= high)
        ]
        name = _bin_name(low, high)
        by_length[name] = {
            "min_words": low,
            "max_words": high,
            **_group(counts, rows),
        }
        if true is not None:
            crossed[name] = {
                str(label): _group(
                    counts, [i for i in rows if true[i] == label]
                )
                for label in labels
            }
    breakdown["by_length"] = by_length
    breakdown["by_length_and_emotion"] = crossed if true is not None else None
    return breakdown


def utterance_records(
    ids, emotions, refs=None, hyps=None, probs=None, labels=None
):
    """The per-utterance records that the metrics and the reports read.

    Arguments
    ---------
    ids : list of str
        Utterance ids.
    emotions : list of str, optional
        True emotion labels (``None`` for a model without an emotion head).
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
        ``id`` and, where given, ``emo``, ``ref``, ``hyp``, ``pred`` (the
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
        record = {"id": uid}
        if emotions is not None:
            record["emo"] = emotions[i]
        if hyps is not None:
            record["ref"], record["hyp"] = refs[i], " ".join(hyps[i])
        if probs is not None:
            record["pred"] = labels[int(probs[i].argmax())]
            record["probs"] = probs[i].tolist()
        records.append(record)
    return records


PREDICTION_KEYS = {
    "p_emo": "emotion log-probabilities [batch, classes], in the order of "
    "the label encoder",
    "hyps": "ASR hypotheses, one list of words per utterance",
    "window_p_emo": "log-probabilities of every window [windows, classes]",
    "window_owners": "the batch index of every window [windows]",
}
"""The keys of the prediction contract that the core scores.

A recipe's ``compute_forward`` returns a dict with at least one of
``p_emo`` and ``hyps`` outside training (``window_p_emo`` and
``window_owners`` come together, with ``p_emo``); any other key (CTC
posteriors and their lengths, decoder outputs, ...) is the recipe's own,
for its loss. The targets are read from the batch: ``id``, ``emo_encoded``
(emotion indices) and ``wrd`` (the reference transcript)."""


def check_predictions(predictions, batch_size, n_classes=None):
    """Fails unless ``predictions`` follow the prediction contract.

    Arguments
    ---------
    predictions : dict
        What a recipe's ``compute_forward`` returned for an evaluated batch
        (see :data:`PREDICTION_KEYS`).
    batch_size : int
        Utterances in the batch.
    n_classes : int, optional
        Emotion classes of the label encoder, checked against ``p_emo``.

    Example
    -------
    >>> import torch
    >>> check_predictions({"p_emo": torch.zeros(2, 4)}, 2, n_classes=4)
    >>> check_predictions({"p_emo": torch.zeros(3, 4)}, 2)
    Traceback (most recent call last):
    ...
    ValueError: predictions['p_emo'] has 3 rows for a batch of 2 utterances.
    """
    if not isinstance(predictions, dict):
        raise TypeError(
            "compute_forward must return a dict of predictions with "
            f"'p_emo' and/or 'hyps' (see {__name__}.PREDICTION_KEYS); got "
            f"{type(predictions).__name__}."
        )
    if "p_emo" not in predictions and "hyps" not in predictions:
        raise ValueError(
            "The predictions carry neither 'p_emo' (emotion "
            "log-probabilities) nor 'hyps' (ASR hypotheses); keys: "
            f"{sorted(predictions)}."
        )
    if "p_emo" in predictions:
        p_emo = predictions["p_emo"]
        if not isinstance(p_emo, torch.Tensor) or p_emo.dim() != 2:
            raise ValueError(
                "predictions['p_emo'] must be a tensor [batch, classes]; "
                f"got {getattr(p_emo, 'shape', type(p_emo))}."
            )
        if p_emo.shape[0] != batch_size:
            raise ValueError(
                f"predictions['p_emo'] has {p_emo.shape[0]} rows for a "
                f"batch of {batch_size} utterances."
            )
        if n_classes is not None and p_emo.shape[1] != n_classes:
            raise ValueError(
                f"predictions['p_emo'] has {p_emo.shape[1]} classes; the "
                f"label encoder has {n_classes}."
            )
    if "hyps" in predictions and len(predictions["hyps"]) != batch_size:
        raise ValueError(
            f"predictions['hyps'] has {len(predictions['hyps'])} hypotheses "
            f"for a batch of {batch_size} utterances."
        )
    windows = [key in predictions for key in ("window_p_emo", "window_owners")]
    if any(windows) and not all(windows):
        raise ValueError(
            "predictions must carry both 'window_p_emo' and "
            "'window_owners', or neither."
        )


def records_from_predictions(
    predictions, ids, emo=None, refs=None, labels=None
):
    """One record per utterance from a batch's predictions and targets.

    Arguments
    ---------
    predictions : dict
        Predictions of the batch (see :data:`PREDICTION_KEYS`).
    ids : list of str
        Utterance ids.
    emo : torch.Tensor, optional
        True emotion indices [batch]: needed with ``p_emo``; without it
        (an ASR model on emotion-labelled data) the records still carry
        the true emotion, for the WER by emotion.
    refs : list of str, optional
        Reference transcripts (with ``hyps``).
    labels : list of str, optional
        Emotion labels in the order of the classifier's outputs.

    Returns
    -------
    list of dict
        The records (see the module documentation).

    Example
    -------
    >>> import torch
    >>> out = {"p_emo": torch.tensor([[0.1, 0.9], [0.8, 0.2]]).log(),
    ...        "hyps": [["OH", "NO"], []]}
    >>> records = records_from_predictions(
    ...     out, ["a", "b"], emo=torch.tensor([1, 1]),
    ...     refs=["oh no", "yes"], labels=["neu", "sad"])
    >>> [(r["emo"], r["pred"], r["hyp"]) for r in records]
    [('sad', 'sad', 'OH NO'), ('sad', 'neu', '')]
    >>> records_from_predictions({"hyps": [["OH"]]}, ["a"], refs=["oh"],
    ...                          emo=torch.tensor([0]), labels=["neu", "sad"])
    [{'id': 'a', 'emo': 'neu', 'ref': 'oh', 'hyp': 'OH'}]
    """
    n_classes = len(labels) if labels is not None else None
    check_predictions(predictions, len(ids), n_classes)
    probs = emotions = None
    if "p_emo" in predictions:
        if emo is None or labels is None:
            raise ValueError(
                "Emotion predictions need the true emotions and the labels."
            )
        probs = predictions["p_emo"].detach().float().exp().cpu()
        bad = [ids[i] for i in range(len(ids)) if not probs[i].isfinite().all()]
        if bad:
            raise ValueError(
                f"Non-finite emotion probabilities for utterance(s) {bad}: "
                "no label can be predicted from them."
            )
    if emo is not None and labels is not None:
        emotions = [labels[int(i)] for i in emo.reshape(-1).tolist()]
    hyps = predictions.get("hyps")
    if hyps is not None and refs is None:
        raise ValueError("ASR hypotheses need the reference transcripts.")
    records = utterance_records(
        ids, emotions, refs=refs, hyps=hyps, probs=probs, labels=labels
    )
    if "window_p_emo" in predictions:
        owners = predictions["window_owners"].detach().cpu()
        window_pred = predictions["window_p_emo"].detach().argmax(-1).cpu()
        true = emo.reshape(-1).cpu()
        hits = (window_pred == true[owners]).long()
        n_windows = torch.bincount(owners, minlength=len(ids))
        correct = torch.zeros_like(n_windows).index_add_(0, owners, hits)
        for i, record in enumerate(records):
            record["n_windows"] = int(n_windows[i])
            record["windows_correct"] = int(correct[i])
    return records


def scalar_metrics(metrics):
    """The numeric entries of :func:`compute_metrics`, for a stage's log.

    Arguments
    ---------
    metrics : dict
        What :func:`compute_metrics` returned.

    Returns
    -------
    dict
        Its float entries (``WER``, ``CER``, ``WA``, ``UA``, ``macro_F1``,
        ``window_WA``), without counts, labels and matrices.

    Example
    -------
    >>> scalar_metrics({"n": 2, "WA": 50.0, "labels": ["a"], "UA": 40.0})
    {'WA': 50.0, 'UA': 40.0}
    """
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, float) and key not in ("n", "n_windows")
    }


def selection_error(stats, selection_metric="loss"):
    """The checkpoint-selection error of a validation stage (lower: better).

    Arguments
    ---------
    stats : dict
        The stage's losses and metrics.
    selection_metric : str or list of str
        A metric name or a list of names. The error is the sum over them of
        the metric itself for an error (``loss``, ``WER``, ``CER``) and of
        ``100 - metric`` for an accuracy in % (``WA``, ``UA``,
        ``macro_F1``, ``window_WA``).

    Returns
    -------
    float
        The error.

    Example
    -------
    >>> stats = {"loss": 1.5, "WER": 30.0, "UA": 60.0}
    >>> selection_error(stats, "UA")
    40.0
    >>> selection_error(stats, ["WER", "UA"])
    70.0
    >>> selection_error(stats, "CER")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: selection_metric names 'CER', which this stage did not ...
    """
    names = (
        [selection_metric]
        if isinstance(selection_metric, str)
        else list(selection_metric)
    )
    if not names:
        raise ValueError("selection_metric is empty: name at least one.")
    error = 0.0
    for name in names:
        if name not in stats:
            raise ValueError(
                f"selection_metric names {name!r}, which this stage did "
                f"not compute; it has {sorted(stats)}."
            )
        value = float(stats[name])
        error += value if name in ERROR_METRICS else 100.0 - value
    if not math.isfinite(error):
        return math.inf
    return error


class StageMetrics:
    """The records of a validation or test stage, and their metrics.

    Arguments
    ---------
    labels : list of str, optional
        Emotion labels in the order of the classifier's outputs (needed
        for emotion predictions).

    Example
    -------
    >>> import torch
    >>> metrics = StageMetrics(labels=["neu", "sad"])
    >>> metrics.append({"p_emo": torch.tensor([[0.1, 0.9]]).log()},
    ...                ["a"], emo=torch.tensor([1]))
    >>> metrics.append({"p_emo": torch.tensor([[0.6, 0.4]]).log()},
    ...                ["b"], emo=torch.tensor([1]))
    >>> metrics.summarize()["WA"]
    50.0
    """

    def __init__(self, labels=None):
        self.labels = labels
        self.records = []

    def append(self, predictions, ids, emo=None, refs=None):
        """Adds a batch (see :func:`records_from_predictions`)."""
        self.records += records_from_predictions(
            predictions, ids, emo=emo, refs=refs, labels=self.labels
        )

    def summarize(self):
        """The stage's metrics (:func:`scalar_metrics`); empty if none."""
        if not self.records:
            return {}
        return scalar_metrics(compute_metrics(self.records, self.labels))
