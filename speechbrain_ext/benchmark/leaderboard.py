"""The robustness leaderboard of a benchmark grid.

For every system, training regime and seed, the finished folds are pooled
with the cross-validation aggregation
(:func:`speechbrain_ext.utils.cross_validation.aggregate`). Over seeds,
every metric of every condition gets its mean, standard deviation,
minimum and maximum, and the relative degradation from clean speech:

* for accuracies (``UA``, ``WA``, ``macro_F1``), the drop
  ``100 * (clean - noisy) / clean``;
* for error rates (``WER``, ``CER``), the rise
  ``100 * (noisy - clean) / clean``.

Both are positive when noise hurts. ``<category>@<snr>`` averages the
conditions of one SNR over the noise categories (``@5dB``: noise, music
and babble at 5 dB), per seed.

A difference between two systems (or two training regimes) counts as a
finding only when the difference of their means exceeds the seed range
(maximum - minimum over seeds) of both; smaller differences are reported
as inside the seed spread.

``write_leaderboard`` writes ``leaderboard.json``, ``leaderboard.md``,
``snr_<table>.png`` (UA and WER against SNR per noise category, clean- vs
noise-trained, mean and a band of one standard deviation over seeds) and
``categories_5dB_<table>.png`` (each category at 5 dB).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import json
import logging
import os

import numpy as np

from speechbrain_ext.benchmark.executors import read_record
from speechbrain_ext.utils.cross_validation import aggregate

logger = logging.getLogger(__name__)
ACCURACIES = ("UA", "WA", "macro_F1")
ERROR_RATES = ("WER", "CER")
METRICS = ACCURACIES + ERROR_RATES
CATEGORY_NAMES = {"noise": "noise", "music": "music", "speech": "babble"}


def spread(values):
    """Mean, standard deviation (ddof 1), minimum, maximum and count.

    Arguments
    ---------
    values : list of float
        One value per seed; None values are left out.

    Returns
    -------
    dict or None
        None when no value is left.

    Example
    -------
    >>> spread([70.0, 72.0, 74.0])
    {'mean': 72.0, 'std': 2.0, 'min': 70.0, 'max': 74.0, 'n': 3}
    """
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def degradation(metric, clean, noisy):
    """Relative degradation from clean, in %, positive when noise hurts.

    Arguments
    ---------
    metric : str
        ``UA``, ``WA``, ``macro_F1`` (a drop) or ``WER``, ``CER`` (a rise).
    clean, noisy : float
        The metric on clean and on noisy speech.

    Returns
    -------
    float or None
        None when the clean value is 0 or missing.

    Example
    -------
    >>> degradation("UA", 80.0, 60.0), degradation("WER", 20.0, 30.0)
    (25.0, 50.0)
    """
    if clean is None or noisy is None or clean == 0:
        return None
    if metric in ACCURACIES:
        return 100.0 * (clean - noisy) / clean
    return 100.0 * (noisy - clean) / clean


def _snr_groups(conditions):
    """``{"@<snr>dB": [condition names]}`` for the noisy SNRs."""
    groups = {}
    for condition in conditions:
        if condition.category is not None:
            key = f"@{condition.snr_db:g}dB"
            groups.setdefault(key, []).append(condition.name)
    return groups


def _seed_values(pooled, conditions):
    """Per seed: ``{condition or @snr: {metric: value}}`` with drops."""
    groups = _snr_groups(conditions)
    clean = next((c.name for c in conditions if c.category is None), None)
    values = {}
    for name in [c.name for c in conditions if c.name in pooled]:
        values[name] = {
            m: pooled[name][m] for m in METRICS if m in pooled[name]
        }
    for key, names in groups.items():
        if all(n in values for n in names):
            values[key] = {
                m: float(np.mean([values[n][m] for n in names]))
                for m in METRICS
                if all(m in values[n] for n in names)
            }
    if clean in values:
        for key in list(values):
            if key == clean:
                continue
            for m in list(values[key]):
                if m in METRICS:
                    values[key][f"{m}_degradation"] = degradation(
                        m, values[clean].get(m), values[key][m]
                    )
    return values


def collect(grid):
    """Pooled metrics and run costs of every system, regime and seed.

    Arguments
    ---------
    grid : speechbrain_ext.benchmark.grid.Grid
        The benchmark's grid.

    Returns
    -------
    dict
        ``{system: {regime: {"seeds": {seed: values}, "cpu_s", "wall_s",
        "max_rss_gb", "code"}}}``, where ``values`` maps each condition and
        ``@<snr>dB`` average to its metrics and degradations, and ``code``
        lists the git versions the cells ran
        (:func:`~speechbrain_ext.benchmark.executors.code_version`).
    """
    cells = grid.cells()
    results = {}
    for system in grid.systems:
        for regime in grid.regimes:
            entry = {
                "seeds": {},
                "cpu_s": 0.0,
                "wall_s": 0.0,
                "max_rss_gb": 0,
                "code": [],
            }
            for seed in grid.seeds:
                folder = grid.system_folder(system, regime, seed)
                mine = [
                    c
                    for c in cells
                    if (c.system, c.regime, c.seed) == (system, regime, seed)
                ]
                if not mine or not all(c.finished() for c in mine):
                    continue
                pooled = aggregate(folder)["pooled"]
                entry["seeds"][seed] = _seed_values(pooled, grid.conditions)
                for cell in mine:
                    record = read_record(cell) or {}
                    entry["cpu_s"] += record.get("cpu_s", 0.0)
                    entry["wall_s"] += record.get("wall_s", 0.0)
                    entry["max_rss_gb"] = max(
                        entry["max_rss_gb"], record.get("max_rss_gb", 0)
                    )
                    code = record.get("code") or "unknown"
                    if code not in entry["code"]:
                        entry["code"].append(code)
            if entry["seeds"]:
                results.setdefault(system, {})[regime] = entry
    return results


def summarize(results):
    """Seed statistics of every value of :func:`collect`'s output.

    Arguments
    ---------
    results : dict
        Output of :func:`collect`.

    Returns
    -------
    dict
        ``{system: {regime: {key: {metric: spread}}}}``.

    Example
    -------
    >>> seeds = {1: {"clean": {"UA": 70.0}}, 2: {"clean": {"UA": 74.0}}}
    >>> s = summarize({"ser": {"clean": {"seeds": seeds}}})
    >>> s["ser"]["clean"]["clean"]["UA"]["mean"]
    72.0
    """
    summary = {}
    for system, regimes in results.items():
        for regime, entry in regimes.items():
            per_seed = list(entry["seeds"].values())
            keys = []
            for values in per_seed:
                keys += [k for k in values if k not in keys]
            stats = {}
            for key in keys:
                metrics = []
                for values in per_seed:
                    metrics += [
                        m for m in values.get(key, {}) if m not in metrics
                    ]
                stats[key] = {
                    m: spread([v.get(key, {}).get(m) for v in per_seed])
                    for m in metrics
                }
            summary.setdefault(system, {})[regime] = stats
    return summary


def compare(a, b, higher_is_better):
    """Whether ``a`` beats ``b`` by more than the seed range of both.

    Arguments
    ---------
    a, b : dict
        :func:`spread` outputs.
    higher_is_better : bool
        True for accuracies, False for error rates and degradations.

    Returns
    -------
    dict
        ``difference`` (mean of a - mean of b), ``range`` (the larger seed
        range), and ``verdict``: ``better``, ``worse`` or ``within``.

    Example
    -------
    >>> a = {"mean": 70.0, "min": 69.0, "max": 71.0}
    >>> b = {"mean": 60.0, "min": 58.0, "max": 63.0}
    >>> compare(a, b, higher_is_better=True)["verdict"]
    'better'
    >>> compare(a, b, higher_is_better=False)["verdict"]
    'worse'
    """
    difference = a["mean"] - b["mean"]
    seed_range = max(a["max"] - a["min"], b["max"] - b["min"])
    if abs(difference) <= seed_range:
        verdict = "within"
    elif (difference > 0) == higher_is_better:
        verdict = "better"
    else:
        verdict = "worse"
    return {"difference": difference, "range": seed_range, "verdict": verdict}


def _get(summary, system, regime, key, metric):
    return summary.get(system, {}).get(regime, {}).get(key, {}).get(metric)


def _fmt(stats, digits=1):
    if not stats:
        return "-"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def findings(grid, summary, snr_key="@5dB"):
    """The leaderboard's findings, each with its numbers and verdict.

    Arguments
    ---------
    grid : speechbrain_ext.benchmark.grid.Grid
        The grid (its tables, regimes and comparisons).
    summary : dict
        Output of :func:`summarize`.
    snr_key : str
        The noisy average the findings are about.

    Returns
    -------
    list of dict
        ``kind`` (``noise_training``, ``noise_training_by_condition``,
        ``most_robust``, ``direction``, ``joint_vs_single``),
        a one-line ``text`` and the numbers behind it. The average over
        noise categories can hide a trade-off (noise training that helps
        under noise and hurts under music), so noise training is also
        judged for each condition at that SNR.
    """
    out = []
    regimes = list(grid.regimes)
    clean_regime, noise_regime = (regimes + [None])[:2]
    at_snr = [
        c.name
        for c in grid.conditions
        if c.category is not None and f"@{c.snr_db:g}dB" == snr_key
    ]
    for table, systems in grid.tables.items():
        systems = [s for s in systems if s in summary]
        for system in systems:
            if noise_regime is None:
                break
            for metric, higher in (("UA", True), ("WER", False)):
                for key in (snr_key, *at_snr):
                    a = _get(summary, system, noise_regime, key, metric)
                    b = _get(summary, system, clean_regime, key, metric)
                    if not (a and b):
                        continue
                    c = compare(a, b, higher)
                    entry = {
                        "kind": "noise_training",
                        "table": table,
                        "system": system,
                        "metric": metric,
                        **c,
                    }
                    if key != snr_key:
                        entry["kind"] = "noise_training_by_condition"
                        entry["condition"] = key
                    word = {
                        "better": "helps",
                        "worse": "hurts",
                        "within": "makes no difference beyond the seed spread",
                    }[c["verdict"]]
                    entry["text"] = (
                        f"{system}: {noise_regime} training {word} "
                        f"for {metric} {key} "
                        f"({_fmt(b)} -> {_fmt(a)}; difference "
                        f"{c['difference']:+.1f}, seed range "
                        f"{c['range']:.1f})"
                    )
                    out.append(entry)
        for metric, higher in (("UA", True), ("WER", False)):
            ranked = sorted(
                (
                    (stats, system, regime)
                    for system in systems
                    for regime in regimes
                    if (stats := _get(summary, system, regime, snr_key, metric))
                ),
                key=lambda x: x[0]["mean"],
                reverse=higher,
            )
            if not ranked:
                continue
            best, system, regime = ranked[0]
            entry = {
                "kind": "most_robust",
                "table": table,
                "metric": metric,
                "system": system,
                "regime": regime,
                "value": best,
            }
            text = f"best {metric} {snr_key}: {system} ({regime}) {_fmt(best)}"
            if len(ranked) > 1:
                second, system2, regime2 = ranked[1]
                c = compare(best, second, higher)
                entry.update(c, runner_up=f"{system2} ({regime2})")
                lead = (
                    "beyond the seed spread"
                    if c["verdict"] == "better"
                    else "inside the seed spread"
                )
                text += (
                    f", ahead of {system2} ({regime2}) {_fmt(second)} by "
                    f"{abs(c['difference']):.1f} ({lead}, seed range "
                    f"{c['range']:.1f})"
                )
            entry["text"] = text
            out.append(entry)
    for direction in grid.directions:
        out.append(_direction(grid, summary, direction, regimes[0]))
    for joint, singles in grid.comparisons.items():
        for task, single in singles.items():
            metric = "UA" if task == "ser" else "WER"
            key = f"{metric}_degradation"
            for regime in regimes:
                a = _get(summary, joint, regime, snr_key, key)
                b = _get(summary, single, regime, snr_key, key)
                if not (a and b):
                    continue
                c = compare(a, b, higher_is_better=False)
                word = {
                    "better": "degrades less than",
                    "worse": "degrades more than",
                    "within": "degrades as much as (inside the seed spread)",
                }[c["verdict"]]
                out.append(
                    {
                        "kind": "joint_vs_single",
                        "joint": joint,
                        "single": single,
                        "regime": regime,
                        "metric": key,
                        **c,
                        "text": (
                            f"{regime}-trained {joint} {word} {single} in "
                            f"{metric} {snr_key}: relative "
                            f"{'drop' if metric == 'UA' else 'rise'} "
                            f"{_fmt(a)}% vs {_fmt(b)}% (seed range "
                            f"{c['range']:.1f})"
                        ),
                    }
                )
    return out


def _direction(grid, summary, direction, default_regime):
    """A paper's claim that one system is above another, checked."""
    metric, condition = direction["metric"], direction["condition"]
    regime = direction.get("regime", default_regime)
    better, worse = direction["better"], direction["worse"]
    a = _get(summary, better, regime, condition, metric)
    b = _get(summary, worse, regime, condition, metric)
    entry = {
        "kind": "direction",
        "table": next(
            (t for t, names in grid.tables.items() if better in names), None
        ),
        "better": better,
        "worse": worse,
        "metric": metric,
        "condition": condition,
        "regime": regime,
    }
    if not (a and b):
        entry.update(verdict="missing")
        entry["text"] = f"{better} vs {worse}: no finished runs"
        return entry
    higher = metric not in ERROR_RATES and not metric.endswith("degradation")
    c = compare(a, b, higher)
    word = {
        "better": "holds beyond the seed spread",
        "worse": "is reversed beyond the seed spread",
        "within": "is inside the seed spread",
    }[c["verdict"]]
    entry.update(c)
    entry["text"] = (
        f"{better} {'above' if higher else 'below'} {worse} in {metric} "
        f"{condition} ({regime}-trained) {word}: {_fmt(a)} vs {_fmt(b)} "
        f"(difference {c['difference']:+.1f}, seed range {c['range']:.1f})"
    )
    return entry


