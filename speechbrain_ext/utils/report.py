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

The metrics themselves are computed by :mod:`speechbrain_ext.utils.metrics`
(the same functions score validation and test); this module writes them
as files, tables and plots.

Authors
 * speechbrain_ext contributors
"""

import csv
import json
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from speechbrain_ext.utils.metrics import (
    ASR_KEYS,
    SER_KEYS,
    WINDOW_KEYS,
    compute_metrics,
    wer_breakdown,
)

METRIC_NAMES = {
    "WER": "WER",
    "CER": "CER",
    "WA": "WA",
    "window_WA": "window WA",
    "UA": "UA",
    "macro_F1": "macro-F1",
}
"""Metrics of the markdown table and their column headers, in order."""

_PROB_PREFIX = "prob_"
CONDITION_SET_FILE = "condition_set.json"
"""Record of the condition set whose reports a results folder holds."""

OTHER_SETS_FOLDER = "condition_sets"
"""Sub-folder of a results folder for the reports of other condition sets."""


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
        for key in ASR_KEYS + SER_KEYS + WINDOW_KEYS
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
