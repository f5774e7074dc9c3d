"""Cross-validation: run a recipe over the folds of a protocol, then pool.

Every fold runs the recipe's ``train.py`` with ``--protocol``, ``--fold`` and
its own ``--output_folder`` (``<output_folder>/fold<k>``). A fold whose
``test_results/metrics.json`` exists is finished and skipped on a re-run, and
a subset of folds can be run (``--folds 1,2``), so folds can be spread over
machines or cluster jobs that share the output folder; ``--aggregate_only``
then pools whatever folds are finished.

Aggregation pools the per-utterance predictions of all folds into overall
metrics per noise condition (WA, UA, macro-F1, WER, CER, WER per emotion, as
papers on IEMOCAP report them), and adds the mean and standard deviation of
each metric over folds. It writes ``<output_folder>/cv_results/``:
``metrics.json``, ``results.md``, ``confusion_<condition>.png`` (all folds)
and ``folds.png`` (per-condition bars with the fold spread).

Example command line (10-fold leave-one-speaker-out)::

    python -m speechbrain_ext.utils.cross_validation \
        --script recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT/train.py \
        --hparams recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT/hparams/joint.yaml \
        --output_folder results/joint_cv --protocol speaker \
        -- --data_folder=/data/IEMOCAP_full_release --musan_folder=/data/musan

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import glob
import json
import logging
import os
import re
import subprocess
import sys

import numpy as np

from speechbrain_ext.utils.metrics import compute_metrics
from speechbrain_ext.utils.report import (
    markdown_table,
    plot_confusion,
    read_predictions_csv,
)

logger = logging.getLogger(__name__)

PROTOCOL_FOLDS = {
    "speaker": list(range(1, 11)),
    "session": list(range(1, 6)),
    "random": [1],
    "random_kfold": list(range(1, 6)),  # n_folds: 5, the default
    "emodb": list(range(1, 11)),
}
SUMMARY_KEYS = ("WER", "CER", "WA", "UA", "macro_F1")


def fold_folder(output_folder, fold):
    """Output folder of one fold."""
    return os.path.join(output_folder, f"fold{fold}")


def fold_finished(folder):
    """Whether a fold's run has written its test metrics."""
    return os.path.isfile(os.path.join(folder, "test_results", "metrics.json"))


