"""Fixed, reproducible noise conditions for evaluating noise robustness.

A test condition is a MUSAN category (``noise``, ``music`` or ``speech``,
the latter being babble) mixed into every test utterance at one fixed
signal-to-noise ratio, or the clean signal itself. The conditions of a run
are listed in a HyperPyYAML file. The sets ``paper7``, ``clean`` and
``snr_sweep`` live in the collection's top-level ``hparams/condition_sets``
folder, installed with the package as ``speechbrain_ext.hparams`` (see
:func:`condition_sets_folder`; found by name with
:func:`find_condition_set`); a user's own file looks the same::

    conditions:
      - !new:speechbrain_ext.augment.conditions.NoiseCondition
        name: clean
        category: null
        snr_db: null
      - !new:speechbrain_ext.augment.conditions.NoiseCondition
        name: noise_5dB
        category: noise
        snr_db: 5

SpeechBrain's ``AddNoise`` is built for training augmentation: it draws the
SNR from a range, shares one random offset across the batch, depends on the
global torch RNG and adds white noise when no csv file is given. The
:class:`ConditionMixer` here instead derives the noise file and the offset
of each utterance from a stable hash of (seed, noise category, utterance
id), so a condition gives bit-identical noisy audio on every re-run and in
any batch composition or order, the conditions of one category (e.g.
``noise_15dB`` and ``noise_5dB``) differ only in the noise level, and it
fails loudly on a missing noise pool.

Authors
 * speechbrain_ext contributors
"""

import csv
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass
from typing import Optional

import soundfile
import torch
import torchaudio
import yaml
from hyperpyyaml import load_hyperpyyaml

from speechbrain_ext.dataio.musan_prepare import MUSAN_CATEGORIES
from speechbrain_ext.hparams import hparams_folder

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
_CONDITION_KEYS = ("name", "category", "snr_db")
_REPLACEMENT_PATTERN = re.compile(r"\$([\w.]+)")
_INCLUDE_PATTERN = re.compile(r"(!include:)([^\s,\]\}]+)")
_CONDITION_SETS_FOLDER = os.path.join(hparams_folder(), "condition_sets")


@dataclass(frozen=True)
class NoiseCondition:
    """One test condition: clean, or a noise category at a fixed SNR.

    Arguments
    ---------
    name : str
        Identifier of the condition, used in reports and as a folder name;
        letters, digits, ``_``, ``-`` and ``.`` only.
    category : str or None
        ``None`` for the clean condition, otherwise one of the MUSAN
        categories ``noise``, ``music`` or ``speech`` (babble).
    snr_db : float or None
        Signal-to-noise ratio in dB of the mixture; ``None`` for the clean
        condition, required (and finite) otherwise. Integers are converted
        to float.

    Example
    -------
    >>> NoiseCondition("music_5dB", "music", 5)
    NoiseCondition(name='music_5dB', category='music', snr_db=5.0)
    >>> NoiseCondition("clean").is_clean
    True
    >>> NoiseCondition("bad", "traffic", 5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Condition 'bad': unknown category 'traffic'; ...
    """

    name: str
    category: Optional[str] = None
    snr_db: Optional[float] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME_PATTERN.match(self.name):
            raise ValueError(
                f"Condition name {self.name!r} is invalid: use a non-empty "
                "string of letters, digits, '_', '-' and '.'."
            )
        if self.category is not None and (
            self.category not in MUSAN_CATEGORIES
        ):
            raise ValueError(
                f"Condition {self.name!r}: unknown category "
                f"{self.category!r}; expected None (clean) or one of "
                f"{', '.join(MUSAN_CATEGORIES)}."
            )
        if self.category is None:
            if self.snr_db is not None:
                raise ValueError(
                    f"Condition {self.name!r} is clean (category None) but "
                    f"has snr_db={self.snr_db!r}; use snr_db None."
                )
            return
        snr = self.snr_db
        if isinstance(snr, bool) or not isinstance(snr, (int, float)):
            raise ValueError(
                f"Condition {self.name!r}: snr_db must be a number, got "
                f"{snr!r}."
            )
        if not math.isfinite(snr):
            raise ValueError(
                f"Condition {self.name!r}: snr_db must be finite, got {snr}."
            )
        object.__setattr__(self, "snr_db", float(snr))

    @property
    def is_clean(self):
        """True when the condition leaves the audio unchanged."""
        return self.category is None