def _markdown_table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * 2 + "---:|" * (len(header) - 2),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _by_condition_table(found, snr_key):
    """Noise training's effect per condition at one SNR, as markdown lines."""
    by_condition = [
        f for f in found if f["kind"] == "noise_training_by_condition"
    ]
    if not by_condition:
        return []
    conditions = list(dict.fromkeys(f["condition"] for f in by_condition))
    average = {
        (f["system"], f["metric"]): f
        for f in found
        if f["kind"] == "noise_training"
    }
    cells = {}
    for f in by_condition:
        cells.setdefault((f["system"], f["metric"]), {})[f["condition"]] = f
    word = {"better": "helps", "worse": "hurts", "within": "inside"}
    rows = []
    for (system, metric), row in cells.items():
        entries = [row.get(c) for c in conditions]
        entries.append(average.get((system, metric)))
        rows.append(
            [
                system,
                metric,
                *(
                    f"{f['difference']:+.1f} ({word[f['verdict']]}, "
                    f"range {f['range']:.1f})"
                    if f
                    else "-"
                    for f in entries
                ),
            ]
        )
    return [
        "",
        "Noise training by condition: noise-trained minus clean-trained "
        "mean; helps or hurts when the difference exceeds the larger seed "
        "range (max - min), else inside the seed spread:",
        "",
        _markdown_table(["System", "Metric", *conditions, snr_key], rows),
    ]


