"""Helpers of the recipe tests: run a recipe, read its logs, check its
reports, fake a run."""

import json
import math
import os
import re
import subprocess
import sys

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml import YAML
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_ext.inference import ContextFile, export_for_inference
from speechbrain_ext.lobes.models.joint_asr_ser import joint_forward
from speechbrain_ext.utils.metrics import compute_metrics
from speechbrain_ext.utils.report import markdown_table, read_predictions_csv

ROOT = os.path.abspath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir)
)
RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT"
)
TRAIN = os.path.join(RECIPE, "train.py")
EMO = "emo_encoder.txt"  # the label encoder the recipe saves
CONDITIONS = """conditions:
  - {name: clean, category: null, snr_db: null}
  - {name: noise_5dB, category: noise, snr_db: 5}
"""


def run_train_py(recipe, yaml, *flags, cwd, env=None, timeout=1500):
    """Runs a recipe's ``train.py`` on one of its yamls, offline.

    The subprocess imports ``speechbrain_ext`` from this repository.

    Arguments
    ---------
    recipe : str
        The recipe folder.
    yaml : str
        A yaml of ``recipe/hparams`` (by name) or a yaml path.
    *flags : str
        Command-line flags.
    cwd : str or pathlib.Path
        Working folder.
    env : dict, optional
        More environment variables.
    timeout : float
        Seconds before the run is killed.

    Returns
    -------
    subprocess.CompletedProcess
        The finished run, with its output.
    """
    cmd = [sys.executable, os.path.join(recipe, "train.py")]
    cmd += [os.path.join(recipe, "hparams", yaml), *flags]
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path, **(env or {}))
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def check_finished(proc):
    """Fails with the end of its output unless the run finished.

    Arguments
    ---------
    proc : subprocess.CompletedProcess
        A run of :func:`run_train_py`.

    Raises
    ------
    RuntimeError
        The command and the end of its stdout and stderr.
    """
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(proc.args)} failed:\n{proc.stdout[-4000:]}"
            f"\n{proc.stderr[-4000:]}"
        )


def conditions_file(work):
    """Writes :data:`CONDITIONS` (clean, noise_5dB) into ``work``.

    Arguments
    ---------
    work : pathlib.Path
        A working folder.

    Returns
    -------
    pathlib.Path
        ``work / "two_conditions.yaml"``, for ``--test_conditions``.
    """
    path = work / "two_conditions.yaml"
    path.write_text(CONDITIONS, encoding="utf-8")
    return path


def train_family(family, work, *flags, **options):
    """A family's short run: its yaml and flags, tested clean and noisy.

    Arguments
    ---------
    family : dict
        A ``family_<name>.FAMILY``: ``recipe``, ``yaml`` and ``flags``.
    work : pathlib.Path
        Working folder: receives the conditions file (clean, noise_5dB)
        and the run (``work / "run"``).
    *flags : str
        More flags (corpus folders).
    **options
        ``env`` and ``timeout`` of :func:`run_train_py`.

    Returns
    -------
    pathlib.Path
        The output folder of the finished run.
    """
    out = work / "run"
    proc = run_train_py(
        family["recipe"],
        family["yaml"],
        f"--output_folder={out}",
        f"--test_conditions={conditions_file(work)}",
        *family["flags"],
        *flags,
        cwd=work,
        **options,
    )
    check_finished(proc)
    return out


def run_recipe(yaml_name, *flags, cwd):
    """Runs the joint recipe (wav2vec2_CTC_BERT) on one of its yamls."""
    return run_train_py(RECIPE, yaml_name, *flags, cwd=cwd)


def read_log_stats(path):
    """Per-epoch train/valid stats of a SpeechBrain FileTrainLogger file."""
    epochs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("epoch:"):
                continue
            stats = dict(
                (k.strip(), float(v))
                for k, v in re.findall(
                    r"((?:train|valid) [\w ]+?): ([\d.e+-]+)", line
                )
            )
            epochs.append(stats)
    return epochs


def run_test_manifest(run):
    """The test manifest of a finished run, as its hyperparams.yaml names it.

    Arguments
    ---------
    run : str or pathlib.Path
        The run's output folder.

    Returns
    -------
    dict
        ``{utterance id: entry}`` of the file ``test_annotation`` names.
    """
    with open(os.path.join(run, "hyperparams.yaml"), encoding="utf-8") as f:
        path = str(YAML(typ="rt").load(f)["test_annotation"])
    with open(path, encoding="utf-8") as f:
        return json.load(f)