def condition_sets_folder():
    """Return the folder of the condition sets installed with the package.

    The folder is ``condition_sets/`` of the collection's top-level
    ``hparams/`` folder, which is installed as the package
    ``speechbrain_ext.hparams``, so it does not depend on the working
    directory or on where a checkout lives.

    Returns
    -------
    str
        Absolute path of the folder holding ``paper7.yaml``,
        ``clean.yaml``, ``snr_sweep.yaml``...

    Example
    -------
    >>> folder = condition_sets_folder()
    >>> os.path.isabs(folder)
    True
    >>> sorted(f for f in os.listdir(folder) if f.endswith(".yaml"))
    ['clean.yaml', 'paper7.yaml', 'snr_sweep.yaml']
    """
    return _CONDITION_SETS_FOLDER


def _available_condition_sets():
    """Names of the packaged condition sets, sorted."""
    folder = condition_sets_folder()
    if not os.path.isdir(folder):
        return []
    return sorted(
        name[: -len(".yaml")]
        for name in os.listdir(folder)
        if name.endswith(".yaml")
    )


def find_condition_set(name_or_path):
    """Return the path of a condition-set yaml file, given a name or a path.

    Arguments
    ---------
    name_or_path : str or os.PathLike
        The path of an existing yaml file (returned as given), or the name
        of a packaged set (``paper7``, ``clean``, ``snr_sweep``...; a file
        of :func:`condition_sets_folder` without its ``.yaml`` extension).

    Returns
    -------
    str
        The yaml path.

    Raises
    ------
    FileNotFoundError
        When ``name_or_path`` is neither an existing file nor the name of
        a packaged set; the message lists the available names.

    Example
    -------
    >>> path = find_condition_set("paper7")
    >>> path == os.path.join(condition_sets_folder(), "paper7.yaml")
    True
    >>> find_condition_set(path) == path
    True
    >>> find_condition_set("paper8")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: No condition set 'paper8': ...(clean, paper7, ...
    """
    path = os.fspath(name_or_path)
    if os.path.isfile(path):
        return path
    if path and os.path.basename(path) == path:
        candidate = os.path.join(condition_sets_folder(), f"{path}.yaml")
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"No condition set {path!r}: it is not a yaml file, nor the name of "
        f"a packaged set ({', '.join(_available_condition_sets())} in "
        f"{condition_sets_folder()})."
    )


def conditions_of_set(name_or_path):
    """The noise conditions of a condition set, given its name or its file.

    :func:`load_conditions` of :func:`find_condition_set`: what a recipe's
    ``test_conditions`` names.

    Arguments
    ---------
    name_or_path : str or os.PathLike
        The name of a packaged set (``paper7``, ``clean``, ``snr_sweep``) or
        the path of a yaml file.

    Returns
    -------
    list of NoiseCondition
        The conditions, in table order.

    Example
    -------
    >>> [c.name for c in conditions_of_set("clean")]
    ['clean']
    """
    return load_conditions(find_condition_set(name_or_path))


def _resolve_include(target, source):
    """Absolute path of an ``!include:`` target of the file ``source``.

    An absolute target is kept; a relative one is taken relative to the
    folder of ``source`` when that file exists, else from the packaged
    condition sets when it names one (``paper7.yaml``).
    """
    if os.path.isabs(target):
        return target
    local = os.path.join(os.path.dirname(os.path.abspath(source)), target)
    if os.path.exists(local):
        return local
    packaged = os.path.join(condition_sets_folder(), target)
    if os.path.isfile(packaged):
        return packaged
    return local