def markdown(grid, results, summary, found, snr_key="@5dB"):
    """The leaderboard as markdown: one section per table."""
    clean = next((c.name for c in grid.conditions if c.category is None), None)
    main_conditions = [
        c.name
        for c in grid.conditions
        if c.category is None or c.snr_db in (15, 5)
    ]
    lines = [f"# Leaderboard: grid `{grid.name}`", ""]
    lines.append(
        f"Mean ± standard deviation over seeds {grid.seeds}; test conditions "
        f"`{grid.test_conditions}`; {snr_key} averages noise, music and "
        "babble at that SNR; drop and rise are relative to clean speech "
        "(positive: noise hurts)."
    )
    for table, systems in grid.tables.items():
        systems = [s for s in systems if s in summary]
        if not systems:
            continue
        lines += ["", f"## {table}", ""]
        header = [
            "System",
            "Training",
            "seeds",
            f"UA {clean}",
            f"UA {snr_key}",
            f"UA drop {snr_key} %",
            f"WER {clean}",
            f"WER {snr_key}",
            f"WER rise {snr_key} %",
            "CPU h",
        ]
        rows = []
        for system in systems:
            for regime, stats in summary[system].items():
                n = max(
                    (s["n"] for s in stats.get(clean, {}).values() if s),
                    default=0,
                )
                row = [system, regime, str(n)]
                for key, metric in (
                    (clean, "UA"),
                    (snr_key, "UA"),
                    (snr_key, "UA_degradation"),
                    (clean, "WER"),
                    (snr_key, "WER"),
                    (snr_key, "WER_degradation"),
                ):
                    row.append(_fmt(stats.get(key, {}).get(metric)))
                row.append(f"{results[system][regime]['cpu_s'] / 3600:.2f}")
                rows.append(row)
        lines.append(_markdown_table(header, rows))
        for metric in ("UA", "WER"):
            rows = []
            for system in systems:
                for regime, stats in summary[system].items():
                    cells = [
                        _fmt(stats.get(c, {}).get(metric))
                        for c in main_conditions
                    ]
                    if any(cell != "-" for cell in cells):
                        rows.append([system, regime, *cells])
            if rows:
                lines += ["", f"{metric} by condition:", ""]
                lines.append(
                    _markdown_table(
                        ["System", "Training", *main_conditions], rows
                    )
                )
        mine = [f for f in found if f.get("table", table) == table]
        mine = [
            f
            for f in mine
            if f["kind"] != "joint_vs_single" or f["joint"] in systems
        ]
        lines += _by_condition_table(mine, snr_key)
        mine = [f for f in mine if f["kind"] != "noise_training_by_condition"]
        if mine:
            lines += ["", "Findings:", ""]
            lines += [f"- {f['text']}" for f in mine]
    return "\n".join(lines) + "\n"


