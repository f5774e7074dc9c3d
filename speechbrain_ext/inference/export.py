"""Exports a training run for the inference interface, and loads it.

A training run of any recipe leaves an output folder with
``hyperparams.yaml`` and checkpoints. :func:`export_for_inference`, the last
step of every ``train.py``, adds two files, so that the model loads the
SpeechBrain way (``foreign_class``):

* ``inference.yaml``: the run's hyperparameters, plus

  - ``forward: !name:<module>.<function>``: the family's forward function;
  - ``label_encoder``: the emotion classes (a context entry of that name);
  - ``context``: the other objects the forward function receives as
    keyword arguments, each built from a file of the run
    (:class:`ContextFile`);
  - ``pretrainer``: a SpeechBrain ``Pretrainer`` that loads the best
    checkpoint's files of the recoverables that are torch modules, and the
    context files of classes;

* ``custom_interface.py``: imports
  :class:`~speechbrain_ext.inference.interface.RecipeInterface`.

Every path of ``inference.yaml`` is absolute and inside the run folder: the
run's ``hyperparams.yaml`` stores the paths of the training's working folder,
which are rewritten against the run folder, so a run loads the same model
from any working folder and loading creates nothing outside the run folder.
An ``inference.yaml`` written for another location (a moved or copied run
folder) is written again by :func:`load_model`, with the forward function
and context it names; the exported files get the permissions of any new
file (umask). A read-only run folder is left as it is: :func:`load_model`
writes the export to a temporary folder, removed once the model is loaded.

Only exported runs are loaded: a run folder whose ``inference.yaml`` names
no forward function (the run of a recipe without an export, or of a
version before it) is refused, naming its recipe and modules, before
anything is written. A run without a usable checkpoint is refused with the
list of its checkpoint folders and why each cannot be used.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import errno
import inspect
import logging
import os
import pydoc
import re
import tempfile
from typing import Callable, NamedTuple, Union

import torch
import yaml
from hyperpyyaml import resolve_references
from speechbrain.utils.checkpoints import (
    DEFAULT_LOAD_HOOKS,
    DEFAULT_TRANSFER_HOOKS,
)
from speechbrain.utils.fetching import FetchConfig, LocalStrategy

from speechbrain_ext.dataio.preparation import atomic_write
from speechbrain_ext.inference.interface import RecipeInterface
from speechbrain_ext.utils.checkpoints import (
    ResumableCheckpointer,
    why_no_checkpoint,
)

logger = logging.getLogger(__name__)

INFERENCE_YAML = "inference.yaml"
INTERFACE_FILE = "custom_interface.py"
INTERFACE_CLASS = "RecipeInterface"
# The context entry that the interface reads (the emotion classes) rather
# than passing it to the forward function
LABEL_ENCODER = "label_encoder"
# Keys the export adds; a key of the run's yaml with one of these names is
# kept as training_<key>
EXPORT_KEYS = ("forward", LABEL_ENCODER, "context", "pretrainer")


class ContextFile(NamedTuple):
    """An object of a family's forward function, built from a run's file.

    Arguments
    ---------
    loader : type or callable
        Either a class whose instances SpeechBrain's ``Pretrainer`` loads
        from a file (a torch module, or a class with SpeechBrain
        checkpoint hooks such as ``CategoricalEncoder`` and
        ``CTCTextEncoder``): ``inference.yaml`` creates it empty
        (``!new:``) and the pretrainer loads the file into it; or a
        function ``loader(path)`` that returns the object (``!apply:``),
        e.g. a word-vocabulary reader. Module-level, importable.
    file : str
        The file, relative to the run's ``save_folder`` (where the recipes
        save them), or absolute.

    Example
    -------
    >>> from speechbrain.dataio.encoder import CTCTextEncoder
    >>> ContextFile(CTCTextEncoder, "tokenizer.txt").file
    'tokenizer.txt'
    """

    loader: Union[type, Callable]
    file: str


def dotted_name(obj):
    """The importable name of a module-level class or function.

    Arguments
    ---------
    obj : type or callable
        A class, a function, or a class's static or class method.

    Returns
    -------
    str
        ``<module>.<qualified name>``, which ``pydoc.locate`` (and so
        HyperPyYAML's ``!name:``, ``!new:`` and ``!apply:``) resolves to
        ``obj``.

    Raises
    ------
    ValueError
        When ``obj`` cannot be imported by that name (a lambda, a local
        function, a ``functools.partial``, or a function of a script run
        as ``__main__`` such as a ``train.py``).

    Example
    -------
    >>> dotted_name(os.path.join)
    'posixpath.join'
    >>> dotted_name(lambda x: x)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: <function <lambda> ...> cannot be named in a yaml file: ...
    """
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    name = f"{module}.{qualname}"
    if (
        module is None
        or qualname is None
        or module == "__main__"
        or "<" in qualname
        or pydoc.locate(name) != obj
    ):
        raise ValueError(
            f"{obj!r} cannot be named in a yaml file: define it at module "
            "level in an importable module (e.g. the family's module of "
            "speechbrain_ext/lobes/models), not in a script."
        )
    return name


def relocate_paths(yaml_text, old, new):
    r"""Replaces the path ``old``, and every path under it, by ``new``.

    Only whole path values change (after ``key:``, ``-``, ``[`` or ``,``),
    so ``results/a`` does not touch ``results/ab`` or ``/x/results/a``.

    Arguments
    ---------
    yaml_text : str
        A HyperPyYAML document with resolved references.
    old : str
        The path to replace, e.g. the ``output_folder`` of the training.
    new : str
        Its replacement.

    Returns
    -------
    str
        The document with the paths replaced.

    Example
    -------
    >>> text = "out: results/a\nsave: results/a/save\nother: results/ab\n"
    >>> print(relocate_paths(text, "results/a", "/runs/a"), end="")
    out: /runs/a
    save: /runs/a/save
    other: results/ab
    """
    old = old.rstrip("/") or old
    pattern = rf"(?<=[\s\[,'\"]){re.escape(old)}(?=[/\s,\]'\"]|$)"
    return re.sub(pattern, lambda match: new, yaml_text, flags=re.M)


def _resolved_value(yaml_text, key):
    match = re.search(rf"^{key}:\s*(.+?)\s*$", yaml_text, flags=re.M)
    return match.group(1).strip("'\"") if match else None


def _hparams_path(output_folder):
    hparams_path = os.path.join(output_folder, "hyperparams.yaml")
    if not os.path.isfile(hparams_path):
        raise FileNotFoundError(
            f"{hparams_path} not found: is {output_folder} the output folder "
            "of a training run?"
        )
    return hparams_path


def _run_hparams(output_folder):
    """Hyperparameters of a run with its paths inside ``output_folder``.

    ``hyperparams.yaml`` stores the paths of the training's working folder
    (relative ones are relative to it); ``output_folder``, the run folder
    itself, is the only reliable anchor.

    Returns
    -------
    text : str
        The resolved hyperparameters, paths under the recorded output folder
        moved to ``output_folder`` (absolute).
    save_folder : str
        Absolute checkpoint folder.
    """
    hparams_path = _hparams_path(output_folder)
    with open(hparams_path, encoding="utf-8") as f:
        text = resolve_references(f.read()).getvalue()
    recorded = _resolved_value(text, "output_folder")
    if recorded:
        text = relocate_paths(text, recorded, output_folder)
    save_folder = _resolved_value(text, "save_folder")
    if not save_folder:
        save_folder = os.path.join(output_folder, "save")
    elif not os.path.isabs(save_folder):
        # relative to the training's working folder, outside the run folder:
        # look for it in the run folder, never in today's working folder
        relocated = os.path.join(output_folder, os.path.basename(save_folder))
        text = relocate_paths(text, save_folder, relocated)
        save_folder = relocated
    return text, save_folder


class _Tagged(NamedTuple):
    """A YAML node with an application tag (e.g. ``!new:``), unconstructed."""

    tag: str
    value: object


class _TagKeepingLoader(yaml.SafeLoader):
    """Reads a HyperPyYAML file as plain data: no object is created."""


def _tagged(loader, node):
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return _Tagged(node.tag, value)


_TagKeepingLoader.add_constructor(None, _tagged)


def _read_yaml(path):
    """A HyperPyYAML file as data, tagged nodes as :class:`_Tagged`."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = yaml.load(text, Loader=_TagKeepingLoader)
    except yaml.YAMLError as e:
        raise ValueError(f"{path} cannot be read as YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold hyperparameters")
    return text, data


def _new_class(node):
    """The class of a ``!new:`` node, or ``None``."""
    if isinstance(node, _Tagged) and node.tag.startswith("!new:"):
        try:
            return pydoc.locate(node.tag[len("!new:") :])
        except pydoc.ErrorDuringImport:
            return None  # loading the yaml says why
    return None


def _is_module(node):
    cls = _new_class(node)
    return inspect.isclass(cls) and issubclass(cls, torch.nn.Module)


def describe_run(output_folder):
    r"""What a run folder's ``hyperparams.yaml`` says about its model.

    Reads only, and creates no object of the yaml.

    Arguments
    ---------
    output_folder : str
        The output folder of a training run.

    Returns
    -------
    dict
        ``hparams_file``: the yaml the run was generated from (SpeechBrain
        writes it in the header of ``hyperparams.yaml``), or ``None``;
        ``recipe``: the recipe folder of that yaml (from ``recipes/`` on
        when it is inside one), or ``None``; ``modules``: the names of the
        run's ``modules``; ``recoverables``: the names of its checkpointer's
        recoverables, or ``None`` when the yaml lists none;
        ``module_recoverables``: those that are torch modules (created with
        ``!new:`` of a ``torch.nn.Module`` class), whose checkpoint files
        hold the model.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "hyperparams.yaml"), "w") as f:
    ...     _ = f.write(
    ...         "# Generated 2024-05-01 from:\n"
    ...         "# /src/recipes/EmoDB/emotion_recognition/LSTM/hparams/a.yaml\n"
    ...         "encoder: &id001 !new:torch.nn.LSTM\n"
    ...         "  input_size: 4\n"
    ...         "modules:\n  encoder: *id001\n"
    ...         "checkpointer: !new:speechbrain_ext.utils.checkpoints."
    ...         "ResumableCheckpointer\n"
    ...         "  recoverables:\n"
    ...         "    model: *id001\n"
    ...         "    counter: !new:speechbrain.utils.epoch_loop.EpochCounter\n"
    ...         "      limit: 2\n")
    >>> info = describe_run(run)
    >>> info["recipe"], info["modules"], info["module_recoverables"]
    ('recipes/EmoDB/emotion_recognition/LSTM', ['encoder'], ['model'])
    """
    path = _hparams_path(output_folder)
    text, hparams = _read_yaml(path)
    match = re.match(r"# Generated .* from:\n# (.+)\n", text)
    hparams_file = match.group(1).strip() if match else None
    recipe = None
    if hparams_file:
        recipe = os.path.dirname(hparams_file)
        if os.path.basename(recipe) == "hparams":
            recipe = os.path.dirname(recipe)
        inside = f"{os.sep}recipes{os.sep}"
        if inside in recipe:
            recipe = recipe[recipe.rindex(inside) + 1 :]
    modules = hparams.get("modules")
    checkpointer = hparams.get("checkpointer")
    if isinstance(checkpointer, _Tagged):
        checkpointer = checkpointer.value
    recoverables = None
    if isinstance(checkpointer, dict):
        if isinstance(checkpointer.get("recoverables"), dict):
            recoverables = checkpointer["recoverables"]
    return {
        "hparams_file": hparams_file,
        "recipe": recipe,
        "modules": list(modules) if isinstance(modules, dict) else [],
        "recoverables": None if recoverables is None else list(recoverables),
        "module_recoverables": [
            name
            for name, node in (recoverables or {}).items()
            if _is_module(node)
        ],
    }


def _origin(info):
    if info["recipe"]:
        return f"{info['recipe']} ({os.path.basename(info['hparams_file'])})"
    return "an unknown recipe (no 'Generated ... from' header)"


def declared_family(output_folder):
    r"""The forward function and context that a run's export names.

    Reads ``<output_folder>/inference.yaml`` (written by
    :func:`export_for_inference`); reads only.

    Arguments
    ---------
    output_folder : str
        The output folder of a training run.

    Returns
    -------
    forward : callable
        The family's forward function.
    context : dict
        {name: :class:`ContextFile`}, the label encoder included; the
        files are absolute, moved into ``output_folder`` when the export
        was written for another location of the run.

    Raises
    ------
    ValueError
        When the run has no export naming a forward function (a run of a
        recipe without an export, or of an older version), or when a name
        it holds cannot be imported; the message names the run's recipe
        and modules.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "hyperparams.yaml"), "w") as f:
    ...     _ = f.write("modules:\n  encoder: null\n")
    >>> declared_family(run)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../hyperparams.yaml is a run of an unknown recipe ...
    """
    output_folder = os.path.abspath(output_folder)
    info = describe_run(output_folder)
    path = os.path.join(output_folder, INFERENCE_YAML)
    problem = f"it holds no {INFERENCE_YAML}"
    data = None
    if os.path.isfile(path):
        data = _read_yaml(path)[1]
        forward = data.get("forward")
        if not (
            isinstance(forward, _Tagged) and forward.tag.startswith("!name:")
        ):
            problem = f"its {INFERENCE_YAML} names no forward function"
            data = None
    if data is None:
        found = ", ".join(info["modules"]) or "none"
        raise ValueError(
            f"{os.path.join(output_folder, 'hyperparams.yaml')} is a run of "
            f"{_origin(info)} with the modules {found}, and {problem}: the "
            "inference interface runs the models whose training exported "
            "them (the family's forward function named in inference.yaml, "
            "written by export_for_inference at the end of train.py). "
            "Export this run with export_for_inference(output_folder, "
            "forward=..., context=...)."
        )
    forward = _locate(data["forward"].tag[len("!name:") :], path)
    old_folder = str(data.get("output_folder") or output_folder)
    paths = {}
    pretrainer = data.get("pretrainer")
    if isinstance(pretrainer, _Tagged) and isinstance(pretrainer.value, dict):
        paths = pretrainer.value.get("paths") or {}
    nodes = dict(data.get("context") or {})
    if data.get(LABEL_ENCODER) is not None:
        nodes[LABEL_ENCODER] = data[LABEL_ENCODER]
    context = {}
    for name, node in nodes.items():
        if not isinstance(node, _Tagged):
            raise ValueError(f"{path}: context entry {name} is not a loader")
        kind, _, loader = node.tag.partition(":")
        if kind == "!new":
            file = paths.get(_loadable_name(name))
        else:
            file = node.value[0] if isinstance(node.value, list) else None
        if file is None:
            raise ValueError(f"{path}: context entry {name} names no file")
        file = _moved(str(file), old_folder, output_folder)
        context[name] = ContextFile(_locate(loader, path), file)
    return forward, context


def _moved(path, old, new):
    """``path``, moved from under ``old`` to under ``new``."""
    old = old.rstrip("/")
    if path == old or path.startswith(old + "/"):
        return new + path[len(old) :]
    return path


def _locate(name, path):
    try:
        obj = pydoc.locate(name)
    except pydoc.ErrorDuringImport as e:
        raise ValueError(f"{path} names {name}, which fails to import: {e}")
    if obj is None:
        raise ValueError(f"{path} names {name}, which cannot be imported")
    return obj


def _loadable_name(context_name):
    """The pretrainer's name of a context file."""
    if context_name == LABEL_ENCODER:
        return LABEL_ENCODER
    return f"context_{context_name}"


def _context_entries(context, save_folder):
    """Checks a context; its loader nodes, files and pretrained classes.

    Returns
    -------
    nodes : dict
        {name: (yaml tag of the loader, absolute file, loaded by the
        pretrainer)}.
    """
    entries = {}
    for name, spec in context.items():
        if not re.fullmatch(r"[A-Za-z_]\w*", str(name)):
            raise ValueError(f"context entry {name!r}: not an identifier")
        if not isinstance(spec, ContextFile):
            raise TypeError(
                f"context entry {name}: a ContextFile(loader, file) is "
                f"expected, got {spec!r}"
            )
        file = os.path.join(save_folder, spec.file)
        if not os.path.exists(file):
            raise FileNotFoundError(
                f"context entry {name}: {file} does not exist (the recipe "
                "saves it in its save_folder during training)"
            )
        loader = dotted_name(spec.loader)
        if inspect.isclass(spec.loader):
            hooks = (DEFAULT_TRANSFER_HOOKS, DEFAULT_LOAD_HOOKS)
            if not any(c in h for c in spec.loader.__mro__ for h in hooks):
                raise TypeError(
                    f"context entry {name}: SpeechBrain's Pretrainer cannot "
                    f"load a {loader} from a file (no checkpoint hooks): "
                    "give a class with hooks or a function loader(path)"
                )
            entries[name] = (f"!new:{loader}", file, True)
        elif callable(spec.loader):
            entries[name] = (f"!apply:{loader}", file, False)
        else:
            raise TypeError(
                f"context entry {name}: {spec.loader!r} is no loader"
            )
    return entries


def _best_checkpoint(save_folder, min_key, expected=None):
    """The best usable checkpoint, or an error saying what was found.

    ``expected``: the recoverables an unmarked checkpoint must hold (those
    of the run's checkpointer).
    """
    if not os.path.isdir(save_folder):  # the checkpointer would create it
        raise FileNotFoundError(
            f"No checkpoint: {save_folder} does not exist (the run has not "
            "finished an epoch)."
        )
    checkpointer = ResumableCheckpointer(save_folder, expected=expected)
    checkpoint = checkpointer.find_checkpoint(min_key=min_key)
    if checkpoint is None:
        raise FileNotFoundError(
            f"No usable checkpoint in {save_folder} (the run has not "
            "finished an epoch, or its checkpoints cannot be loaded): "
            f"{why_no_checkpoint(checkpointer, key=min_key)}."
        )
    return checkpoint


def check_run_folder(output_folder, min_key="error"):
    """Checks that a folder is an exported training run with a checkpoint.

    Reads only: nothing is written or created.

    Arguments
    ---------
    output_folder : str
        The output folder of a training run.
    min_key : str
        Checkpoint metadata key of the best checkpoint (lower is better).

    Returns
    -------
    str
        Path of the best checkpoint.

    Raises
    ------
    FileNotFoundError
        When the folder, its ``hyperparams.yaml``, a usable checkpoint or
        a context file is missing; the message lists the checkpoint folders
        found and why each cannot be used.
    ValueError
        When the run has no export naming its forward function (see
        :func:`declared_family`).

    Example
    -------
    >>> import tempfile
    >>> check_run_folder(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: .../hyperparams.yaml not found: is ... the output ...
    """
    output_folder = os.path.abspath(output_folder)
    if not os.path.isdir(output_folder):
        raise FileNotFoundError(f"{output_folder} is not a folder")
    _, save_folder = _run_hparams(output_folder)
    recoverables = describe_run(output_folder)["recoverables"]
    checkpoint = _best_checkpoint(save_folder, min_key, recoverables)
    _, context = declared_family(output_folder)
    _context_entries(context, save_folder)
    return checkpoint.path


def export_for_inference(
    output_folder,
    forward=None,
    context=None,
    min_key="error",
    export_folder=None,
):
    """Writes ``inference.yaml`` and ``custom_interface.py`` in a run folder.

    Every path of ``inference.yaml`` is absolute and resolved against
    ``output_folder`` (never against the current working folder): the
    paths that ``hyperparams.yaml`` records under the training's output
    folder are moved into ``output_folder``. The pretrainer loads, from the
    best checkpoint, every recoverable of the run's checkpointer that is a
    torch module (see :func:`describe_run`). The run is checked first (a
    usable checkpoint, the context files, importable names): nothing is
    written for a run the interface cannot load. The files get the
    permissions of any new file (umask).

    Arguments
    ---------
    output_folder : str
        The output folder of a finished training run (``hyperparams.yaml``
        and a ``save`` folder with checkpoints).
    forward : callable, optional
        The family's forward function, module-level:
        ``forward(modules, hparams, wavs, wav_lens, stage, **context)``
        returning ``p_emo`` and/or ``hyps``. Default: the one the run's
        ``inference.yaml`` names (to export a run again, e.g. after it
        was moved).
    context : dict, optional
        {name: :class:`ContextFile`}: the keyword arguments of ``forward``
        that the recipe builds outside its yaml, and ``label_encoder``
        (the emotion classes, which the interface reads). Default: that of
        the run's ``inference.yaml`` when ``forward`` is not given, else
        none.
    min_key : str
        Checkpoint metadata key of the best checkpoint (lower is better).
    export_folder : str, optional
        Where to write the two files (default: ``output_folder``), e.g.
        elsewhere when the run folder is read-only. Their paths still point
        into ``output_folder``.

    Returns
    -------
    str
        Path of the written ``inference.yaml``.
    """
    output_folder = os.path.abspath(output_folder)
    export_folder = os.path.abspath(export_folder or output_folder)
    text, save_folder = _run_hparams(output_folder)
    info = describe_run(output_folder)
    checkpoint = _best_checkpoint(save_folder, min_key, info["recoverables"])
    if forward is None:
        forward, declared = declared_family(output_folder)
        context = declared if context is None else context
    forward_name = dotted_name(forward)
    entries = _context_entries(context or {}, save_folder)
    loadables = {
        name: os.path.join(checkpoint.path, f"{name}.ckpt")
        for name in info["module_recoverables"]
        if os.path.isfile(os.path.join(checkpoint.path, f"{name}.ckpt"))
    }
    for name, (_, file, pretrained) in entries.items():
        if not pretrained:
            continue
        if _loadable_name(name) in loadables:
            raise ValueError(
                f"context entry {name}: the checkpoint has a recoverable "
                f"named {_loadable_name(name)} too"
            )
        loadables[_loadable_name(name)] = file
    # the run's own keys of the export's names stay, renamed
    for key in EXPORT_KEYS:
        text = re.sub(
            rf"^{key}:", f"training_{key}:", text, count=1, flags=re.M
        )
    lines = [
        text.rstrip("\n"),
        "",
        "# Inference (speechbrain_ext.inference): the family's forward",
        "# function, the objects it needs besides the yaml, and the best",
        f"# checkpoint, {os.path.basename(checkpoint.path)}",
        f"forward: !name:{forward_name}",
    ]
    refs = {}
    if LABEL_ENCODER in entries:
        tag, file, pretrained = entries.pop(LABEL_ENCODER)
        lines += [f"{LABEL_ENCODER}: {tag}"]
        lines += [] if pretrained else [f"  - {file}"]
        refs[LABEL_ENCODER] = f"<{LABEL_ENCODER}>"
    if entries:
        lines.append("context:")
    for name, (tag, file, pretrained) in entries.items():
        lines.append(f"  {name}: {tag}")
        if not pretrained:
            lines.append(f"    - {file}")
        refs[_loadable_name(name)] = f"<context[{name}]>"
    lines += [
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        f"  collect_in: {os.path.join(output_folder, 'inference')}",
        "  loadables:",
        *[
            f"    {name}: !ref {refs.get(name, f'<{name}>')}"
            for name in loadables
        ],
        "  paths:",
        *[f"    {name}: {path}" for name, path in loadables.items()],
        "",
    ]
    out_path = os.path.join(export_folder, INFERENCE_YAML)
    with atomic_write(out_path) as f:
        f.write("\n".join(lines))
    with atomic_write(os.path.join(export_folder, INTERFACE_FILE)) as f:
        f.write(
            '"""Inference interface of this run (see speechbrain_ext)."""\n\n'
            "from speechbrain_ext.inference.interface import "
            f"{INTERFACE_CLASS}  # noqa: F401\n"
        )
    return out_path


def _export_is_current(output_folder):
    """Whether ``inference.yaml`` was written for this very folder."""
    path = os.path.join(output_folder, INFERENCE_YAML)
    if not os.path.isfile(path):
        return False
    try:
        data = _read_yaml(path)[1]
    except ValueError:
        return False
    if data.get("output_folder") != output_folder:
        return False  # moved, copied, or relative paths of older versions
    pretrainer = data.get("pretrainer")
    if not isinstance(pretrainer, _Tagged):
        return False
    paths = (pretrainer.value or {}).get("paths") or {}
    return bool(paths) and all(
        os.path.isabs(str(p)) and os.path.isfile(str(p)) for p in paths.values()
    )


def _cannot_write(error):
    return isinstance(error, PermissionError) or error.errno == errno.EROFS


def load_model(output_folder, device="cpu"):
    """Loads the inference interface of a run folder (exporting if needed).

    The model is the one of ``output_folder`` whatever the working folder,
    and loading creates nothing outside ``output_folder``. An
    ``inference.yaml`` written for another location (a moved or copied run
    folder) is written again with :func:`export_for_inference`, with the
    forward function and context it names. When the run folder cannot be
    written (read-only), the export goes to a temporary folder that is
    removed once the model is loaded, and the run folder is left as it is.

    Arguments
    ---------
    output_folder : str
        Output folder of an exported training run.
    device : str
        Device to run on.

    Returns
    -------
    RecipeInterface
    """
    output_folder = os.path.abspath(output_folder)
    check_run_folder(output_folder)
    if _export_is_current(output_folder):
        return _from_export(output_folder, device)
    if os.access(output_folder, os.W_OK):
        try:
            export_for_inference(output_folder)
            return _from_export(output_folder, device)
        except OSError as e:
            if not _cannot_write(e):
                raise
    logger.info(
        "%s cannot be written: %s goes to a temporary folder",
        output_folder,
        INFERENCE_YAML,
    )
    with tempfile.TemporaryDirectory(prefix="inference_export_") as folder:
        export_for_inference(output_folder, export_folder=folder)
        return _from_export(folder, device)


def _from_export(folder, device):
    """The interface of the ``inference.yaml`` in ``folder``.

    Nothing is written: no ``savedir``, and the files are read where they
    are (the run's own files, not links left by an earlier load in an
    ``inference`` folder, which may point into another copy of the run).
    """
    return RecipeInterface.from_hparams(
        source=folder,
        hparams_file=INFERENCE_YAML,
        savedir=None,
        run_opts={"device": device},
        local_strategy=LocalStrategy.NO_LINK,
        fetch_config=FetchConfig(overwrite=True, allow_network=False),
    )
