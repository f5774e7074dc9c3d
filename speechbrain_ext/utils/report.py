"""Metrics, prediction files, plots and tables for one or many conditions.

A run is evaluated under one or more test conditions (clean, noise at some
SNR, ...). For each condition the recipe collects one record per utterance,
a dict with the keys

* ``id``: utterance id,
* ``ref`` / ``hyp``: reference and hypothesis transcripts (ASR runs),
* ``emo`` / ``pred``: true and predicted emotion labels (SER runs),
* ``probs`` (optional): class probabilities, a dict ``{label: p}`` or a
  sequence in label order,
* ``n_windows`` / ``windows_correct`` (optional, window classifiers): how
  many windows the utterance was cut into and how many of them the
  classifier got right on their own, before their aggregation into the
  utterance's ``pred``,

and calls :func:`write_condition_report`; at the end of the run,
:func:`write_run_report` gathers the conditions. The output folder then
holds::

    <out_dir>/metrics.json            {condition: metrics}
    <out_dir>/results.md              markdown table, one row per condition
    <out_dir>/conditions.png          bar plot comparing the conditions
    <out_dir>/<condition>/predictions.csv
    <out_dir>/<condition>/metrics.json
    <out_dir>/<condition>/confusion.png
    <out_dir>/<condition>/wer_breakdown.json   WER by emotion and by length
    <out_dir>/<condition>/wer_breakdown.md     the same as markdown tables
    <out_dir>/condition_set.json      the condition set of these reports

The top level of a results folder holds the reports of the first condition
set evaluated in it; another set evaluated later (e.g. ``--test_only
--test_conditions=snr_sweep``) gets ``<out_dir>/condition_sets/<set>/``
with the same layout, so it never overwrites the run's results (see
:func:`condition_set_folder`).

All metrics are percentages (0-100). WER and CER are corpus-level (total
edits over total reference words or characters) after the same
:func:`normalize_text` on references and hypotheses. The WER breakdown
(:func:`wer_breakdown`, written only when the records carry transcripts)
groups the utterances by true emotion, by reference word count and by
both, as in Li, Bell & Lai (2022), Tables 1-2.

Authors
 * speechbrain_ext contributors
"""

import csv
import json
import os
import re
import unicodedata

import jiwer
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

METRIC_NAMES = {
    "WER": "WER",
    "CER": "CER",
    "WA": "WA",
    "window_WA": "window WA",
    "UA": "UA",
    "macro_F1": "macro-F1",
}
"""Metrics of the markdown table and their column headers, in order."""

_ASR_KEYS = ("ref", "hyp")
_SER_KEYS = ("emo", "pred")
_WINDOW_KEYS = ("n_windows", "windows_correct")
_PROB_PREFIX = "prob_"
CONDITION_SET_FILE = "condition_set.json"
"""Record of the condition set whose reports a results folder holds."""

OTHER_SETS_FOLDER = "condition_sets"
"""Sub-folder of a results folder for the reports of other condition sets."""

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
    has_ser = _has_keys(records, _SER_KEYS, "emotion")
    has_asr = _has_keys(records, _ASR_KEYS, "transcript")
    has_windows = _has_keys(records, _WINDOW_KEYS, "window")
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
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for t, p in zip(true, pred):
            confusion[index[t], index[p]] += 1
        hits = np.diag(confusion).astype(np.float64)
        support = confusion.sum(axis=1)
        predicted = confusion.sum(axis=0)
        recall = hits[support > 0] / support[support > 0]
        scored = (support + predicted) > 0
        f1 = 2 * hits[scored] / (support[scored] + predicted[scored])
        metrics["labels"] = labels
        metrics["WA"] = 100.0 * float(hits.sum()) / len(records)
        metrics["UA"] = 100.0 * float(recall.mean())
        metrics["macro_F1"] = 100.0 * float(f1.mean())
        metrics["confusion"] = confusion.tolist()

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
    if not records or not _has_keys(records, _ASR_KEYS, "transcript"):
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


def _breakdown_table(rows, first_header):
    """Format (name, row) pairs of :func:`wer_breakdown` as markdown lines."""
    lines = [
        f"| {first_header} | Utterances | Ref. words | WER |",
        "|---|---:|---:|---:|",
    ]
    for name, row in rows:
        wer = "-" if row["WER"] is None else f"{row['WER']:.2f}"
        lines.append(
            f"| {name} | {row['n_utterances']} | {row['n_words']} | {wer} |"
        )
    return lines