def _load_condition_file(source):
    """Load a conditions yaml file with HyperPyYAML; return its entries."""
    if not os.path.isfile(source):
        hint = ""
        if source in _available_condition_sets():
            hint = " (for a packaged set, use find_condition_set first)"
        raise FileNotFoundError(f"Conditions file not found: {source}{hint}")
    with open(source, encoding="utf-8") as fin:
        text = fin.read()
    try:
        # Tags are kept as they are: only the top-level layout is checked.
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: invalid yaml: {error}") from error
    keys = []
    if isinstance(root, yaml.MappingNode):
        keys = [key.value for key, _ in root.value]
    if "conditions" not in keys:
        raise ValueError(
            f"{source}: expected a top-level key 'conditions' holding "
            "a list of NoiseCondition objects or {name, category, snr_db} "
            "mappings."
        )
    text = _INCLUDE_PATTERN.sub(
        lambda match: match[1] + _resolve_include(match[2], source), text
    )
    try:
        content = load_hyperpyyaml(io.StringIO(text))
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"{source}: included file not found: {error.filename or error}"
        ) from error
    except Exception as error:
        raise ValueError(f"{source}: {error}") from error
    return content["conditions"]


def load_conditions(path_or_list):
    """Read a list of noise conditions.

    A yaml file is read with HyperPyYAML: its top-level key ``conditions``
    holds a list whose entries are ``!new:`` :class:`NoiseCondition`
    objects or plain mappings with keys ``name``, ``category`` and
    ``snr_db`` (``category: null`` and no ``snr_db`` for clean). An entry
    that is itself a list is spliced in, so a file can extend a packaged
    set with ``!include:`` and ``!ref``::

        paper7: !include:paper7.yaml
        conditions:
          - !ref <paper7[conditions]>
          - !new:speechbrain_ext.augment.conditions.NoiseCondition
            name: noise_0dB
            category: noise
            snr_db: 0

    A relative ``!include:`` target is looked up next to the including
    file first, then among the packaged sets (:func:`condition_sets_folder`),
    so the file above works wherever it is placed; an absolute path (e.g.
    ``!include:/path/printed/by/condition_sets_folder/paper7.yaml``)
    works too. Other top-level keys are ignored.

    Arguments
    ---------
    path_or_list : str, os.PathLike or list
        Either the path of such a yaml file (see :func:`find_condition_set`
        to turn a set name into a path), or a list whose items are
        :class:`NoiseCondition` objects or such mappings.

    Returns
    -------
    list of NoiseCondition
        The conditions in the order given.

    Raises
    ------
    ValueError
        On an empty list, a malformed entry, an unknown category or key,
        duplicate names or invalid yaml; the message names the file.
    FileNotFoundError
        When the yaml file, or a file it includes, does not exist.

    Example
    -------
    >>> conditions = load_conditions(
    ...     [{"name": "clean", "category": None},
    ...      {"name": "speech_5dB", "category": "speech", "snr_db": 5}]
    ... )
    >>> [c.name for c in conditions]
    ['clean', 'speech_5dB']
    >>> load_conditions([{"name": "a"}, {"name": "a"}])
    Traceback (most recent call last):
    ...
    ValueError: <list>: duplicate condition name(s): a
    >>> paper7 = load_conditions(find_condition_set("paper7"))
    >>> len(paper7), paper7[2]
    (7, NoiseCondition(name='noise_5dB', category='noise', snr_db=5.0))
    """
    if isinstance(path_or_list, (str, os.PathLike)):
        source = os.fspath(path_or_list)
        entries = _load_condition_file(source)
    else:
        source = "<list>"
        entries = path_or_list

    if not isinstance(entries, (list, tuple)) or len(entries) == 0:
        raise ValueError(f"{source}: 'conditions' must be a non-empty list.")

    flat = []
    for entry in entries:
        if isinstance(entry, (list, tuple)):
            flat.extend(entry)
        else:
            flat.append(entry)

    conditions = []
    for index, entry in enumerate(flat):
        if isinstance(entry, NoiseCondition):
            conditions.append(entry)
            continue
        if not isinstance(entry, dict):
            raise ValueError(
                f"{source}: condition #{index} must be a NoiseCondition or "
                f"a mapping with keys {', '.join(_CONDITION_KEYS)}, got "
                f"{entry!r}."
            )
        unknown = sorted(set(entry) - set(_CONDITION_KEYS))
        if unknown:
            raise ValueError(
                f"{source}: condition #{index} has unknown key(s) "
                f"{', '.join(map(str, unknown))}; allowed: "
                f"{', '.join(_CONDITION_KEYS)}."
            )
        if "name" not in entry:
            raise ValueError(f"{source}: condition #{index} has no 'name'.")
        try:
            conditions.append(
                NoiseCondition(
                    name=entry["name"],
                    category=entry.get("category"),
                    snr_db=entry.get("snr_db"),
                )
            )
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from error

    if not conditions:
        raise ValueError(f"{source}: 'conditions' must be a non-empty list.")
    names = [condition.name for condition in conditions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"{source}: duplicate condition name(s): {', '.join(duplicates)}"
        )
    return conditions


