"""Data helpers shared by the recipes: preparation, datasets, loaders.

* :func:`check_recipe_folders` refuses an output or save folder inside a
  corpus before anything is written;
* :func:`run_preparation` runs the preparation steps that a yaml lists
  (``!name:`` functions with their arguments), on the main process only;
* :func:`load_datasets` reads JSON manifests into ``DynamicItemDataset``
  objects, with durations as numbers, sorted and filtered (those of a
  yaml's ``<split>_annotation`` keys: :func:`split_annotations`);
* :func:`add_audio`, :func:`add_label_encoder`, :func:`add_char_tokens`
  and :func:`add_pretrained_ctc_tokens` (the vocabulary of a pretrained
  CTC head) add the dynamic items that a recipe's heads need
  (:func:`emotion_datasets`: a yaml's splits with audio and emotions);
* :func:`drop_empty_transcripts` keeps the utterances that have words;
* :func:`train_loader_options` sets up the training loader (shuffled,
  sorted or duration-bucketed dynamic batches), reproducibly on resume
  (with a yaml's keys: :func:`recipe_loader_options`).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import collections
import functools
import logging
import operator
import os

import ruamel.yaml
import speechbrain as sb
import torch
from hyperpyyaml import resolve_references
from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_ext.dataio.preparation import check_save_folder

logger = logging.getLogger(__name__)

SORTINGS = ("random", "ascending", "descending")
SPLITS = ("train", "valid", "test")


def resolve_hparams(hparams_file, overrides=None):
    r"""A recipe's yaml with its overrides, ``!ref`` resolved, nothing built.

    Building the objects of a yaml already writes (the checkpointer creates
    its folder), so checks that must come before any write read this.

    Arguments
    ---------
    hparams_file : str
        The recipe's yaml.
    overrides : str or dict, optional
        The overrides of the command line.

    Returns
    -------
    dict
        The top-level keys; tagged nodes (``!new:`` ...) stay unbuilt.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "hparams.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("out: results\nsave: !ref <out>/save\n")
    >>> resolve_hparams(path, {"out": "/tmp/x"})["save"]
    '/tmp/x/save'
    """
    with open(hparams_file, encoding="utf-8") as f:
        return ruamel.yaml.YAML().load(resolve_references(f, overrides))


def check_recipe_folders(hparams_file, overrides=None):
    r"""Refuses an output or save folder inside a corpus, before any write.

    Reads the yaml with its overrides, resolving ``!ref`` but building no
    object (building the checkpointer already creates its folder), and,
    unless ``skip_prep`` is true, checks that ``output_folder`` is neither
    the top-level ``data_folder`` nor the ``data_folder`` of a step of
    ``data_preparation``, nor inside one, and that the ``save_folder`` of
    each step is not inside its ``data_folder``. A recipe calls it before
    ``load_hyperpyyaml`` and ``sb.create_experiment_directory``, which
    write into the output folder.

    Arguments
    ---------
    hparams_file : str
        The recipe's yaml.
    overrides : str or dict, optional
        The overrides of the command line (as ``sb.parse_arguments``
        returns them).

    Raises
    ------
    ValueError
        Naming the folder that is inside a corpus, and the corpus.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "hparams.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "data_folder: /corpus\n"
    ...         "output_folder: results/1\n"
    ...         "skip_prep: False\n"
    ...         "data_preparation:\n"
    ...         "  - !name:speechbrain_ext.dataio.emodb_prepare.prepare_emodb\n"
    ...         "    data_folder: !ref <data_folder>\n"
    ...         "    save_folder: !ref <output_folder>/prepared\n"
    ...     )
    >>> check_recipe_folders(path)
    >>> try:
    ...     check_recipe_folders(path, {"output_folder": "/corpus/results"})
    ... except ValueError as error:
    ...     print(str(error).split(";")[0])
    output_folder /corpus/results is inside data_folder /corpus
    """
    hparams = resolve_hparams(hparams_file, overrides)
    if not isinstance(hparams, dict) or hparams.get("skip_prep") is True:
        return
    steps = [
        step
        for step in hparams.get("data_preparation") or []
        if isinstance(step, dict)
    ]
    corpora = [hparams.get("data_folder")]
    corpora += [step.get("data_folder") for step in steps]
    output_folder = hparams.get("output_folder")
    for corpus in corpora:
        if _is_folder_name(corpus) and _is_folder_name(output_folder):
            check_save_folder(output_folder, corpus, "output_folder")
    for step in steps:
        corpus, save = step.get("data_folder"), step.get("save_folder")
        if _is_folder_name(corpus) and _is_folder_name(save):
            check_save_folder(save, corpus)


def _is_folder_name(value):
    """Tell whether a yaml value names a folder (a non-empty string)."""
    return isinstance(value, str) and value != ""


def run_preparation(steps, skip_prep=False):
    """Runs each preparation step of a yaml on the main process.

    Arguments
    ---------
    steps : list of callable
        Preparation functions with their arguments bound (``!name:`` in a
        yaml), run in order: e.g. corpus generation, corpus preparation,
        noise-pool preparation.
    skip_prep : bool
        Run nothing (the manifests exist already).

    Example
    -------
    >>> calls = []
    >>> run_preparation([lambda: calls.append("corpus"),
    ...                  lambda: calls.append("noise")])
    >>> calls
    ['corpus', 'noise']
    >>> run_preparation([lambda: calls.append("again")], skip_prep=True)
    >>> calls
    ['corpus', 'noise']
    """
    if skip_prep:
        return
    for step in steps or []:
        run_on_main(step)


def _duration(entry, uid, path):
    """The duration of a manifest entry as a float (``length`` accepted)."""
    value = entry.get("duration", entry.get("length"))
    if value is None:
        raise KeyError(
            f"{path}: entry {uid!r} needs 'duration' or 'length' (seconds); "
            f"it has keys {sorted(entry)}"
        )
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: entry {uid!r} has a duration that is not a number: "
            f"{value!r}"
        ) from error


def split_annotations(hparams, splits=SPLITS):
    """The manifests of a recipe's splits: its ``<split>_annotation`` keys.

    Arguments
    ---------
    hparams : dict
        The recipe's hyperparameters.
    splits : tuple of str
        The splits.

    Returns
    -------
    dict
        ``{split: hparams["<split>_annotation"]}``, for
        :func:`load_datasets`.

    Example
    -------
    >>> split_annotations({"train_annotation": "a/train.json",
    ...                    "valid_annotation": "a/valid.json",
    ...                    "test_annotation": "a/test.json"})["valid"]
    'a/valid.json'
    """
    return {split: hparams[f"{split}_annotation"] for split in splits}


def load_datasets(
    annotations,
    data_folder,
    sorting="random",
    max_duration=None,
    labels=None,
    label_key="emo",
):
    """Reads the manifests of each split.

    Durations are cast to float (SpeechBrain's sample manifests store them
    as strings). The training set is sorted as ``sorting`` says and cut at
    ``max_duration`` seconds; the others are sorted by duration (less
    padding), which does not change any metric.

    Arguments
    ---------
    annotations : dict
        ``{split: path of a JSON manifest}`` with a ``train`` split.
    data_folder : str
        Replaces ``{data_root}`` in the manifests.
    sorting : str
        ``random``, ``ascending`` or ``descending`` (training set).
    max_duration : float, optional
        Longest training utterance kept, in seconds.
    labels : list of str, optional
        The labels a recipe knows (the classes of its classifier): a
        manifest entry whose ``label_key`` is not among them, and a label
        without any utterance in the training set (after the
        ``max_duration`` cut), are errors that name the file.
    label_key : str
        Manifest key of the label.

    Returns
    -------
    dict
        ``{split: DynamicItemDataset}``.

    Example
    -------
    >>> import json, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"a": {"wav": "{data_root}/a.wav", "duration": "2.5",
    ...                      "emo": "sad"},
    ...                "b": {"wav": "{data_root}/b.wav", "duration": 1.0,
    ...                      "emo": "joy"}}, f)
    >>> sets = load_datasets({"train": path}, "/data", sorting="ascending")
    >>> [sets["train"].data[k]["duration"] for k in sets["train"].data_ids]
    [1.0, 2.5]
    >>> load_datasets({"train": path}, "/data", labels=["sad"])
    Traceback (most recent call last):
    ...
    ValueError: ...train.json: label(s) ['joy'] (e.g. utterance 'b') ...
    >>> load_datasets({"train": path}, "/data", labels=["sad", "joy", "ang"])
    Traceback (most recent call last):
    ...
    ValueError: ...train.json: class(es) ['ang'] of the yaml list ...
    """
    if sorting not in SORTINGS:
        raise ValueError(
            f"sorting must be one of {', '.join(SORTINGS)}, not {sorting!r}"
        )
    datasets = {}
    for split, path in annotations.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"The {split} manifest {path} does not exist: run the "
                "preparation (skip_prep: False) or fix the path."
            )
        dataset = sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path, replacements={"data_root": data_folder}
        )
        for uid, entry in dataset.data.items():
            entry["duration"] = _duration(entry, uid, path)
        if labels is not None:
            _check_labels(dataset, labels, label_key, path)
        if split == "train":
            dataset = dataset.filtered_sorted(
                sort_key=None if sorting == "random" else "duration",
                reverse=sorting == "descending",
                key_max_value=(
                    {"duration": max_duration} if max_duration else {}
                ),
            )
            if labels is not None:
                _check_classes_trained(
                    dataset, labels, label_key, path, max_duration
                )
        else:
            dataset = dataset.filtered_sorted(sort_key="duration")
        datasets[split] = dataset
    return datasets


def _check_labels(dataset, labels, key, path):
    """Fails on labels outside ``labels``, naming the manifest."""
    unknown = {}
    for uid, entry in dataset.data.items():
        if key not in entry:
            raise KeyError(f"{path}: entry {uid!r} has no {key!r} label")
        if entry[key] not in labels:
            unknown.setdefault(entry[key], uid)
    if unknown:
        first = unknown[sorted(unknown)[0]]
        raise ValueError(
            f"{path}: label(s) {sorted(unknown)} (e.g. utterance {first!r}) "
            f"are not in the yaml list {list(labels)}; add them to the list "
            "or map them in the preparation."
        )


def _check_classes_trained(dataset, labels, key, path, max_duration):
    """Fails on classes of ``labels`` without a training utterance."""
    counts = collections.Counter(
        dataset.data[uid][key] for uid in dataset.data_ids
    )
    missing = [label for label in labels if not counts[label]]
    if missing:
        kept = f" of at most {max_duration} s" if max_duration else ""
        raise ValueError(
            f"{path}: class(es) {missing} of the yaml list {list(labels)} "
            f"have no training utterance{kept}: the {len(labels)}-way "
            "classifier would never learn them. Remove them from the list "
            f"or fix the preparation (training counts: {dict(counts)})."
        )


def add_audio(datasets, key="wav", output_key="sig"):
    """Adds the waveform of each utterance as a dynamic item.

    Arguments
    ---------
    datasets : dict or list of DynamicItemDataset
        The datasets.
    key : str
        Manifest key of the audio path.
    output_key : str
        Name of the waveform item.
    """
    sb.dataio.dataset.add_dynamic_item(
        _as_list(datasets),
        sb.dataio.dataio.read_audio,
        takes=[key],
        provides=[output_key],
    )


def label_pipeline(label, encoder):
    """Yields the index of a label as a one-element tensor.

    Arguments
    ---------
    label : str
        The label.
    encoder : CategoricalEncoder
        The label encoder.

    Yields
    ------
    torch.LongTensor
        ``[index]``.
    """
    yield encoder.encode_sequence_torch([label])


def add_label_encoder(
    datasets, labels, save_folder, key="emo", output_key="emo_encoded"
):
    """Encodes the labels in the order of the yaml list.

    Arguments
    ---------
    datasets : dict or list of DynamicItemDataset
        The datasets.
    labels : list of str
        The classes, in the order of the classifier's outputs.
    save_folder : str
        The encoder is saved in ``<save_folder>/<key>_encoder.txt`` (and
        loaded from there on resume).
    key : str
        Manifest key of the label.
    output_key : str
        Name of the encoded item.

    Returns
    -------
    speechbrain.dataio.encoder.CategoricalEncoder
        The encoder.

    Example
    -------
    >>> import tempfile
    >>> encoder = add_label_encoder([], ["neu", "hap"], tempfile.mkdtemp())
    >>> encoder.encode_label("hap")
    1
    """
    save_path = os.path.join(save_folder, f"{key}_encoder.txt")
    encoder = sb.dataio.encoder.CategoricalEncoder()
    if not encoder.load_if_possible(save_path):
        encoder.update_from_iterable(labels)
        if if_main_process():
            os.makedirs(save_folder, exist_ok=True)
            encoder.save(save_path)
    encoder.expect_len(len(labels))
    if list(encoder.ind2lab.values()) != list(labels):
        raise ValueError(
            f"{save_path} holds the labels "
            f"{list(encoder.ind2lab.values())} but the yaml lists "
            f"{list(labels)}: use another output folder."
        )
    sb.dataio.dataset.add_dynamic_item(
        _as_list(datasets),
        functools.partial(label_pipeline, encoder=encoder),
        takes=[key],
        provides=[output_key],
    )
    return encoder


def emotion_datasets(hparams, audio_key="sig", **options):
    """The splits of a recipe's yaml with their audio and encoded emotions.

    :func:`load_datasets` of the manifests of :func:`split_annotations`
    (paths under ``data_folder``), whose labels must be among the yaml's
    ``emotions``; then :func:`add_audio` and :func:`add_label_encoder`
    (saved in ``save_folder``).

    Arguments
    ---------
    hparams : dict
        The recipe's hyperparameters.
    audio_key : str
        Name of the waveform item.
    **options
        More arguments of :func:`load_datasets` (``sorting``,
        ``max_duration``).

    Returns
    -------
    datasets : dict
        ``{split: DynamicItemDataset}`` providing ``audio_key`` and
        ``emo_encoded``.
    emo_encoder : CategoricalEncoder
        The encoder of the classes, in the order of the yaml's list.

    Example
    -------
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> manifest = {"a": {"wav": "a.wav", "duration": 1.0, "emo": "ang"},
    ...             "b": {"wav": "b.wav", "duration": 1.2, "emo": "neu"},
    ...             "c": {"wav": "c.wav", "duration": 2.0, "emo": "neu"}}
    >>> _ = (folder / "all.json").write_text(json.dumps(manifest))
    >>> hparams = {f"{split}_annotation": str(folder / "all.json")
    ...            for split in SPLITS}
    >>> hparams.update(data_folder=str(folder), emotions=["neu", "ang"],
    ...                save_folder=str(folder / "save"))
    >>> datasets, encoder = emotion_datasets(hparams, max_duration=1.5)
    >>> len(datasets["train"]), len(datasets["test"])
    (2, 3)
    >>> sorted(os.listdir(folder / "save"))
    ['emo_encoder.txt']
    """
    datasets = load_datasets(
        split_annotations(hparams),
        hparams["data_folder"],
        labels=hparams["emotions"],
        **options,
    )
    add_audio(datasets, output_key=audio_key)
    emo_encoder = add_label_encoder(
        datasets, hparams["emotions"], hparams["save_folder"]
    )
    return datasets, emo_encoder


def char_pipeline(wrd, tokenizer):
    """Yields a transcript and its character token ids.

    Arguments
    ---------
    wrd : str
        The transcript.
    tokenizer : CTCTextEncoder
        The character encoder.

    Yields
    ------
    str
        The transcript.
    torch.LongTensor
        Its token ids.
    """
    yield wrd
    yield torch.LongTensor(tokenizer.encode_sequence(list(wrd)))


def add_char_tokens(
    datasets, save_folder, blank_index=0, output_neurons=None, key="wrd"
):
    """Adds character CTC targets; the alphabet comes from the train set.

    Arguments
    ---------
    datasets : dict
        The datasets, with a ``train`` split.
    save_folder : str
        The tokenizer is saved in ``<save_folder>/tokenizer.txt`` (and
        loaded from there on resume).
    blank_index : int
        Index of the CTC blank.
    output_neurons : int, optional
        Size of the CTC layer; an error when the alphabet is larger.
    key : str
        Manifest key of the transcript; provides ``key`` and ``tokens``.

    Returns
    -------
    speechbrain.dataio.encoder.CTCTextEncoder
        The tokenizer (with blank and unknown).
    """
    tokenizer = sb.dataio.encoder.CTCTextEncoder()
    tokenizer.add_unk()
    sb.dataio.dataset.add_dynamic_item(
        _as_list(datasets),
        functools.partial(char_pipeline, tokenizer=tokenizer),
        takes=[key],
        provides=[key, "tokens"],
    )
    os.makedirs(save_folder, exist_ok=True)
    tokenizer.load_or_create(
        os.path.join(save_folder, "tokenizer.txt"),
        from_didatasets=[datasets["train"]],
        output_key=key,
        special_labels={"blank_label": blank_index},
        sequence_input=True,
    )
    tokenizer.ignore_len()
    if output_neurons is not None and len(tokenizer) > output_neurons:
        raise ValueError(
            f"The training transcripts have {len(tokenizer)} tokens "
            "(characters, blank and unknown) but the CTC layer has "
            f"output_neurons={output_neurons}: raise it."
        )
    return tokenizer


def pretrained_token_pipeline(wrd, tokenizer):
    """Yields a transcript and its token ids in a pretrained vocabulary.

    Arguments
    ---------
    wrd : str
        The transcript (words separated by white space).
    tokenizer : transformers.Wav2Vec2CTCTokenizer
        The tokenizer of a pretrained CTC model: words become characters
        separated by its word delimiter, characters outside its vocabulary
        its unknown token.

    Yields
    ------
    str
        The transcript.
    torch.LongTensor
        Its token ids.
    """
    yield wrd
    yield torch.LongTensor(tokenizer(" ".join(wrd.split())).input_ids)


def add_pretrained_ctc_tokens(datasets, tokenizer, key="wrd"):
    """Adds CTC targets in the vocabulary of a pretrained CTC head.

    Arguments
    ---------
    datasets : dict or list of DynamicItemDataset
        The datasets.
    tokenizer : transformers.Wav2Vec2CTCTokenizer
        The tokenizer of the pretrained model (e.g. ``PretrainedCTCHead``'s).
    key : str
        Manifest key of the transcript; provides ``key`` and ``tokens``.

    Returns
    -------
    transformers.Wav2Vec2CTCTokenizer
        ``tokenizer``, which also decodes the hypotheses.

    Example
    -------
    >>> import tempfile
    >>> from transformers import Wav2Vec2CTCTokenizer
    >>> from speechbrain_ext.synthetic.offline_models import (
    ...     build_wav2vec2_ctc)
    >>> tok = Wav2Vec2CTCTokenizer.from_pretrained(
    ...     build_wav2vec2_ctc(tempfile.mkdtemp()))
    >>> data = sb.dataio.dataset.DynamicItemDataset({"a": {"wrd": "HE  IT"}})
    >>> _ = add_pretrained_ctc_tokens([data], tok)
    >>> data.set_output_keys(["tokens"])
    >>> tok.convert_ids_to_tokens(data[0]["tokens"].tolist())
    ['H', 'E', '|', 'I', 'T']
    """
    sb.dataio.dataset.add_dynamic_item(
        _as_list(datasets),
        functools.partial(pretrained_token_pipeline, tokenizer=tokenizer),
        takes=[key],
        provides=[key, "tokens"],
    )
    return tokenizer


def drop_empty_transcripts(dataset, key="wrd"):
    """The utterances of a dataset whose transcript has a word.

    IEMOCAP transcripts that hold only tags (``[LAUGHTER]``) are empty
    once normalised; Li et al. (2022) leave those utterances out (5500 of
    5531).

    Arguments
    ---------
    dataset : DynamicItemDataset
        The dataset (its order is kept).
    key : str
        Manifest key of the transcript.

    Returns
    -------
    DynamicItemDataset
        The utterances whose ``key`` is not blank.

    Example
    -------
    >>> data = sb.dataio.dataset.DynamicItemDataset(
    ...     {"a": {"wrd": "OH"}, "b": {"wrd": " "}, "c": {"wrd": "NO"}})
    >>> drop_empty_transcripts(data).data_ids
    ['a', 'c']
    """
    return dataset.filtered_sorted(
        key_test={key: lambda text: bool(text.split())}
    )


def train_loader_options(
    dataset,
    loader_opts,
    seed,
    sorting="random",
    dynamic_batching=False,
    sampler_opts=None,
):
    """Keyword arguments of the training loader, and its batch sampler.

    The loader draws its worker seed from a generator of its own, not from
    the global one, so a run resumed in the middle of an epoch draws the
    same random numbers (augmentation, dropout) as an uninterrupted run.

    Arguments
    ---------
    dataset : DynamicItemDataset
        The training set (with numeric ``duration``).
    loader_opts : dict
        ``batch_size``, ``shuffle``, ``num_workers``... of the yaml.
    seed : int
        Seed of the loader's generator.
    sorting : str
        A sorted training set (``ascending``/``descending``) is not
        shuffled.
    dynamic_batching : bool
        Batches of similar durations from a ``DynamicBatchSampler``,
        shuffled every epoch; replaces ``batch_size`` and ``shuffle``.
    sampler_opts : dict, optional
        Arguments of the ``DynamicBatchSampler``.

    Returns
    -------
    kwargs : dict
        For ``Brain.fit(train_loader_kwargs=...)``.
    sampler : DynamicBatchSampler or None
        Set it as the brain's ``train_sampler`` so that it is reshuffled
        every epoch.

    Example
    -------
    >>> kwargs, sampler = train_loader_options(
    ...     [], {"batch_size": 4, "shuffle": True}, seed=1,
    ...     sorting="ascending")
    >>> kwargs["shuffle"], sampler
    (False, None)
    """
    kwargs = dict(loader_opts)
    if sorting != "random":
        kwargs["shuffle"] = False
    kwargs["generator"] = torch.Generator().manual_seed(seed)
    if not dynamic_batching:
        return kwargs, None
    sampler = DynamicBatchSampler(
        dataset,
        length_func=operator.itemgetter("duration"),
        **(sampler_opts or {}),
    )
    # the loader's own batching options give way to the sampler's
    for key in ("batch_size", "shuffle", "sampler", "drop_last"):
        kwargs.pop(key, None)
    kwargs["batch_sampler"] = sampler
    return kwargs, sampler


def recipe_loader_options(dataset, hparams):
    """:func:`train_loader_options` with the keys of a recipe's yaml.

    ``train_dataloader_opts`` and ``seed``; ``sorting`` (default
    ``random``), ``dynamic_batching`` (default off) and
    ``dynamic_batch_sampler`` where the yaml has them.

    Arguments
    ---------
    dataset : DynamicItemDataset
        The training set.
    hparams : dict
        The recipe's hyperparameters.

    Returns
    -------
    kwargs : dict
        For ``Brain.fit(train_loader_kwargs=...)``.
    sampler : DynamicBatchSampler or None
        The brain's ``train_sampler``.

    Example
    -------
    >>> kwargs, sampler = recipe_loader_options(
    ...     [], {"train_dataloader_opts": {"batch_size": 4, "shuffle": True},
    ...          "seed": 1})
    >>> kwargs["batch_size"], kwargs["shuffle"], sampler
    (4, True, None)
    """
    return train_loader_options(
        dataset,
        hparams["train_dataloader_opts"],
        seed=hparams["seed"],
        sorting=hparams.get("sorting", "random"),
        dynamic_batching=hparams.get("dynamic_batching", False),
        sampler_opts=hparams.get("dynamic_batch_sampler"),
    )


def _as_list(datasets):
    if isinstance(datasets, dict):
        return list(datasets.values())
    return list(datasets)