def _crossed_table(breakdown):
    """The WER by length (rows) and emotion (columns), markdown lines."""

    def cell(row):
        """The WER of a row with two decimals, ``-`` when empty."""
        return "-" if row["WER"] is None else f"{row['WER']:.2f}"

    labels = list(breakdown["by_emotion"])
    lines = [
        "| Words | " + " | ".join(labels + ["All"]) + " |",
        "|---|" + "---:|" * (len(labels) + 1),
    ]
    rows = [
        (name, breakdown["by_length_and_emotion"][name], row)
        for name, row in breakdown["by_length"].items()
    ]
    rows.append(("All", breakdown["by_emotion"], breakdown["all"]))
    for name, by_label, total in rows:
        cells = [cell(by_label[label]) for label in labels] + [cell(total)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def wer_breakdown_markdown(breakdown, title=None):
    """Format a :func:`wer_breakdown` as two markdown tables.

    One table by true emotion (left out when the breakdown has none), one
    by reference word count, both ending with the row of all utterances,
    and, with emotions, the WER by word count (rows) and emotion (columns)
    as in Li et al. (2022), Table 2. WER values have two decimals, ``-``
    marks a group without utterances.

    Arguments
    ---------
    breakdown : dict
        The return value of :func:`wer_breakdown`.
    title : str, optional
        Heading of the document, by default ``WER breakdown``.

    Returns
    -------
    str
        The markdown document.

    Example
    -------
    >>> records = [{"id": "a", "ref": "oh no", "hyp": "oh", "emo": "sad"},
    ...            {"id": "b", "ref": "yes", "hyp": "yes", "emo": "hap"}]
    >>> text = wer_breakdown_markdown(
    ...     wer_breakdown(records, bins=[(0, 2), (3, None)]), "clean")
    >>> print(text[text.index("## By emotion"):])
    ## By emotion
    <BLANKLINE>
    | Emotion | Utterances | Ref. words | WER |
    |---|---:|---:|---:|
    | hap | 1 | 1 | 0.00 |
    | sad | 1 | 2 | 50.00 |
    | All | 2 | 3 | 33.33 |
    <BLANKLINE>
    ## By reference length
    <BLANKLINE>
    | Words | Utterances | Ref. words | WER |
    |---|---:|---:|---:|
    | <=2 | 2 | 3 | 33.33 |
    | >2 | 0 | 0 | - |
    | All | 2 | 3 | 33.33 |
    <BLANKLINE>
    ## By reference length and emotion (WER)
    <BLANKLINE>
    | Words | hap | sad | All |
    |---|---:|---:|---:|
    | <=2 | 0.00 | 50.00 | 33.33 |
    | >2 | - | - | - |
    | All | 0.00 | 50.00 | 33.33 |
    <BLANKLINE>
    """
    total = [("All", breakdown["all"])]
    lines = [
        f"# {title or 'WER breakdown'}",
        "",
        "WER in %, corpus-level (word edits over reference words after "
        "text normalisation) within each group; the length of an utterance "
        "is the word count of its normalised reference. `-`: no utterance.",
        "",
    ]
    if breakdown.get("by_emotion") is not None:
        lines += ["## By emotion", ""]
        rows = list(breakdown["by_emotion"].items()) + total
        lines += _breakdown_table(rows, "Emotion")
        lines += [""]
    lines += ["## By reference length", ""]
    rows = list(breakdown["by_length"].items()) + total
    lines += _breakdown_table(rows, "Words")
    if breakdown.get("by_length_and_emotion") is not None:
        lines += ["", "## By reference length and emotion (WER)", ""]
        lines += _crossed_table(breakdown)
    return "\n".join(lines) + "\n"


def _prob_columns(records, labels):
    """Return the names of the probability columns (without prefix)."""
    first = next((r["probs"] for r in records if "probs" in r), None)
    if first is None:
        return []
    if isinstance(first, dict):
        return [str(key) for key in first]
    size = len(first)
    if labels is not None and len(labels) == size:
        return [str(label) for label in labels]
    return [str(k) for k in range(size)]


def _prob_values(probs, names):
    """Return the probabilities of a record in column order."""
    if isinstance(probs, dict):
        probs = {str(key): value for key, value in probs.items()}
        return [repr(float(probs[name])) for name in names]
    values = np.asarray(
        probs.detach().cpu() if hasattr(probs, "detach") else probs,
        dtype=np.float64,
    ).reshape(-1)
    if len(values) != len(names):
        raise ValueError(
            f"Got {len(values)} probabilities, expected {len(names)}."
        )
    return [repr(float(value)) for value in values]


def write_predictions_csv(records, path, labels=None):
    """Write one row per utterance: id, ref, hyp, emo, pred, probabilities.

    Only the columns some record carries are written (an SER-only run has
    no ``ref``/``hyp``; window classifiers add ``n_windows`` and
    ``windows_correct``). Probabilities go to columns ``prob_<label>``: the
    keys of a ``probs`` dict, or ``labels`` (or positions) for a sequence
    or tensor. Parent folders are created.

    Arguments
    ---------
    records : list of dict
        Per-utterance records (see :func:`compute_metrics`), optionally
        with ``probs``.
    path : str
        The csv file to write.
    labels : list, optional
        Names of the probability columns when ``probs`` are sequences.

    Returns
    -------
    str
        ``path``.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "predictions.csv")
    >>> records = [{"id": "u1", "emo": "sad", "pred": "neu",
    ...             "probs": [0.75, 0.25]}]
    >>> _ = write_predictions_csv(records, path, labels=["neu", "sad"])
    >>> print(open(path).read().strip())
    id,emo,pred,prob_neu,prob_sad
    u1,sad,neu,0.75,0.25
    >>> tmp.cleanup()
    """
    columns = ["id"] + [
        key
        for key in _ASR_KEYS + _SER_KEYS + _WINDOW_KEYS
        if any(key in record for record in records)
    ]
    prob_names = _prob_columns(records, labels)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fout:
        writer = csv.writer(fout)
        writer.writerow(columns + [_PROB_PREFIX + name for name in prob_names])
        for record in records:
            row = [str(record.get(key, "")) for key in columns]
            if prob_names:
                if "probs" in record:
                    row += _prob_values(record["probs"], prob_names)
                else:
                    row += [""] * len(prob_names)
            writer.writerow(row)
    return path


def read_predictions_csv(path):
    """Read a file written by :func:`write_predictions_csv`.

    Arguments
    ---------
    path : str
        The csv file.

    Returns
    -------
    list of dict
        One record per row with the string columns it has (``id``,
        ``ref``, ``hyp``, ``emo``, ``pred``, ``n_windows``,
        ``windows_correct``) and, when the file has
        ``prob_*`` columns, ``probs`` as a dict ``{label: float}``.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "predictions.csv")
    >>> records = [{"id": "u1", "ref": "yes, sir", "hyp": "yes",
    ...             "emo": "neu", "pred": "neu", "probs": {"neu": 0.9}}]
    >>> _ = write_predictions_csv(records, path)
    >>> read_predictions_csv(path) == records
    True
    >>> tmp.cleanup()
    """
    records = []
    with open(path, newline="", encoding="utf-8") as fin:
        for row in csv.DictReader(fin):
            record, probs = {}, {}
            for key, value in row.items():
                if key.startswith(_PROB_PREFIX):
                    if value != "":
                        probs[key[len(_PROB_PREFIX) :]] = float(value)
                else:
                    record[key] = value
            if probs:
                record["probs"] = probs
            records.append(record)
    return records


def _save(figure, path):
    """Save a figure as PNG through the Agg canvas, creating folders."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=120)
    return path


def plot_confusion(confusion, labels, path, title=None):
    """Plot a confusion matrix with counts and row percentages (PNG).

    Each cell shows its count and its share of the true class (row
    normalised, in %); the colour follows the share.

    Arguments
    ---------
    confusion : list of list or numpy.ndarray
        Counts, rows true labels, columns predicted labels.
    labels : list of str
        Label names in matrix order.
    path : str
        The PNG file to write (folders are created).
    title : str, optional
        Title of the plot.

    Returns
    -------
    str
        ``path``.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "confusion.png")
    >>> _ = plot_confusion([[3, 1], [0, 4]], ["neu", "ang"], path, "clean")
    >>> open(path, "rb").read(4)[1:]
    b'PNG'
    >>> tmp.cleanup()
    """
    counts = np.asarray(confusion, dtype=np.int64)
    n_labels = len(labels)
    if counts.shape != (n_labels, n_labels):
        raise ValueError(
            f"confusion has shape {counts.shape}, expected "
            f"({n_labels}, {n_labels}) for labels {list(labels)}."
        )
    rows = counts.sum(axis=1, keepdims=True)
    shares = 100.0 * counts / np.maximum(rows, 1)

    size = 1.8 + 0.9 * n_labels
    figure = Figure(figsize=(size + 1.2, size))
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=100.0)
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label("% of true class")
    for i in range(n_labels):
        for j in range(n_labels):
            axes.text(
                j,
                i,
                f"{counts[i, j]}\n{shares[i, j]:.1f}%",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shares[i, j] > 50.0 else "black",
            )
    ticks = np.arange(n_labels)
    axes.set_xticks(ticks, [str(label) for label in labels])
    axes.set_yticks(ticks, [str(label) for label in labels])
    axes.set_xlabel("Predicted")
    axes.set_ylabel("True")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return _save(figure, path)


def _bar_panel(axes, results, keys, ylabel):
    """Draw grouped bars of ``keys`` for every condition on ``axes``."""
    names = list(results)
    positions = np.arange(len(names))
    width = 0.8 / len(keys)
    top = 0.0
    for k, key in enumerate(keys):
        values = [results[name].get(key, np.nan) for name in names]
        top = max([top] + [v for v in values if np.isfinite(v)])
        offsets = positions + (k - (len(keys) - 1) / 2) * width
        bars = axes.bar(offsets, values, width, label=METRIC_NAMES[key])
        axes.bar_label(bars, fmt="%.1f", fontsize=6, padding=1)
    axes.set_ylim(0.0, 1.3 * top if top > 0 else 1.0)
    axes.set_xticks(positions, names, rotation=30, ha="right")
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=8, loc="upper right", ncol=len(keys))
    axes.grid(axis="y", alpha=0.3)


def plot_conditions(results, path, title=None):
    """Plot the metrics of several conditions as grouped bars (PNG).

    One panel shows WER and CER (when present), another WA, UA and
    macro-F1 (when present), each with one group of bars per condition.

    Arguments
    ---------
    results : dict
        ``{condition_name: metrics}`` with metrics as returned by
        :func:`compute_metrics`, in display order.
    path : str
        The PNG file to write (folders are created).
    title : str, optional
        Title of the figure.

    Returns
    -------
    str
        ``path``.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "conditions.png")
    >>> results = {"clean": {"WA": 70.0, "UA": 68.0},
    ...            "noise_5dB": {"WA": 55.0, "UA": 52.5}}
    >>> _ = plot_conditions(results, path)
    >>> open(path, "rb").read(4)[1:]
    b'PNG'
    >>> tmp.cleanup()
    """
    if not results:
        raise ValueError("plot_conditions needs at least one condition.")
    groups = []
    for keys, ylabel in (
        (("WER", "CER"), "Error rate (%)"),
        (("WA", "UA", "macro_F1"), "Accuracy (%)"),
    ):
        present = [
            key for key in keys if any(key in m for m in results.values())
        ]
        if present:
            groups.append((present, ylabel))
    if not groups:
        raise ValueError("No WER, CER, WA, UA or macro_F1 in results.")

    width = max(5.0, 1.0 + 0.8 * len(results))
    figure = Figure(figsize=(width * len(groups), 4.0))
    for g, (keys, ylabel) in enumerate(groups):
        axes = figure.add_subplot(1, len(groups), g + 1)
        _bar_panel(axes, results, keys, ylabel)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def markdown_table(results, columns=None):
    """Format the metrics of several conditions as a markdown table.

    Arguments
    ---------
    results : dict
        ``{condition_name: metrics}``, one row per condition in this order.
    columns : list of str, optional
        Metric keys to show, by default ``WER``, ``CER``, ``WA``, ``UA``,
        ``macro_F1``. Columns absent from every condition are skipped; a
        value absent from one condition shows as ``-``.

    Returns
    -------
    str
        The table, numbers with two decimals.

    Example
    -------
    >>> results = {"clean": {"WER": 20.0, "WA": 71.234},
    ...            "music_5dB": {"WER": 35.5, "WA": 60.0}}
    >>> print(markdown_table(results))
    | Condition | WER | WA |
    |---|---:|---:|
    | clean | 20.00 | 71.23 |
    | music_5dB | 35.50 | 60.00 |
    """
    if columns is None:
        columns = list(METRIC_NAMES)
    columns = [
        key
        for key in columns
        if any(key in metrics for metrics in results.values())
    ]
    headers = [METRIC_NAMES.get(key, key) for key in columns]
    lines = [
        "| " + " | ".join(["Condition"] + headers) + " |",
        "|---|" + "".join("---:|" for _ in columns),
    ]
    for name, metrics in results.items():
        cells = [
            f"{metrics[key]:.2f}" if key in metrics else "-" for key in columns
        ]
        lines.append("| " + " | ".join([str(name)] + cells) + " |")
    return "\n".join(lines)


def _write_json(data, path):
    """Write ``data`` as indented JSON."""
    with open(path, "w", encoding="utf-8") as fout:
        json.dump(data, fout, indent=2)
        fout.write("\n")


def _check_folder_name(name, what):
    """Fails unless ``name`` can be used as one folder name."""
    name = str(name)
    if name in ("", ".", "..") or os.path.basename(name) != name:
        raise ValueError(f"Invalid {what} name for a folder: {name!r}")
    return name


def _read_condition_set(folder):
    """The record of ``folder``: its dict, or None when there is none."""
    path = os.path.join(folder, CONDITION_SET_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fin:
        try:
            record = json.load(fin)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path} is not valid JSON ({error}): move it away or "
                "use another results folder."
            ) from error
    if not isinstance(record, dict) or "conditions" not in record:
        raise ValueError(
            f"{path} has no 'conditions': move it away or use another "
            "results folder."
        )
    return record


def _claim(folder, record):
    """Whether ``folder`` may receive the reports of ``record``'s set.

    It may when it holds no reports yet (the record is then written), or
    when its record describes the same conditions.
    """
    existing = _read_condition_set(folder)
    if existing is None:
        if os.path.isfile(os.path.join(folder, "metrics.json")):
            return False  # reports of an unrecorded set
        os.makedirs(folder, exist_ok=True)
        _write_json(record, os.path.join(folder, CONDITION_SET_FILE))
        return True
    return existing["conditions"] == record["conditions"]


def condition_set_folder(out_dir, set_name, conditions):
    """The folder for the reports of one condition set, never another's.

    The top level of ``out_dir`` belongs to the first condition set
    evaluated there (normally the set the run was trained and tested
    with), recorded in ``<out_dir>/condition_set.json``. The same
    conditions evaluated again (``--test_only`` with the same set) write
    there again. Any other set gets
    ``<out_dir>/condition_sets/<set_name>/``, under the same rule. A
    results folder with a ``metrics.json`` but no record (written before
    the record existed) is treated as holding another set.

    Arguments
    ---------
    out_dir : str
        Results folder of the run.
    set_name : str
        Name of the condition set (e.g. ``paper7``, or the name of a yaml
        file without extension): the sub-folder of a set that is not the
        first one.
    conditions : list
        JSON-serialisable description of the conditions (e.g. a dict per
        condition with its name, noise category and SNR); two sets are the
        same when their descriptions are equal.

    Returns
    -------
    str
        The folder to write the condition and run reports into.

    Raises
    ------
    FileExistsError
        When ``<out_dir>/condition_sets/<set_name>/`` holds the reports of
        other conditions under the same name.

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> paper7 = [{"name": "clean"}, {"name": "noise_5dB"}]
    >>> condition_set_folder(out, "paper7", paper7) == out
    True
    >>> sweep = condition_set_folder(out, "snr_sweep", [{"name": "clean"}])
    >>> os.path.relpath(sweep, out)
    'condition_sets/snr_sweep'
    >>> condition_set_folder(out, "paper7", paper7) == out
    True
    """
    set_name = _check_folder_name(set_name, "condition set")
    record = {
        "name": set_name,
        "conditions": json.loads(json.dumps(conditions)),
    }
    if _claim(out_dir, record):
        return out_dir
    folder = os.path.join(out_dir, OTHER_SETS_FOLDER, set_name)
    if _claim(folder, record):
        return folder
    raise FileExistsError(
        f"{folder} holds the results of other conditions named "
        f"{set_name!r} (see its {CONDITION_SET_FILE}): rename the condition "
        "set file or give another --results_folder."
    )


def write_condition_report(out_dir, condition_name, records, labels=None):
    """Score one condition and write its artefacts.

    Writes ``<out_dir>/<condition_name>/predictions.csv``,
    ``metrics.json``, when the records carry emotions ``confusion.png``
    and, when they carry transcripts, ``wer_breakdown.json`` and
    ``wer_breakdown.md`` (see :func:`wer_breakdown`).

    Arguments
    ---------
    out_dir : str
        Output folder of the run.
    condition_name : str
        Name of the condition, used as sub-folder name.
    records : list of dict
        Per-utterance records (see :func:`compute_metrics`).
    labels : list, optional
        Emotion labels in confusion-matrix order (also names the
        probability columns of sequence ``probs`` and orders the emotion
        rows of the WER breakdown).

    Returns
    -------
    dict
        The metrics of :func:`compute_metrics`.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> records = [{"id": "u1", "emo": "neu", "pred": "neu"},
    ...            {"id": "u2", "emo": "sad", "pred": "neu"}]
    >>> metrics = write_condition_report(
    ...     tmp.name, "clean", records, labels=["neu", "sad"])
    >>> metrics["WA"], metrics["UA"]
    (50.0, 50.0)
    >>> sorted(os.listdir(os.path.join(tmp.name, "clean")))
    ['confusion.png', 'metrics.json', 'predictions.csv']
    >>> tmp.cleanup()
    """
    name = _check_folder_name(condition_name, "condition")
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    metrics = compute_metrics(records, labels)
    write_predictions_csv(
        records, os.path.join(folder, "predictions.csv"), labels
    )
    _write_json(metrics, os.path.join(folder, "metrics.json"))
    if "confusion" in metrics:
        plot_confusion(
            metrics["confusion"],
            metrics["labels"],
            os.path.join(folder, "confusion.png"),
            title=f"{name}: WA {metrics['WA']:.1f}%, UA {metrics['UA']:.1f}%",
        )
    breakdown = wer_breakdown(records, metrics.get("labels", labels))
    if breakdown is not None:
        _write_json(breakdown, os.path.join(folder, "wer_breakdown.json"))
        with open(
            os.path.join(folder, "wer_breakdown.md"), "w", encoding="utf-8"
        ) as fout:
            fout.write(
                wer_breakdown_markdown(breakdown, f"WER breakdown: {name}")
            )
    return metrics


def write_run_report(out_dir, results, title=None):
    """Write the run-level artefacts comparing all conditions.

    Writes ``<out_dir>/metrics.json`` (``{condition: metrics}``),
    ``<out_dir>/results.md`` (markdown table) and
    ``<out_dir>/conditions.png`` (bar plot).

    Arguments
    ---------
    out_dir : str
        Output folder of the run (created when missing).
    results : dict
        ``{condition_name: metrics}``, e.g. the return values of
        :func:`write_condition_report`, in display order.
    title : str, optional
        Heading of ``results.md`` and title of the plot.

    Returns
    -------
    str
        The markdown table, e.g. to log it.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> results = {"clean": {"WER": 21.0, "WA": 70.0},
    ...            "noise_5dB": {"WER": 48.25, "WA": 58.0}}
    >>> print(write_run_report(tmp.name, results))
    | Condition | WER | WA |
    |---|---:|---:|
    | clean | 21.00 | 70.00 |
    | noise_5dB | 48.25 | 58.00 |
    >>> sorted(os.listdir(tmp.name))
    ['conditions.png', 'metrics.json', 'results.md']
    >>> tmp.cleanup()
    """
    os.makedirs(out_dir, exist_ok=True)
    _write_json(results, os.path.join(out_dir, "metrics.json"))
    table = markdown_table(results)
    with open(os.path.join(out_dir, "results.md"), "w") as fout:
        fout.write(f"# {title or 'Results'}\n\n")
        fout.write(
            "All values in %. WER and CER are corpus-level after text "
            "normalisation; WA is accuracy, UA the mean per-class recall."
        )
        if any("window_WA" in metrics for metrics in results.values()):
            fout.write(
                " WA counts utterances (predicted from all their windows), "
                "window WA counts the windows, each classified alone."
            )
        fout.write("\n\n")
        fout.write(table + "\n")
    plot_conditions(results, os.path.join(out_dir, "conditions.png"), title)
    return table
