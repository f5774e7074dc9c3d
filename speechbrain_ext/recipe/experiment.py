"""The steps of a recipe's main block that read only the yaml's shared keys.

Every ``train.py`` of the collection runs the same steps around its own
data pipeline and ``Brain``; each step is one call here, so that the main
block reads as the recipe's flow (``from speechbrain_ext.recipe import
experiment``, then ``experiment.fit(...)``):

* :func:`load`: the command line and the checked yaml (an output folder
  inside a corpus is refused before anything is written), DDP initialised;
  the recipe then calls ``sb.create_experiment_directory`` itself
  (SpeechBrain copies the calling script into the folder);
* :func:`build_brain`: the recipe's ``RecipeBrain`` subclass with the
  yaml's modules, checkpointer, parameter groups, training augmentation,
  logger and checkpoint-selection metric, and the test conditions with the
  mixer of their noise;
* :func:`fit`: the training loader (see
  :func:`~speechbrain_ext.recipe.data.recipe_loader_options`) and
  ``Brain.fit``;
* :func:`evaluate`: the chosen checkpoint under every test condition, with
  its reports;
* :func:`export`: ``inference.yaml`` and ``custom_interface.py`` of a
  finished training run (:func:`label_encoder_context` names the emotion
  classes for it).

SpeechBrain's ``check_yaml_vs_script`` counts a yaml key as used only when
the recipe script names it: a ``train.py`` names, beside each call, the
keys that the call reads (as ``compute_forward`` names those of a family's
forward function).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import importlib.util
import os

import speechbrain as sb
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.distributed import if_main_process

from speechbrain_ext.augment.noise_pools import recipe_noise
from speechbrain_ext.inference import ContextFile, export_for_inference
from speechbrain_ext.recipe.data import (
    check_recipe_folders,
    recipe_loader_options,
)
from speechbrain_ext.recipe.hparams import load_hparams
from speechbrain_ext.utils.evaluation import evaluate_conditions

BRAIN_KEYS = ("modules", "checkpointer", "param_groups", "train_logger")
"""Yaml keys that every recipe's brain is built from."""

OPTIONAL_BRAIN_KEYS = {"train_augment": None, "selection_metric": "loss"}
"""Yaml keys of the brain that an evaluation-only yaml may leave out, with
the values of ``RecipeBrain``'s defaults."""