def _snr_curves(grid, summary, system, regime, category, metric):
    clean = next((c.name for c in grid.conditions if c.category is None), None)
    points = sorted(
        (c.snr_db, c.name) for c in grid.conditions if c.category == category
    )
    x, mean, std = [], [], []
    for snr, name in points:
        stats = _get(summary, system, regime, name, metric)
        if stats:
            x.append(snr)
            mean.append(stats["mean"])
            std.append(stats["std"])
    stats = _get(summary, system, regime, clean, metric)
    if stats and x:
        x.append(max(x) + 10)
        mean.append(stats["mean"])
        std.append(stats["std"])
    return np.array(x), np.array(mean), np.array(std)


def plot_snr(grid, summary, table, path):
    """UA and WER against SNR per category, one line per system and regime.

    Clean speech is drawn 10 dB right of the highest SNR; the band is one
    standard deviation over seeds. Returns False when nothing was drawn.
    """
    figure = _snr_figure(grid, summary, table)
    if figure is None:
        return False
    figure.savefig(path, dpi=110)
    return True


def _snr_figure(grid, summary, table):
    """The figure of ``plot_snr`` (None when there is nothing to draw).

    Each row (metric) has its own legend, naming every line of that row:
    a system may report WER only or UA only.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    systems = [s for s in grid.tables[table] if s in summary]
    categories = []
    for c in grid.conditions:
        if c.category is not None and c.category not in categories:
            categories.append(c.category)
    metrics = [
        m
        for m in ("UA", "WER")
        if any(
            _get(summary, s, r, c.name, m)
            for s in systems
            for r in grid.regimes
            for c in grid.conditions
        )
    ]
    if not (systems and categories and metrics):
        return None
    figure = Figure(figsize=(4.5 * len(categories) + 1.6, 3.6 * len(metrics)))
    FigureCanvasAgg(figure)
    colours = {s: f"C{i % 10}" for i, s in enumerate(systems)}
    styles = ["-", "--", ":", "-."]
    for row, metric in enumerate(metrics):
        for col, category in enumerate(categories):
            axes = figure.add_subplot(
                len(metrics), len(categories), row * len(categories) + col + 1
            )
            top = None
            for system in systems:
                for k, regime in enumerate(grid.regimes):
                    x, mean, std = _snr_curves(
                        grid, summary, system, regime, category, metric
                    )
                    if not len(x):
                        continue
                    top = x[-1]
                    axes.plot(
                        x,
                        mean,
                        styles[k % len(styles)],
                        color=colours[system],
                        marker="o",
                        markersize=3,
                        label=f"{system} ({regime})",
                    )
                    axes.fill_between(
                        x,
                        mean - std,
                        mean + std,
                        color=colours[system],
                        alpha=0.12,
                    )
            if top is not None:
                ticks = sorted(
                    {c.snr_db for c in grid.conditions if c.category}
                )
                axes.set_xticks([*ticks, top])
                axes.set_xticklabels([f"{t:g}" for t in ticks] + ["clean"])
            axes.set_title(
                f"{metric}, {CATEGORY_NAMES.get(category, category)}"
            )
            axes.set_xlabel("SNR (dB)")
            axes.set_ylabel(f"{metric} (%)")
            axes.grid(alpha=0.3)
            if col == len(categories) - 1:
                axes.legend(
                    fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1)
                )
    figure.suptitle(
        f"{table}: mean over seeds {grid.seeds} (band: ± 1 std); solid "
        f"{list(grid.regimes)[0]}-trained"
    )
    figure.tight_layout()
    return figure


def plot_categories(grid, summary, table, path, snr_db=5):
    """Grouped bars: each noise category at ``snr_db``, per system and regime.

    Returns False when nothing was drawn.
    """
    figure = _categories_figure(grid, summary, table, snr_db)
    if figure is None:
        return False
    figure.savefig(path, dpi=110)
    return True


def _categories_figure(grid, summary, table, snr_db=5):
    """The figure of ``plot_categories`` (None when there is nothing to draw).

    Each row (metric) has its own legend, naming every bar of that row.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    systems = [s for s in grid.tables[table] if s in summary]
    conditions = [
        c for c in grid.conditions if c.category and c.snr_db == snr_db
    ]
    bars = [(s, r) for s in systems for r in grid.regimes if r in summary[s]]
    metrics = [
        m
        for m in ("UA", "WER")
        if any(
            _get(summary, s, r, c.name, m) for s, r in bars for c in conditions
        )
    ]
    if not (bars and conditions and metrics):
        return None
    figure = Figure(
        figsize=(5 + 0.5 * len(bars) * len(conditions) / 2, 3.8 * len(metrics))
    )
    FigureCanvasAgg(figure)
    width = 0.8 / len(bars)
    x = np.arange(len(conditions))
    for row, metric in enumerate(metrics):
        axes = figure.add_subplot(len(metrics), 1, row + 1)
        for i, (system, regime) in enumerate(bars):
            stats = [
                _get(summary, system, regime, c.name, metric)
                for c in conditions
            ]
            if not any(stats):
                continue
            axes.bar(
                x + i * width,
                [s["mean"] if s else 0 for s in stats],
                width,
                yerr=[s["std"] if s else 0 for s in stats],
                capsize=2,
                color=f"C{systems.index(system) % 10}",
                alpha=1.0 if i % 2 == 0 else 0.55,
                hatch=None if regime == list(grid.regimes)[0] else "//",
                label=f"{system} ({regime})",
            )
        axes.set_xticks(x + width * (len(bars) - 1) / 2)
        axes.set_xticklabels(
            [CATEGORY_NAMES.get(c.category, c.category) for c in conditions]
        )
        axes.set_ylabel(f"{metric} at {snr_db} dB (%)")
        axes.grid(axis="y", alpha=0.3)
        axes.legend(fontsize=7, ncol=2)
    figure.suptitle(f"{table}: {snr_db} dB SNR, mean ± std over seeds")
    figure.tight_layout()
    return figure