RATES = ("WA", "UA", "macro_F1", "window_WA")
"""Metrics that are percentages of correct decisions, in [0, 100]."""


def _check_rows(rows, metrics, manifest, where):
    """Checks the rows of one predictions.csv against its metrics."""
    assert len(rows) == metrics["n"] > 0, (
        f"{where}: {len(rows)} rows, n = {metrics['n']}"
    )
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids), f"{where}: repeated ids"
    if manifest is not None:
        assert sorted(ids) == sorted(manifest), (
            f"{where}: {len(ids)} rows, not the {len(manifest)} utterances "
            "of the test manifest"
        )
    labels = metrics.get("labels")
    for row in rows:
        entry = (manifest or {}).get(row["id"], {})
        for column, key in (("ref", "wrd"), ("emo", "emo")):
            if column in row and key in entry:
                assert row[column] == entry[key], (where, row["id"], column)
        if labels is None:
            assert "pred" not in row and "probs" not in row, where
            continue
        assert row["emo"] in labels and row["pred"] in labels, (where, row)
        assert "probs" in row, f"{where}: no probabilities"
        probs = row["probs"]
        assert list(probs) == labels, (where, row["id"], list(probs))
        assert all(0.0 <= p <= 1.0 for p in probs.values()), (where, row)
        assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-4), row
        assert probs[row["pred"]] == max(probs.values()), (where, row)
        if "n_windows" in row:
            windows, hits = int(row["n_windows"]), int(row["windows_correct"])
            assert 0 <= hits <= windows and windows >= 1, (where, row)


def _check_metrics(metrics, rows, where):
    """Checks that metrics are in range and those of the rows."""
    for key in RATES:
        if key in metrics:
            assert 0.0 <= metrics[key] <= 100.0, (where, key, metrics[key])
    for key in ("WER", "CER"):
        if key in metrics:
            assert metrics[key] >= 0.0, (where, key, metrics[key])
    recomputed = compute_metrics(rows, metrics.get("labels"))
    assert sorted(recomputed) == sorted(metrics), where
    for key, value in metrics.items():
        if isinstance(value, float) or key == "WER_by_emotion":
            expected = pytest.approx(value, rel=1e-9, abs=1e-9)
            assert recomputed[key] == expected, (where, key)
        else:
            assert recomputed[key] == value, (where, key)