def load(argv, check=None):
    r"""The command line and the checked yaml of a recipe, DDP initialised.

    Runs :func:`~speechbrain_ext.recipe.data.check_recipe_folders`, and the
    recipe's own ``check`` if given, before the yaml builds any object (its
    checkpointer would create the output folder), loads the yaml with
    :func:`~speechbrain_ext.recipe.hparams.load_hparams` and initialises
    the DDP group of a multi-GPU run. The recipe then creates the
    experiment folder with ``sb.create_experiment_directory``.

    Arguments
    ---------
    argv : list of str
        ``sys.argv[1:]``: the yaml, run options and overrides.
    check : callable, optional
        Called as ``check(hparams_file, overrides)`` before the yaml is
        loaded; it raises on a run that must not start (for example, one
        that would overwrite a file it does not own).

    Returns
    -------
    hparams_file : str
        The yaml file.
    run_opts : dict
        SpeechBrain's run options (``--device``, ``--debug``...).
    overrides : str
        The overrides of the command line, as yaml text.
    hparams : dict
        The loaded hyperparameters.

    Example
    -------
    >>> import pathlib, tempfile
    >>> yaml = pathlib.Path(tempfile.mkdtemp()) / "train.yaml"
    >>> _ = yaml.write_text("output_folder: results\nnumber_of_epochs: 2\n")
    >>> hparams_file, run_opts, overrides, hparams = load(
    ...     [str(yaml), "--number_of_epochs=3", "--device=cpu"])
    >>> hparams["number_of_epochs"], run_opts["device"]
    (3, 'cpu')
    >>> load([str(yaml), "--number_of_epochs=-1"])
    Traceback (most recent call last):
    ...
    ValueError: number_of_epochs=-1 (from the command line) is not a ...
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    check_recipe_folders(hparams_file, overrides)
    if check is not None:
        check(hparams_file, overrides)
    hparams = load_hparams(hparams_file, overrides)
    sb.utils.distributed.ddp_init_group(run_opts)
    return hparams_file, run_opts, overrides, hparams


def build_brain(brain_class, hparams, run_opts, **arguments):
    """A recipe's brain built from its yaml, and the test conditions.

    The brain gets the yaml's ``modules``, ``checkpointer``,
    ``param_groups``, ``train_logger``, ``train_augment`` and
    ``selection_metric`` (the last two are optional: none and the loss),
    each replaced by the argument of the same name where the recipe gives
    one (e.g. the modules of the streams a yaml chooses). The test
    conditions are those of ``test_conditions``, their noise drawn from the
    pools of ``noise_folder`` with ``test_noise_seed``; with a
    ``noise_prob`` above 0 (training on noisy copies) the training pools
    must exist, since SpeechBrain's ``AddNoise`` would add white noise
    without them (see
    :func:`~speechbrain_ext.augment.noise_pools.recipe_noise`).

    Arguments
    ---------
    brain_class : type
        The recipe's subclass of
        :class:`~speechbrain_ext.recipe.brain.RecipeBrain`.
    hparams : dict
        The recipe's hyperparameters.
    run_opts : dict
        SpeechBrain's run options.
    **arguments
        Values that replace the yaml's for ``modules``, ``checkpointer``,
        ``param_groups``, ``train_logger``, ``train_augment``,
        ``selection_metric`` or ``noise_prob``.

    Returns
    -------
    brain : RecipeBrain
        An instance of ``brain_class``, with the mixer of the test
        conditions' noise.
    conditions : list of NoiseCondition
        The test conditions, in table order.

    Raises
    ------
    TypeError
        For an argument that is none of the above.

    Example
    -------
    >>> import torch
    >>> from speechbrain_ext.recipe.brain import RecipeBrain
    >>> net = torch.nn.Linear(1, 2)
    >>> hparams = {
    ...     "modules": {"net": net}, "checkpointer": None,
    ...     "param_groups": {"model": {"modules": net,
    ...                                "optimizer": torch.optim.Adam}},
    ...     "train_logger": None, "selection_metric": "UA",
    ...     "test_conditions": "clean", "noise_folder": "pools",
    ...     "test_noise_seed": 1986}
    >>> brain, conditions = build_brain(
    ...     RecipeBrain, hparams, {"device": "cpu"})
    >>> brain.selection_metric, [c.name for c in conditions]
    ('UA', ['clean'])
    >>> brain, _ = build_brain(RecipeBrain, hparams, {"device": "cpu"},
    ...                        selection_metric="WA")
    >>> brain.selection_metric
    'WA'
    """
    noise_prob = arguments.pop("noise_prob", hparams.get("noise_prob", 0.0))
    options = {key: hparams[key] for key in BRAIN_KEYS if key not in arguments}
    for key, default in OPTIONAL_BRAIN_KEYS.items():
        options.setdefault(key, hparams.get(key, default))
    unknown = set(arguments) - set(BRAIN_KEYS) - set(OPTIONAL_BRAIN_KEYS)
    if unknown:
        raise TypeError(
            f"build_brain got {sorted(unknown)}: it replaces only the yaml's "
            f"{', '.join(BRAIN_KEYS + tuple(OPTIONAL_BRAIN_KEYS))} and "
            "noise_prob."
        )
    options.update(arguments)
    conditions, condition_mixer = recipe_noise(
        hparams["test_conditions"],
        hparams["noise_folder"],
        hparams["test_noise_seed"],
        noise_prob=noise_prob,
    )
    brain = brain_class(
        hparams=hparams,
        run_opts=run_opts,
        condition_mixer=condition_mixer,
        **options,
    )
    return brain, conditions


def fit(brain, hparams, train_set, valid_set):
    """Trains a recipe's brain (resuming an interrupted run).

    The training loader is that of
    :func:`~speechbrain_ext.recipe.data.recipe_loader_options`
    (``train_dataloader_opts``, ``seed`` and, where the yaml has them,
    ``sorting``, ``dynamic_batching`` and ``dynamic_batch_sampler``); its
    dynamic batch sampler, if any, becomes the brain's ``train_sampler``
    (reshuffled every epoch). The epochs are those of ``epoch_counter``,
    the validation loader takes ``valid_dataloader_opts``. A brain run with
    ``--test_only`` trains nothing (an evaluation-only yaml needs none of
    these keys).

    Arguments
    ---------
    brain : speechbrain.Brain
        The recipe's brain.
    hparams : dict
        The recipe's hyperparameters.
    train_set, valid_set : Dataset
        The training and validation data.

    Example
    -------
    >>> import torch
    >>> from speechbrain.dataio.batch import PaddedBatch
    >>> from speechbrain_ext.recipe.brain import RecipeBrain
    >>> class Loudness(RecipeBrain):
    ...     def compute_forward(self, batch, stage):
    ...         level = batch.sig.data.abs().mean(1, keepdim=True)
    ...         return {"p_emo": self.modules.net(level).log_softmax(-1)}
    ...     def compute_objectives(self, predictions, batch, stage):
    ...         emo = batch.emo_encoded.data[:, 0]
    ...         return torch.nn.functional.nll_loss(predictions["p_emo"], emo)
    >>> net = torch.nn.Linear(1, 2)
    >>> opts = {"batch_size": 8, "collate_fn": PaddedBatch}
    >>> hparams = {"emotions": ["neu", "ang"], "epoch_counter": range(2),
    ...            "seed": 1, "train_dataloader_opts": opts,
    ...            "valid_dataloader_opts": opts}
    >>> groups = {"model": {"modules": net, "optimizer": torch.optim.Adam}}
    >>> brain = Loudness({"net": net}, hparams, {"device": "cpu"},
    ...                  param_groups=groups)
    >>> data = [{"id": f"u{i}", "sig": torch.randn(800),
    ...          "emo_encoded": torch.tensor([i % 2])} for i in range(16)]
    >>> fit(brain, hparams, data, data)
    >>> brain.train_stats["loss"] > 0, brain.train_sampler is None
    (True, True)
    """
    if brain.test_only:
        return
    loader_kwargs, brain.train_sampler = recipe_loader_options(
        train_set, hparams
    )
    brain.fit(
        hparams["epoch_counter"],
        train_set,
        valid_set,
        train_loader_kwargs=loader_kwargs,
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )


def evaluate(
    brain, hparams_file, hparams, test_set, conditions, min_key="error"
):
    """Evaluates a checkpoint under every test condition, with its reports.

    :func:`~speechbrain_ext.utils.evaluation.evaluate_conditions` with the
    yaml's ``results_folder``, ``test_dataloader_opts`` and
    ``test_conditions`` (which names the condition set), the report titled
    with the yaml's file name.

    Arguments
    ---------
    brain : RecipeBrain
        The recipe's brain.
    hparams_file : str
        The recipe's yaml.
    hparams : dict
        The recipe's hyperparameters.
    test_set : Dataset
        The test data.
    conditions : list of NoiseCondition
        The conditions (as :func:`build_brain` returns them).
    min_key : str, optional
        The checkpoint to evaluate: the lowest of this metadata key (the
        validation error); ``None`` for the last one saved.

    Returns
    -------
    dict
        ``{condition name: metrics}`` (on the main process).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_ext.augment.conditions import NoiseCondition
    >>> class Echo:
    ...     test_condition, test_records, labels = None, [], ["neu", "ang"]
    ...     def evaluate(self, data, **kwargs):
    ...         self.test_records = [
    ...             {"id": str(i), "emo": e, "pred": e} for i, e in data]
    >>> hparams = {"results_folder": tempfile.mkdtemp(),
    ...            "test_dataloader_opts": {}, "test_conditions": "clean"}
    >>> results = evaluate(
    ...     Echo(), "train.yaml", hparams, [(0, "neu"), (1, "ang")],
    ...     [NoiseCondition("clean")])
    >>> results["clean"]["UA"]
    100.0
    """
    return evaluate_conditions(
        brain,
        test_set,
        conditions,
        hparams["results_folder"],
        test_loader_kwargs=hparams["test_dataloader_opts"],
        min_key=min_key,
        title=os.path.basename(hparams_file),
        condition_set=hparams["test_conditions"],
    )


def label_encoder_context(key="emo"):
    """The context entry of the emotion classes, for :func:`export`.

    Arguments
    ---------
    key : str
        The manifest key of the labels, whose encoder
        :func:`~speechbrain_ext.recipe.data.add_label_encoder` saved as
        ``<key>_encoder.txt`` in the save folder.

    Returns
    -------
    dict
        ``{"label_encoder": ContextFile}``, to extend with the other
        context files of a family's forward function.

    Example
    -------
    >>> label_encoder_context()["label_encoder"].file
    'emo_encoder.txt'
    """
    return {
        "label_encoder": ContextFile(CategoricalEncoder, f"{key}_encoder.txt")
    }


def export(brain, hparams, forward, context=None, min_key="error"):
    """Exports a finished training run for the inference interface.

    On the main process, and unless the run was a ``--debug`` or a
    ``--test_only`` one,
    :func:`~speechbrain_ext.inference.export.export_for_inference` writes
    ``inference.yaml`` and ``custom_interface.py`` into the yaml's
    ``output_folder``.

    Arguments
    ---------
    brain : speechbrain.Brain
        The trained brain.
    hparams : dict
        The recipe's hyperparameters.
    forward : callable
        The family's forward function (module-level).
    context : dict, optional
        ``{name: ContextFile}``: the files that ``forward`` needs besides
        the yaml, and ``label_encoder`` (:func:`label_encoder_context`).
    min_key : str, optional
        The exported checkpoint: the lowest of this metadata key; ``None``
        for the last one saved.

    Returns
    -------
    str or None
        The path of ``inference.yaml``; ``None`` when nothing was written.

    Example
    -------
    >>> class DebugRun:
    ...     debug, test_only = True, False
    >>> print(export(DebugRun(), {"output_folder": "nowhere"}, print))
    None
    """
    if not if_main_process() or brain.debug or brain.test_only:
        return None
    return export_for_inference(
        hparams["output_folder"],
        forward=forward,
        context=context,
        min_key=min_key,
    )


def load_recipe_module(script, name=None):
    r"""A recipe's ``train.py`` imported as a module (its main block unrun).

    Tests and benchmarks use it to time or check the recipe's own
    ``Brain`` and data pipeline.

    Arguments
    ---------
    script : str
        Path of the script.
    name : str, optional
        The module's name (default: the script's file name without
        ``.py``).

    Returns
    -------
    module
        The imported module.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
    ...     print("STEPS = 3", 'if __name__ == "__main__": 1 / 0', sep="\n",
    ...           file=f)
    >>> load_recipe_module(f.name).STEPS
    3
    """
    if name is None:
        name = os.path.splitext(os.path.basename(script))[0]
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