def _valid_lengths(lens, batch_size, max_len):
    """Convert relative lengths to sample counts (all full when None)."""
    if lens is None:
        return [max_len] * batch_size
    lens = torch.as_tensor(lens).reshape(-1)
    if lens.numel() != batch_size:
        raise ValueError(
            f"Got {lens.numel()} lengths for a batch of {batch_size}."
        )
    counts = torch.round(lens.double().cpu() * max_len).long()
    return counts.clamp(0, max_len).tolist()


def _tile(signal, length):
    """Repeat a 1-D signal until it has ``length`` samples."""
    if signal.shape[0] >= length:
        return signal[:length]
    repeats = -(-length // signal.shape[0])
    return signal.repeat(repeats)[:length]


def mix_at_snr(clean, noise, snr_db, clean_lens=None):
    """Add noise to clean signals at an exact signal-to-noise ratio.

    The noise of each utterance is scaled so that
    ``10 * log10(P_clean / P_noise) == snr_db``, with both powers (mean
    squares) measured over the utterance's valid samples only
    (``torchaudio.functional.add_noise`` with the valid lengths). Noise
    shorter than the clean signal is tiled (looped) to length. Samples
    beyond an utterance's length receive no noise, so the padding of a
    batch stays as it is in ``clean`` (zero in a padded batch). A silent
    utterance is returned unchanged.

    Arguments
    ---------
    clean : torch.Tensor
        Clean waveforms, shape ``[batch, time]``.
    noise : torch.Tensor
        Noise waveforms, shape ``[batch, noise_time]``, or ``[noise_time]``
        for one noise shared by the batch. The first samples of each row
        (tiled when too short) are mixed with the valid part of the
        corresponding clean signal.
    snr_db : float or torch.Tensor
        Target SNR in dB, a scalar or one value per utterance (``[batch]``).
    clean_lens : torch.Tensor, optional
        Relative lengths (0..1) of the clean signals, shape ``[batch]``;
        all signals are taken as full length when None.

    Returns
    -------
    torch.Tensor
        The mixtures, same shape, dtype and device as ``clean``.

    Raises
    ------
    ValueError
        On mismatched shapes, or when the noise is silent over the valid
        part of a non-silent utterance (no scale can reach the SNR).

    Example
    -------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> clean = torch.randn(2, 16000)
    >>> clean[1, 8000:] = 0.0
    >>> lens = torch.tensor([1.0, 0.5])
    >>> noisy = mix_at_snr(clean, torch.rand(2, 3000), 5.0, lens)
    >>> part = slice(0, 8000)
    >>> residual = noisy[1, part] - clean[1, part]
    >>> snr = 10 * torch.log10(clean[1, part].pow(2).mean()
    ...                        / residual.pow(2).mean())
    >>> round(snr.item(), 2)
    5.0
    >>> bool((noisy[1, 8000:] == 0).all())
    True
    """
    if clean.dim() != 2:
        raise ValueError(
            f"clean must be [batch, time], got shape {tuple(clean.shape)}."
        )
    batch_size, max_len = clean.shape
    if noise.dim() == 1:
        noise = noise.unsqueeze(0).expand(batch_size, -1)
    if noise.dim() != 2 or noise.shape[0] != batch_size:
        raise ValueError(
            f"noise must be [batch, time] or [time] with batch {batch_size}, "
            f"got shape {tuple(noise.shape)}."
        )
    if noise.shape[1] == 0:
        raise ValueError("noise has no samples.")
    snr = torch.as_tensor(snr_db, dtype=torch.float64).reshape(-1).cpu()
    if snr.numel() == 1:
        snr = snr.expand(batch_size)
    if snr.numel() != batch_size:
        raise ValueError(
            f"Got {snr.numel()} SNR values for a batch of {batch_size}."
        )
    lengths = _valid_lengths(clean_lens, batch_size, max_len)

    # Each row's noise tiled over its valid samples, zero beyond them
    tiled = torch.zeros(
        batch_size, max_len, dtype=torch.float64, device=clean.device
    )
    mixed = []
    for i, length in enumerate(lengths):
        if length == 0:
            continue
        segment = _tile(noise[i].to(clean.device).double(), length)
        tiled[i, :length] = segment
        if clean[i, :length].double().pow(2).sum().item() == 0.0:
            continue  # silent: left unchanged
        if segment.pow(2).sum().item() == 0.0:
            raise ValueError(
                f"Noise of utterance {i} is silent over its {length} valid "
                "samples; cannot mix at a finite SNR."
            )
        mixed.append(i)
    out = clean.double().clone()
    if mixed:
        rows = torch.tensor(mixed, device=clean.device)
        out[rows] = torchaudio.functional.add_noise(
            out[rows],
            tiled[rows],
            snr[mixed].to(clean.device),
            torch.tensor([lengths[i] for i in mixed], device=clean.device),
        )
    return out.to(clean.dtype)


def stable_seed(*parts):
    """Return a 64-bit integer derived from ``parts`` by SHA-256.

    Unlike Python's ``hash()``, which is salted per process, the value is
    the same on every run, platform and Python version.

    Arguments
    ---------
    *parts : object
        Values whose ``str()`` forms identify the draw, e.g. the seed, the
        noise category and the utterance id.

    Returns
    -------
    int
        An integer in ``[0, 2**64)``.

    Example
    -------
    >>> stable_seed(1986, "noise_5dB", "Ses05F_impro01_F000")
    13817571919980020791
    >>> stable_seed(1, "a") == stable_seed(1, "a") != stable_seed(2, "a")
    True
    """
    text = "\x1f".join(str(part) for part in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _read_noise_csv(path, replacements):
    """Return the wav paths listed in a SpeechBrain noise csv file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Noise csv file not found: {path}")
    with open(path, newline="", encoding="utf-8") as fin:
        reader = csv.DictReader(fin)
        if reader.fieldnames is None or "wav" not in reader.fieldnames:
            raise ValueError(
                f"Noise csv file {path} has no 'wav' column (expected the "
                "AddNoise header ID,duration,wav,wav_format,wav_opts)."
            )
        wavs = []
        for row in reader:
            wav = row["wav"]
            if not wav:
                continue
            try:
                wav = _REPLACEMENT_PATTERN.sub(
                    lambda match: str(replacements[match[1]]), wav
                )
            except KeyError as error:
                raise ValueError(
                    f"Noise csv file {path}: {row['wav']} needs the "
                    f"replacement {error.args[0]!r}."
                ) from error
            wavs.append(wav)
    if not wavs:
        raise ValueError(f"Noise csv file {path} lists no audio files.")
    missing = [wav for wav in wavs if not os.path.isfile(wav)]
    if missing:
        raise FileNotFoundError(
            f"Noise csv file {path} lists {len(missing)} missing audio "
            f"file(s), e.g. {missing[0]}"
        )
    return wavs


class ConditionMixer:
    """Make the noisy audio of a test condition, reproducibly.

    For every utterance, a noise file of the condition's category and a
    start offset in it are derived from :func:`stable_seed` of (seed,
    category, utterance id), not from the condition's name: the conditions
    of one category (``noise_15dB``, ``noise_5dB``) mix the same segment
    into an utterance and differ only in its level. The segment starting at
    the offset (looped when the file is shorter than the utterance) is mixed
    with :func:`mix_at_snr` at the condition's SNR over the utterance's
    valid samples. The result for an utterance therefore does not depend on
    the rest of the batch, its order, the global RNG state or earlier calls.

    A segment whose RMS is below ``rms_floor`` (a silent file, or a pause
    of a file) is not amplified to the SNR: the mixer redraws, the next
    draw being derived from :func:`stable_seed` of (previous draw,
    attempt), so redraws are reproducible too. After ``max_draws`` failed
    draws it raises a ``ValueError`` naming the pool and the utterance.

    Only the frames of the drawn segment are read from disk (plus a few
    for resampling); files are never held in memory, only their frame
    count and sample rate are cached, so a pool of many hours is fine.
    Multi-channel files are averaged to mono; files at another sample rate
    are read over the corresponding span, resampled, then cut to the exact
    length (the samples equal those of the whole file resampled).

    Arguments
    ---------
    csv_files : dict
        Maps a MUSAN category (``noise``, ``music``, ``speech``) to the csv
        file (or list of csv files) of its test pool, in SpeechBrain's
        AddNoise format (header ``ID,duration,wav,wav_format,wav_opts``;
        only the ``wav`` column is used). Files are checked on creation.
    seed : int
        Seed of the noise draws; the same seed gives bit-identical output.
    sample_rate : int
        Sample rate of the speech; noise files at another rate are
        resampled.
    replacements : dict, optional
        ``$key`` substitutions applied to the ``wav`` column, as in
        SpeechBrain csv files (e.g. ``{"noise_folder": "/data/musan"}``).
    rms_floor : float
        Smallest RMS a noise segment may have, on the float scale of the
        audio files (full scale is 1.0). The default ``1e-4`` (-80 dBFS)
        rejects digital silence and near-silent pauses, which would
        otherwise be scaled up by orders of magnitude (amplifying dither
        and quantisation noise), while keeping any audible noise. Use 0 to
        reject only exact silence.
    max_draws : int
        Number of draws (the first one included) tried per utterance before
        giving up.

    Raises
    ------
    FileNotFoundError
        When a csv file, or an audio file it lists, does not exist.
    ValueError
        When a csv file is empty, a category is unknown or an argument is
        out of range.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> wav = os.path.join(tmp.name, "hum.wav")
    >>> soundfile.write(wav, 0.1 * torch.randn(8000).numpy(), 16000)
    >>> pool = os.path.join(tmp.name, "noise_test.csv")
    >>> with open(pool, "w") as fout:
    ...     print("ID,duration,wav,wav_format,wav_opts", file=fout)
    ...     print(f"hum,0.5,{wav},wav,", file=fout)
    >>> mixer = ConditionMixer({"noise": pool}, seed=3)
    >>> wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.75])
    >>> condition = NoiseCondition("noise_5dB", "noise", 5)
    >>> noisy = mixer(wavs, lens, ["utt1", "utt2"], condition)
    >>> noisy.shape
    torch.Size([2, 16000])
    >>> again = ConditionMixer({"noise": pool}, seed=3)(
    ...     wavs[1:, :12000], torch.ones(1), ["utt2"], condition)
    >>> torch.equal(again[0], noisy[1, :12000])
    True
    >>> mixer(wavs, lens, ["utt1", "utt2"], NoiseCondition("clean")) is wavs
    True
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        csv_files,
        seed=1986,
        sample_rate=16000,
        replacements=None,
        rms_floor=1e-4,
        max_draws=20,
    ):
        if not isinstance(csv_files, dict):
            raise ValueError(
                "csv_files must map a category (noise, music, speech) to "
                f"csv file(s), got {type(csv_files).__name__}."
            )
        self.seed = int(seed)
        self.sample_rate = int(sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(
                f"sample_rate must be positive, got {sample_rate}."
            )
        self.rms_floor = float(rms_floor)
        if not math.isfinite(self.rms_floor) or self.rms_floor < 0:
            raise ValueError(
                f"rms_floor must be a finite number >= 0, got {rms_floor!r}."
            )
        self.max_draws = int(max_draws)
        if self.max_draws < 1:
            raise ValueError(f"max_draws must be >= 1, got {max_draws!r}.")
        replacements = dict(replacements or {})
        self.pools = {}
        self.csv_files = {}
        for category, paths in csv_files.items():
            if category not in MUSAN_CATEGORIES:
                raise ValueError(
                    f"Unknown noise category {category!r} in csv_files; "
                    f"expected one of {', '.join(MUSAN_CATEGORIES)}."
                )
            if paths is None:
                raise ValueError(f"No csv file given for category {category}.")
            if isinstance(paths, (str, os.PathLike)):
                paths = [paths]
            paths = [os.fspath(path) for path in paths]
            wavs = []
            for path in paths:
                wavs.extend(_read_noise_csv(path, replacements))
            self.pools[category] = wavs
            self.csv_files[category] = paths
        # Metadata only: wav path -> (frames, sample rate).
        self._info = {}

    def __call__(self, wavs, lens, ids, condition):
        """Return ``wavs`` mixed with the noise of ``condition``.

        Arguments
        ---------
        wavs : torch.Tensor
            Clean waveforms, shape ``[batch, time]``.
        lens : torch.Tensor
            Relative lengths (0..1), shape ``[batch]``.
        ids : list of str
            Utterance ids; they key the noise draws.
        condition : NoiseCondition
            The condition to apply.

        Returns
        -------
        torch.Tensor
            Noisy waveforms, same shape, dtype and device as ``wavs``;
            ``wavs`` itself for the clean condition. Padding is untouched.

        Example
        -------
        >>> mixer = ConditionMixer({})
        >>> wavs = torch.randn(1, 100)
        >>> mixer(wavs, torch.ones(1), ["a"], NoiseCondition("clean")) is wavs
        True
        """
        if not isinstance(condition, NoiseCondition):
            raise TypeError(
                f"condition must be a NoiseCondition, got {condition!r}."
            )
        if condition.is_clean:
            return wavs
        if condition.category not in self.pools:
            raise ValueError(
                f"Condition {condition.name!r} needs a csv file for the "
                f"category {condition.category!r}; csv_files only has "
                f"{sorted(self.pools) or 'none'}."
            )
        if wavs.dim() != 2:
            raise ValueError(
                f"wavs must be [batch, time], got shape {tuple(wavs.shape)}."
            )
        batch_size, max_len = wavs.shape
        if len(ids) != batch_size:
            raise ValueError(
                f"Got {len(ids)} ids for a batch of {batch_size} signals."
            )
        lengths = _valid_lengths(lens, batch_size, max_len)
        noisy = wavs.clone()
        for i, (utt_id, length) in enumerate(zip(ids, lengths)):
            if length == 0:
                continue
            wav_path, segment = self.noise_segment(condition, utt_id, length)
            try:
                noisy[i, :length] = mix_at_snr(
                    wavs[i : i + 1, :length],
                    segment.to(wavs.device),
                    condition.snr_db,
                )[0]
            except ValueError as error:
                raise ValueError(
                    f"Utterance {utt_id}, condition {condition.name}, "
                    f"noise file {wav_path}: {error}"
                ) from error
        return noisy

    def noise_segment(self, condition, utt_id, length):
        """Return the noise drawn for one utterance, before scaling.

        The draw depends on (seed, ``condition.category``, ``utt_id``) and
        ``length`` only; segments with an RMS below ``rms_floor`` are
        redrawn (see the class documentation).

        Arguments
        ---------
        condition : NoiseCondition
            A noisy condition whose category has a csv file.
        utt_id : str
            Utterance id.
        length : int
            Number of samples needed.

        Returns
        -------
        wav_path : str
            The noise file drawn.
        segment : torch.Tensor
            ``length`` samples of it (at ``sample_rate``, mono) from the
            drawn offset, looped when the file is shorter (float32, CPU).
            Its RMS is at least ``rms_floor``.

        Raises
        ------
        ValueError
            When none of ``max_draws`` draws reaches ``rms_floor``; the
            message names the csv file(s) of the pool and the utterance.

        Example
        -------
        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> wav = os.path.join(tmp.name, "n.wav")
        >>> soundfile.write(wav, torch.linspace(-1, 1, 100).numpy(), 16000)
        >>> pool = os.path.join(tmp.name, "pool.csv")
        >>> with open(pool, "w") as fout:
        ...     print("ID,duration,wav,wav_format,wav_opts", file=fout)
        ...     print(f"n,0.006,{wav},wav,", file=fout)
        >>> mixer = ConditionMixer({"noise": pool})
        >>> path, segment = mixer.noise_segment(
        ...     NoiseCondition("noise_0dB", "noise", 0), "utt", 250)
        >>> path == wav, segment.shape
        (True, torch.Size([250]))
        >>> _, same = mixer.noise_segment(
        ...     NoiseCondition("noise_20dB", "noise", 20), "utt", 250)
        >>> torch.equal(segment, same)
        True
        >>> tmp.cleanup()
        """
        length = int(length)
        if length <= 0:
            raise ValueError(f"length must be positive, got {length}.")
        pool = self.pools[condition.category]
        draw = stable_seed(self.seed, condition.category, utt_id)
        best_rms = 0.0
        for attempt in range(self.max_draws):
            if attempt > 0:
                draw = stable_seed(draw, attempt)
            wav_path = pool[draw % len(pool)]
            segment = self._read_segment(
                wav_path, stable_seed(draw, "offset"), length
            )
            rms = segment.double().pow(2).mean().sqrt().item()
            if rms > 0.0 and rms >= self.rms_floor:
                return wav_path, segment
            best_rms = max(best_rms, rms)
        raise ValueError(
            f"No noise segment of category {condition.category!r} reaches "
            f"the RMS floor {self.rms_floor:g} for utterance {utt_id} "
            f"({length} samples) after {self.max_draws} draws (loudest "
            f"{best_rms:.3g}); check the pool "
            f"{', '.join(self.csv_files[condition.category])} for silent "
            "files, or lower rms_floor."
        )

    def _file_info(self, wav_path):
        """Return (frames, sample rate) of a noise file, cached."""
        if wav_path not in self._info:
            info = soundfile.info(wav_path)
            self._info[wav_path] = (int(info.frames), int(info.samplerate))
        return self._info[wav_path]

    def _read(self, wav_path, start, stop):
        """Read frames ``[start, stop)`` of a file as mono float32."""
        data, _ = soundfile.read(
            wav_path,
            start=start,
            frames=stop - start,
            dtype="float32",
            always_2d=True,
        )
        return torch.from_numpy(data).mean(dim=1)

    def _read_segment(self, wav_path, offset_draw, length):
        """Read ``length`` samples at ``sample_rate`` from a drawn offset.

        The offset (in samples at ``sample_rate``) is ``offset_draw``
        modulo the number of possible offsets. A file shorter than
        ``length`` is read whole, rotated by the offset and looped. An
        empty file gives silence (which the RMS floor then rejects).
        """
        frames, rate = self._file_info(wav_path)
        if frames == 0:
            return torch.zeros(length)
        target = self.sample_rate
        gcd = math.gcd(rate, target)
        block_in, block_out = rate // gcd, target // gcd
        # Length of the whole file at the target rate (as resample gives).
        n_samples = -(-frames * block_out // block_in)
        if n_samples < length:
            noise = self._read(wav_path, 0, frames)
            if rate != target:
                noise = torchaudio.functional.resample(noise, rate, target)
            offset = offset_draw % noise.shape[0]
            return _tile(torch.roll(noise, -offset), length)
        offset = offset_draw % (n_samples - length + 1)
        if rate == target:
            return self._read(wav_path, offset, offset + length)
        # The resampler maps each block of block_in input frames to
        # block_out output samples, with a filter reaching `width` frames
        # beyond the block. Reading whole blocks plus that margin gives the
        # same samples as resampling the whole file.
        width = math.ceil(6 * block_in / (0.99 * min(block_in, block_out)))
        first_block = offset // block_out
        last_block = (offset + length - 1) // block_out
        # The chunk starts on a block boundary, whole blocks early enough.
        first_block -= -(-(width + 1) // block_in)
        start = max(0, first_block * block_in)
        stop = min(frames, (last_block + 1) * block_in + width + 1)
        chunk = self._read(wav_path, start, stop)
        resampled = torchaudio.functional.resample(chunk, rate, target)
        skip = offset - (start // block_in) * block_out
        return resampled[skip : skip + length].contiguous()