def write_leaderboard(grid, extra_records=()):
    """Collects, summarizes and writes the leaderboard of a grid.

    Arguments
    ---------
    grid : speechbrain_ext.benchmark.grid.Grid
        The benchmark's grid (its ``output_folder`` holds the runs).
    extra_records : list of dict
        Records of runs outside the cells (prerequisites), for the costs.

    Returns
    -------
    dict
        The content of ``leaderboard.json``.
    """
    results = collect(grid)
    if not results:
        raise FileNotFoundError(
            f"No finished cell of grid {grid.name} in {grid.output_folder}"
        )
    summary = summarize(results)
    found = findings(grid, summary)
    extra_cpu = sum(r.get("cpu_s", 0.0) for r in extra_records)
    cost = {
        "cpu_s": sum(e["cpu_s"] for r in results.values() for e in r.values())
        + extra_cpu,
        "wall_s": sum(e["wall_s"] for r in results.values() for e in r.values())
        + sum(r.get("wall_s", 0.0) for r in extra_records),
        "prerequisites_cpu_s": extra_cpu,
    }
    versions = sorted(
        {c for r in results.values() for e in r.values() for c in e["code"]}
        | {r.get("code") or "unknown" for r in extra_records}
    )
    board = {
        "grid": grid.name,
        "seeds": grid.seeds,
        "test_conditions": grid.test_conditions,
        "tables": grid.tables,
        "summary": summary,
        "per_seed": {
            s: {
                r: {str(k): v for k, v in e["seeds"].items()}
                for r, e in regimes.items()
            }
            for s, regimes in results.items()
        },
        "costs": {
            s: {
                r: {k: e[k] for k in ("cpu_s", "wall_s", "max_rss_gb")}
                for r, e in regimes.items()
            }
            for s, regimes in results.items()
        },
        "total": cost,
        "code": versions,
        "findings": found,
    }
    out = grid.output_folder
    with open(os.path.join(out, "leaderboard.json"), "w") as fout:
        json.dump(board, fout, indent=2)
    text = markdown(grid, results, summary, found)
    text += (
        f"\nTotal CPU time: {cost['cpu_s'] / 3600:.2f} h "
        f"(prerequisites {extra_cpu / 3600:.2f} h); summed wall time of the "
        f"runs: {cost['wall_s'] / 3600:.2f} h.\n"
    )
    if len(versions) == 1:
        text += f"Every run used the code of `{versions[0]}`.\n"
    else:
        text += (
            "**The runs used different code** ("
            + ", ".join(f"`{v}`" for v in versions)
            + "): rerun the older cells before comparing them.\n"
        )
    for table in grid.tables:
        slug = table.replace(" ", "_")
        if plot_snr(grid, summary, table, os.path.join(out, f"snr_{slug}.png")):
            text += f"\n![{table}: SNR curves](snr_{slug}.png)\n"
        if plot_categories(
            grid,
            summary,
            table,
            os.path.join(out, f"categories_5dB_{slug}.png"),
        ):
            text += (
                f"\n![{table}: 5 dB by category](categories_5dB_{slug}.png)\n"
            )
    with open(os.path.join(out, "leaderboard.md"), "w") as fout:
        fout.write(text)
    logger.info("Leaderboard:\n%s", text)
    return board
