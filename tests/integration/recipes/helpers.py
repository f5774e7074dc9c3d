"""Helpers of the recipe tests: run a recipe, read its logs, fake a run."""

import json
import os
import re
import subprocess
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_ext.inference import ContextFile, export_for_inference
from speechbrain_ext.lobes.models.joint_asr_ser import joint_forward

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
