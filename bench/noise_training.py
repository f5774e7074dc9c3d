"""Clean- vs noise-trained demo systems under the test noise conditions.

Trains each demo system (``joint``, ``asr``, ``ser``: ``joint_demo.yaml``,
``asr_demo.yaml``, ``ser_demo.yaml``) twice per seed, on clean speech
(``--noise_prob=0``) and with a noisy copy of every batch
(``--noise_prob=1.0``), evaluates each model on the seven conditions of
``paper7`` and, with ``--sweep``, on ``snr_sweep`` (clean; noise, music and
babble from 20 to 0 dB in 5 dB steps). Writes to ``--work``:

* ``comparison.md`` and ``comparison.png``: WER and UA per condition,
  clean- vs noise-trained, for every system;
* ``snr_sweep.md`` and ``snr_sweep.png`` (with ``--sweep``): WER and UA
  against SNR per noise category;
* ``direction.json``: per seed, the mean over the three 5 dB conditions of
  WER and UA, clean- vs noise-trained, their means over seeds and their
  seed-to-seed ranges (max - min);

and prints one JSON object with all of it. A run whose results exist is
not trained again, so an interrupted comparison resumes.

    python bench/noise_training.py --work results/noise_training --sweep
    python bench/noise_training.py --systems joint --seeds 1986 1987 1988 \\
        --work results/direction -- --number_of_epochs=5
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT"
)
YAMLS = {
    "joint": "joint_demo.yaml",
    "asr": "asr_demo.yaml",
    "ser": "ser_demo.yaml",
}
TRAININGS = {"clean": "0.0", "noise": "1.0"}
FIVE_DB = ("noise_5dB", "music_5dB", "speech_5dB")
CATEGORY_NAMES = {"noise": "noise", "music": "music", "speech": "babble"}


def _train(cmd, cwd, log_path):
    start = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=log)
    if proc.returncode != 0:
        with open(log_path) as log:
            sys.stderr.write(log.read()[-3000:])
        sys.exit(f"{' '.join(cmd)} failed: see {log_path}")
    return time.time() - start


def run_system(system, training, seed, args):
    """Trains (unless done) and evaluates one system; returns its metrics."""
    out = os.path.join(args.work, f"{system}_{training}", str(seed))
    yaml = os.path.join(RECIPE, "hparams", YAMLS[system])
    base = [
        sys.executable,
        os.path.join(RECIPE, "train.py"),
        yaml,
        f"--output_folder={out}",
        f"--seed={seed}",
        f"--noise_prob={TRAININGS[training]}",
        f"--synthemo_folder={args.synthemo_folder}",
        *args.overrides,
    ]
    metrics_path = os.path.join(out, "test_results", "metrics.json")
    seconds = None
    if not os.path.exists(metrics_path):
        os.makedirs(out, exist_ok=True)
        seconds = _train(
            base + ["--test_conditions=paper7"],
            args.work,
            os.path.join(out, "stdout.log"),
        )
    with open(metrics_path) as fin:
        result = {"paper7": json.load(fin), "train_seconds": seconds}
    if args.sweep:
        sweep_folder = os.path.join(out, "snr_sweep")
        sweep_path = os.path.join(sweep_folder, "metrics.json")
        if not os.path.exists(sweep_path):
            _train(
                base
                + [
                    "--test_only",
                    "--test_conditions=snr_sweep",
                    f"--results_folder={sweep_folder}",
                ],
                args.work,
                os.path.join(out, "sweep_stdout.log"),
            )
        with open(sweep_path) as fin:
            result["snr_sweep"] = json.load(fin)
    return result


def _fmt(value):
    return "-" if value is None else f"{value:.1f}"


def _metric(metrics, condition, key):
    return metrics.get(condition, {}).get(key)


def comparison_table(results, conditions):
    """Markdown: one row per system and training, WER / UA per condition."""
    head = "| system | training | " + " | ".join(conditions) + " |"
    lines = [head, "|---|---|" + "---:|" * len(conditions)]
    for (system, training), metrics in results.items():
        cells = []
        for condition in conditions:
            wer = _metric(metrics, condition, "WER")
            ua = _metric(metrics, condition, "UA")
            cells.append(f"{_fmt(wer)} / {_fmt(ua)}")
        lines.append(f"| {system} | {training} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot_conditions(results, conditions, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, key, label in (
        (axes[0], "WER", "WER (%)"),
        (axes[1], "UA", "UA (%)"),
    ):
        series = [
            (f"{system}, {training}-trained", metrics)
            for (system, training), metrics in results.items()
            if _metric(metrics, "clean", key) is not None
        ]
        width = 0.8 / max(1, len(series))
        for k, (name, metrics) in enumerate(series):
            values = [_metric(metrics, c, key) or 0.0 for c in conditions]
            xs = [
                i + (k - (len(series) - 1) / 2) * width
                for i in range(len(conditions))
            ]
            hatch = "//" if "noise-trained" in name else None
            ax.bar(xs, values, width, label=name, hatch=hatch)
        ax.set_xticks(range(len(conditions)))
        ax.set_xticklabels(conditions, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        if series:
            ax.legend(fontsize=7)
    axes[0].set_title("ASR: WER per test condition (lower is better)")
    axes[1].set_title("SER: UA per test condition (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _sweep_points(metrics, category, key):
    snrs = sorted(
        {
            int(name.split("_")[1][:-2])
            for name in metrics
            if name.startswith(category + "_")
        },
        reverse=True,
    )
    return snrs, [_metric(metrics, f"{category}_{snr}dB", key) for snr in snrs]


def sweep_table(results):
    """Markdown: WER / UA per category and SNR, one row per model."""
    categories = ("noise", "music", "speech")
    any_metrics = next(iter(results.values()))
    snrs, _ = _sweep_points(any_metrics, "noise", "UA")
    lines = []
    for category in categories:
        lines.append(f"**{CATEGORY_NAMES[category]}** (WER / UA)\n")
        head = "| system | training | clean | " + " | ".join(
            f"{snr} dB" for snr in snrs
        )
        lines.append(head + " |")
        lines.append("|---|---|---:|" + "---:|" * len(snrs))
        for (system, training), metrics in results.items():
            cells = [
                f"{_fmt(_metric(metrics, 'clean', 'WER'))} / "
                f"{_fmt(_metric(metrics, 'clean', 'UA'))}"
            ]
            for snr in snrs:
                name = f"{category}_{snr}dB"
                cells.append(
                    f"{_fmt(_metric(metrics, name, 'WER'))} / "
                    f"{_fmt(_metric(metrics, name, 'UA'))}"
                )
            lines.append(
                f"| {system} | {training} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    return "\n".join(lines)


SYSTEM_COLORS = {"joint": "tab:blue", "asr": "tab:green", "ser": "tab:red"}
"""One colour per system in every panel of the sweep figure."""


def sweep_figure(results):
    """WER (top row) and UA (bottom row) against SNR, one column per category.

    Every system keeps its colour in every panel (clean-trained dashed,
    noise-trained solid), and each row has its own legend: the WER row
    names the systems with an ASR head, the UA row those with an emotion
    head.

    Arguments
    ---------
    results : dict
        ``{(system, training): snr_sweep metrics}``, the metrics as a
        run's ``metrics.json`` holds them (``{condition: {"WER", "UA"}}``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (2 x 3 panels).

    Example
    -------
    >>> sweep = {"clean": {"UA": 70.0}, "noise_5dB": {"UA": 50.0},
    ...          "music_5dB": {"UA": 60.0}, "speech_5dB": {"UA": 40.0}}
    >>> fig = sweep_figure({("ser", "clean"): sweep})
    >>> [t.get_text() for t in fig.axes[3].get_legend().get_texts()]
    ['ser, clean-trained']
    """
    from matplotlib.figure import Figure

    categories = ("noise", "music", "speech")
    fig = Figure(figsize=(14, 7))
    axes = fig.subplots(2, 3, sharex=True)
    for row, key in enumerate(("WER", "UA")):
        for col, category in enumerate(categories):
            ax = axes[row][col]
            for (system, training), metrics in results.items():
                if _metric(metrics, "clean", key) is None:
                    continue
                snrs, values = _sweep_points(metrics, category, key)
                ax.plot(
                    snrs,
                    values,
                    "-" if training == "noise" else "--",
                    color=SYSTEM_COLORS.get(system),
                    marker="o",
                    label=f"{system}, {training}-trained",
                )
            ax.set_title(f"{CATEGORY_NAMES[category]}: {key}")
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel("SNR (dB)")
            if col == 0:
                ax.set_ylabel(f"{key} (%)")
        if axes[row][0].get_legend_handles_labels()[0]:
            axes[row][0].legend(fontsize=7)
    # The panels share their x axis: one inversion turns them all (from
    # the highest SNR on the left to the lowest on the right)
    axes[0][0].invert_xaxis()
    fig.tight_layout()
    return fig


def _plot_sweep(results, path):
    sweep_figure(results).savefig(path, dpi=110)


def direction_summary(per_seed):
    """Mean 5 dB WER / UA per seed and training, their means and ranges.

    Arguments
    ---------
    per_seed : dict
        ``{seed: {training: paper7 metrics}}`` for one system.

    Returns
    -------
    dict
        ``{"per_seed": {seed: {training: {"WER_5dB", "UA_5dB"}}},
        "mean": {training: {...}}, "range": {training: {...}}}``; a key is
        absent when the system has no such head.
    """
    rows = {}
    for seed, trainings in per_seed.items():
        rows[seed] = {}
        for training, metrics in trainings.items():
            row = {}
            for key in ("WER", "UA"):
                values = [_metric(metrics, c, key) for c in FIVE_DB]
                if all(v is not None for v in values):
                    row[f"{key}_5dB"] = sum(values) / len(values)
            rows[seed][training] = row
    summary = {"per_seed": rows, "mean": {}, "range": {}}
    for training in TRAININGS:
        for key in ("WER_5dB", "UA_5dB"):
            values = [
                rows[s][training][key]
                for s in rows
                if key in rows[s].get(training, {})
            ]
            if values:
                summary["mean"].setdefault(training, {})[key] = sum(
                    values
                ) / len(values)
                summary["range"].setdefault(training, {})[key] = max(
                    values
                ) - min(values)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="folder for the runs")
    parser.add_argument(
        "--systems", nargs="+", default=list(YAMLS), choices=list(YAMLS)
    )
    parser.add_argument(
        "--trainings",
        nargs="+",
        default=list(TRAININGS),
        choices=list(TRAININGS),
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1986])
    parser.add_argument(
        "--sweep", action="store_true", help="also evaluate snr_sweep"
    )
    parser.add_argument("--synthemo_folder", default=None)
    parser.add_argument(
        "overrides", nargs="*", help="extra --key=value for train.py (after --)"
    )
    args = parser.parse_args(argv)
    args.work = os.path.abspath(args.work)
    args.synthemo_folder = os.path.abspath(
        args.synthemo_folder or os.path.join(args.work, "synthemo")
    )
    os.makedirs(args.work, exist_ok=True)

    runs = {}
    for seed in args.seeds:
        for system in args.systems:
            for training in args.trainings:
                runs[(system, training, seed)] = run_system(
                    system, training, seed, args
                )

    first = args.seeds[0]
    paper7 = {
        (system, training): runs[(system, training, first)]["paper7"]
        for system in args.systems
        for training in args.trainings
    }
    conditions = list(next(iter(paper7.values())))
    report = {
        "seed": first,
        "table_seed": first,
        "train_seconds": {
            f"{s}_{t}_{seed}": round(r["train_seconds"], 1)
            for (s, t, seed), r in runs.items()
            if r["train_seconds"] is not None
        },
        "peak_rss_gb_max": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2, 2
        ),
        "paper7": {
            f"{s}_{t}": {
                c: {k: round(m[c][k], 2) for k in ("WER", "UA") if k in m[c]}
                for c in m
            }
            for (s, t), m in paper7.items()
        },
        "direction": {},
    }
    with open(os.path.join(args.work, "comparison.md"), "w") as fout:
        fout.write(comparison_table(paper7, conditions))
    _plot_conditions(
        paper7, conditions, os.path.join(args.work, "comparison.png")
    )
    if args.sweep:
        sweep = {
            (system, training): runs[(system, training, first)]["snr_sweep"]
            for system in args.systems
            for training in args.trainings
        }
        with open(os.path.join(args.work, "snr_sweep.md"), "w") as fout:
            fout.write(sweep_table(sweep))
        _plot_sweep(sweep, os.path.join(args.work, "snr_sweep.png"))
    if set(args.trainings) == set(TRAININGS):
        for system in args.systems:
            per_seed = {
                seed: {t: runs[(system, t, seed)]["paper7"] for t in TRAININGS}
                for seed in args.seeds
            }
            report["direction"][system] = direction_summary(per_seed)
        with open(os.path.join(args.work, "direction.json"), "w") as fout:
            json.dump(report["direction"], fout, indent=2)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