def run_folds(
    script,
    hparams_file,
    output_folder,
    protocol="speaker",
    folds=None,
    overrides=(),
    python=sys.executable,
):
    """Runs the recipe once per fold, skipping finished folds.

    Arguments
    ---------
    script : str
        The recipe's ``train.py``.
    hparams_file : str
        Its yaml file.
    output_folder : str
        Parent of the per-fold output folders.
    protocol : str
        ``speaker``, ``session``, ``random``, ``random_kfold`` (IEMOCAP)
        or ``emodb``.
    folds : list of int, optional
        Folds to run (default: all folds of the protocol).
    overrides : list of str
        Further ``--key=value`` arguments for every fold.
    python : str
        Interpreter that runs the script.

    Returns
    -------
    dict
        ``{fold: "ran" or "skipped"}``.
    """
    if protocol not in PROTOCOL_FOLDS:
        raise ValueError(
            f"unknown protocol {protocol!r}; "
            f"choose from {sorted(PROTOCOL_FOLDS)}"
        )
    folds = folds or PROTOCOL_FOLDS[protocol]
    unknown = set(folds) - set(PROTOCOL_FOLDS[protocol])
    if unknown:
        raise ValueError(f"protocol {protocol} has no folds {sorted(unknown)}")
    status = {}
    for fold in folds:
        folder = fold_folder(output_folder, fold)
        if fold_finished(folder):
            logger.info("Fold %s is finished (%s): skipped", fold, folder)
            status[fold] = "skipped"
            continue
        logger.info("Running fold %s of %s into %s", fold, protocol, folder)
        protocol_args = (
            [] if protocol == "emodb" else [f"--protocol={protocol}"]
        )
        cmd = [
            python,
            os.path.abspath(script),
            os.path.abspath(hparams_file),
            *protocol_args,
            f"--fold={fold}",
            f"--output_folder={os.path.abspath(folder)}",
            *overrides,
        ]
        subprocess.run(
            cmd, check=True, cwd=os.path.dirname(os.path.abspath(script))
        )
        status[fold] = "ran"
    return status


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def aggregate(output_folder, labels=None):
    """Pools the predictions of every finished fold, per condition.

    Arguments
    ---------
    output_folder : str
        Parent of the ``fold<k>`` folders.
    labels : list of str, optional
        Emotion labels in confusion-matrix order.

    Returns
    -------
    dict
        ``{"folds": [...], "pooled": {condition: metrics},
        "per_fold": {condition: {fold: summary}},
        "spread": {condition: {metric: {"mean", "std"}}}}``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_ext.utils.report import write_condition_report
    >>> out = tempfile.mkdtemp()
    >>> for fold, pred in ((1, "neu"), (2, "sad")):
    ...     res = os.path.join(fold_folder(out, fold), "test_results")
    ...     _ = write_condition_report(res, "clean", [
    ...         {"id": f"a{fold}", "emo": "neu", "pred": pred},
    ...         {"id": f"b{fold}", "emo": "sad", "pred": "sad"}])
    ...     with open(os.path.join(res, "metrics.json"), "w") as f:
    ...         _ = f.write("{}")
    >>> cv = aggregate(out, labels=["neu", "sad"])
    >>> cv["pooled"]["clean"]["WA"], cv["spread"]["clean"]["WA"]["std"]
    (75.0, 25.0)
    """
    folds = sorted(
        int(m.group(1))
        for path in glob.glob(os.path.join(output_folder, "fold*"))
        if (m := re.fullmatch(r"fold(\d+)", os.path.basename(path)))
        and fold_finished(path)
    )
    if not folds:
        raise FileNotFoundError(f"No finished fold in {output_folder}")
    conditions = []
    for fold in folds:
        results = os.path.join(fold_folder(output_folder, fold), "test_results")
        for path in sorted(
            glob.glob(os.path.join(results, "*", "predictions.csv"))
        ):
            name = os.path.basename(os.path.dirname(path))
            if name not in conditions:
                conditions.append(name)
    pooled, per_fold, spread = {}, {}, {}
    for name in conditions:
        records, per_fold[name] = [], {}
        for fold in folds:
            path = os.path.join(
                fold_folder(output_folder, fold),
                "test_results",
                name,
                "predictions.csv",
            )
            if not os.path.isfile(path):
                continue
            fold_records = read_predictions_csv(path)
            metrics = compute_metrics(fold_records, labels)
            per_fold[name][fold] = {
                k: metrics[k] for k in SUMMARY_KEYS if k in metrics
            }
            records += fold_records
        pooled[name] = compute_metrics(records, labels)
        pooled[name]["folds"] = sorted(per_fold[name])
        spread[name] = {
            k: _mean_std([m.get(k) for m in per_fold[name].values()])
            for k in SUMMARY_KEYS
            if k in pooled[name]
        }
    return {
        "folds": folds,
        "pooled": pooled,
        "per_fold": per_fold,
        "spread": spread,
    }