def check_condition_reports(
    results, conditions, manifest=None, labels=None, noise_raises=None
):
    """Checks the content of the reports of a run's test conditions.

    For every condition, ``<results>/<condition>/predictions.csv`` and
    ``metrics.json`` must agree:

    * one row per utterance the metrics counted (``n``), ids unique and,
      given a manifest, the manifest's ids with its transcripts (``wrd``
      against ``ref``) and emotions (``emo``);
    * emotions and predictions from the class list (``labels`` of the
      metrics), one probability per class, in its order, each in [0, 1],
      summing to 1, the largest for the predicted class; for window
      classifiers, 0 <= ``windows_correct`` <= ``n_windows``, at least one
      window;
    * WA, UA, macro-F1 and window WA in [0, 100], WER and CER >= 0;
    * every stored metric (counts, confusion matrix and WER by emotion
      included) equal to the one :func:`compute_metrics` computes from the
      rows;
    * the condition's ``metrics.json`` equal to its entry of the run's
      ``<results>/metrics.json``, which holds exactly ``conditions``, in
      that order, and whose table ``<results>/results.md`` shows.

    All conditions must score the same utterances, in the same order.

    Arguments
    ---------
    results : str or pathlib.Path
        The results folder of a test pass (``<run>/test_results``).
    conditions : list of str
        The conditions the run was tested under.
    manifest : dict, optional
        The run's test manifest (see :func:`run_test_manifest`).
    labels : list, optional
        The classes the metrics must list, in order.
    noise_raises : dict, optional
        ``{error metric: margin}``: under every condition but ``clean``,
        the metric (``WER`` or ``CER``) must exceed the clean one by at
        least ``margin`` points.

    Returns
    -------
    dict
        ``{condition: (rows, metrics)}``: the rows of ``predictions.csv``
        (as :func:`read_predictions_csv` reads them) and the metrics.
    """
    with open(os.path.join(results, "metrics.json"), encoding="utf-8") as f:
        run_metrics = json.load(f)
    assert list(run_metrics) == list(conditions), list(run_metrics)
    with open(os.path.join(results, "results.md"), encoding="utf-8") as f:
        assert markdown_table(run_metrics) in f.read(), "results.md"
    reports = {}
    for condition in conditions:
        folder = os.path.join(results, condition)
        with open(os.path.join(folder, "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        assert metrics == run_metrics[condition], (
            f"{condition}: metrics.json differs from the run's"
        )
        if labels is not None:
            assert metrics["labels"] == list(labels), (condition, metrics)
        rows = read_predictions_csv(os.path.join(folder, "predictions.csv"))
        _check_rows(rows, metrics, manifest, condition)
        _check_metrics(metrics, rows, condition)
        reports[condition] = rows, metrics
    order = [[row["id"] for row in rows] for rows, _ in reports.values()]
    assert all(ids == order[0] for ids in order), "conditions differ in ids"
    clean = run_metrics.get("clean")
    for key, margin in (noise_raises or {}).items():
        for condition, (_, metrics) in reports.items():
            if condition != "clean":
                assert metrics[key] >= clean[key] + margin, (
                    f"{key}: {condition} {metrics[key]:.2f}, clean "
                    f"{clean[key]:.2f}, expected a margin of {margin}"
                )
    return reports


def run_joint_yaml(tmp_path, manifest, w2v, bert, *flags):
    """Runs ``joint.yaml`` (one epoch, clean test) on a small manifest.

    Arguments
    ---------
    tmp_path : pathlib.Path
        Working folder; the run goes to ``tmp_path / "out"``.
    manifest : dict
        Utterances (``wav``, ``duration``, ``wrd``, ``emo``): used for
        training, validation and test.
    w2v, bert : str
        Local wav2vec2 and BERT folders.
    *flags : str
        More command-line flags.

    Returns
    -------
    subprocess.CompletedProcess
    """
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(manifest))
    # the classes the manifest has (a class without data is refused)
    emotions = list(dict.fromkeys(entry["emo"] for entry in manifest.values()))
    return run_recipe(
        "joint.yaml",
        f"--emotions=[{','.join(emotions)}]",
        f"--output_folder={tmp_path / 'out'}",
        f"--data_folder={tmp_path}",
        f"--musan_folder={tmp_path}",
        f"--train_annotation={ann}",
        f"--valid_annotation={ann}",
        f"--test_annotation={ann}",
        f"--noise_folder={tmp_path}",
        "--skip_prep=True",
        f"--wav2vec2_hub={w2v}",
        f"--bert_source={bert}",
        "--test_conditions=clean",
        "--number_of_epochs=1",
        *flags,
        cwd=tmp_path,
    )


def untrained_run(output_folder, yaml_name="ser_demo.yaml", recipe=RECIPE):
    """A run folder as a recipe leaves it after an epoch, in seconds.

    ``hyperparams.yaml`` written the way SpeechBrain writes it (header
    naming the yaml, references resolved) and one checkpoint of the
    untrained model (normalisation statistics of one random batch). For the
    joint recipe, the emotion label encoder too, and the export of its
    ``train.py`` (``inference.yaml`` naming the joint forward function), so
    that the inference interface loads the run.

    Arguments
    ---------
    output_folder : str or pathlib.Path
        The run folder to create.
    yaml_name : str
        A yaml of ``recipe/hparams``.
    recipe : str
        The recipe folder.

    Returns
    -------
    speechbrain.utils.checkpoints.Checkpoint
        The saved checkpoint.
    """
    hparams_file = os.path.join(recipe, "hparams", yaml_name)
    overrides = {"output_folder": str(output_folder)}
    os.makedirs(output_folder)
    with open(hparams_file, encoding="utf-8") as f:
        resolved = resolve_references(f, overrides).getvalue()
    with open(
        os.path.join(output_folder, "hyperparams.yaml"), "w", encoding="utf-8"
    ) as f:
        f.write(f"# Generated 2025-01-01 from:\n# {hparams_file}\n")
        f.write(f"# yamllint disable\n{resolved}")
    with open(hparams_file, encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f, overrides)
    if recipe == RECIPE:
        encoder = hparams["modules"]["encoder"].train()
        encoder(torch.randn(2, 16000), torch.ones(2))
        labels = sb.dataio.encoder.CategoricalEncoder()
        labels.update_from_iterable(hparams["emotions"])
        os.makedirs(hparams["save_folder"], exist_ok=True)
        labels.save(os.path.join(hparams["save_folder"], EMO))
    checkpoint = hparams["checkpointer"].save_checkpoint(meta={"error": 1.0})
    if recipe == RECIPE:
        export_for_inference(
            output_folder,
            forward=joint_forward,
            context={"label_encoder": ContextFile(CategoricalEncoder, EMO)},
        )
    return checkpoint