def plot_fold_spread(cv, path, title=None):
    """Bars of pooled WER and UA per condition with the fold spread.

    Arguments
    ---------
    cv : dict
        Output of :func:`aggregate`.
    path : str
        PNG file to write.
    title : str, optional
        Figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(cv["pooled"])
    keys = [k for k in ("WER", "UA", "WA") if k in cv["pooled"][names[0]]]
    figure = Figure(figsize=(max(6, 1.2 * len(names) * len(keys)), 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / len(keys)
    x = np.arange(len(names))
    for i, key in enumerate(keys):
        heights = [cv["pooled"][n][key] for n in names]
        errors = [cv["spread"][n][key]["std"] for n in names]
        axes.bar(
            x + i * width, heights, width, yerr=errors, capsize=3, label=key
        )
    axes.set_xticks(x + width * (len(keys) - 1) / 2)
    axes.set_xticklabels(names, rotation=30, ha="right")
    axes.set_ylabel("%  (pooled; error bar: std over folds)")
    axes.legend()
    axes.set_title(title or f"{len(cv['folds'])} folds")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write_cv_report(output_folder, labels=None):
    """Aggregates the folds and writes ``<output_folder>/cv_results``.

    Arguments
    ---------
    output_folder : str
        Parent of the ``fold<k>`` folders.
    labels : list of str, optional
        Emotion labels in confusion-matrix order.

    Returns
    -------
    dict
        The output of :func:`aggregate`.
    """
    cv = aggregate(output_folder, labels)
    report = os.path.join(output_folder, "cv_results")
    os.makedirs(report, exist_ok=True)
    with open(os.path.join(report, "metrics.json"), "w") as f:
        json.dump(cv, f, indent=2)
    lines = [
        f"Folds: {', '.join(map(str, cv['folds']))} (pooled predictions)",
        "",
        markdown_table(cv["pooled"]),
        "",
        "Mean ± standard deviation over folds:",
        "",
        "| Condition | " + " | ".join(SUMMARY_KEYS) + " |",
        "|---|" + "---:|" * len(SUMMARY_KEYS),
    ]
    for name, spread in cv["spread"].items():
        cells = [
            f"{spread[k]['mean']:.2f} ± {spread[k]['std']:.2f}"
            if spread.get(k)
            else "-"
            for k in SUMMARY_KEYS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(report, "results.md"), "w") as f:
        f.write(table)
    for name, metrics in cv["pooled"].items():
        if "confusion" in metrics:
            plot_confusion(
                metrics["confusion"],
                metrics["labels"],
                os.path.join(report, f"confusion_{name}.png"),
                title=(
                    f"{name}, {len(cv['folds'])} folds: UA {metrics['UA']:.1f}%"
                ),
            )
    plot_fold_spread(cv, os.path.join(report, "folds.png"))
    logger.info("Cross-validation results:\n%s", table)
    print(table)
    return cv


def split_overrides(argv):
    """Splits a command line at ``--``: own arguments, then overrides.

    Example
    -------
    >>> split_overrides(["--folds", "1", "--", "--lr=0.1"])
    (['--folds', '1'], ['--lr=0.1'])
    >>> split_overrides(["--folds", "1"])
    (['--folds', '1'], [])
    """
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    split = argv.index("--")
    return argv[:split], argv[split + 1 :]


def main(argv=None):
    """Command line: runs the folds, then writes the pooled report."""
    argv, overrides = split_overrides(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--script", help="the recipe's train.py")
    parser.add_argument("--hparams", help="the recipe's yaml file")
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--protocol", default="speaker", choices=PROTOCOL_FOLDS)
    parser.add_argument(
        "--folds", default=None, help="comma-separated subset, e.g. 1,2,3"
    )
    parser.add_argument("--labels", default=None, help="e.g. neu,hap,sad,ang")
    parser.add_argument(
        "--aggregate_only", action="store_true", help="only pool finished folds"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.aggregate_only:
        if not (args.script and args.hparams):
            parser.error("--script and --hparams are needed to run folds")
        folds = [int(f) for f in args.folds.split(",")] if args.folds else None
        run_folds(
            args.script,
            args.hparams,
            args.output_folder,
            protocol=args.protocol,
            folds=folds,
            overrides=overrides,
        )
    labels = args.labels.split(",") if args.labels else None
    return write_cv_report(args.output_folder, labels)


if __name__ == "__main__":
    main()
