"""Shared preparation checks: short audio, intact outputs, lock, arguments."""

import builtins
import errno
import functools
import io
import json
import logging
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from speechbrain_ext.dataio import preparation
from speechbrain_ext.dataio.emodb_prepare import prepare_emodb
from speechbrain_ext.dataio.iemocap_prepare import prepare_iemocap
from speechbrain_ext.dataio.librispeech_prepare import prepare_librispeech
from speechbrain_ext.dataio.musan_prepare import prepare_musan
from speechbrain_ext.recipe.data import check_recipe_folders
from tests.file_checks import tree_hashes
from tests.fixtures_corpora import (
    iemocap_paths,
    make_emodb,
    make_iemocap,
    make_librispeech,
    make_musan,
    write_wav,
)

# {relative path: (sha256, modification time)} of every file
tree_state = functools.partial(tree_hashes, stat=("st_mtime_ns",))

ROOT = pathlib.Path(__file__).resolve().parents[2]


def write(path, samples, sample_rate=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.asarray(samples, dtype="float32"), sample_rate)
    return path


@pytest.mark.parametrize("n", [0, 10, 399, 1599])
def test_audio_duration_refuses_short_files_by_name(tmp_path, n):
    path = write(str(tmp_path / "short.wav"), 0.1 * np.ones(n))
    with pytest.raises(ValueError) as error:
        preparation.audio_duration(path, "IEMOCAP")
    message = str(error.value)
    assert path in message
    assert f"{n} samples" in message and "too short" in message
    assert "1600" in message


def test_audio_duration_accepts_minimum(tmp_path):
    path = write(str(tmp_path / "ok.wav"), 0.1 * np.ones(1600))
    assert preparation.audio_duration(path, "IEMOCAP") == 1600 / 16000
    assert preparation.audio_duration(path, "x", min_samples=0) > 0


def test_audio_durations_lists_every_short_file(tmp_path):
    paths = [
        write(str(tmp_path / f"{i}.wav"), 0.1 * np.ones(n))
        for i, n in enumerate([0, 2000, 10])
    ]
    with pytest.raises(ValueError) as error:
        preparation.audio_durations(paths, "Emo-DB")
    message = str(error.value)
    assert "2 Emo-DB audio files are too short" in message
    assert paths[0] in message and paths[2] in message
    assert paths[1] not in message


def test_audio_level_reads_in_blocks(tmp_path, monkeypatch):
    signal = np.zeros(10000)
    signal[7000:] = 0.5
    path = write(str(tmp_path / "a.wav"), signal)
    sizes = []
    blocks = sf.blocks

    def spy(*args, **kwargs):
        sizes.append(kwargs["blocksize"])
        return blocks(*args, **kwargs)

    def whole(*args, **kwargs):
        raise AssertionError("a whole file was read")

    monkeypatch.setattr(sf, "blocks", spy)
    monkeypatch.setattr(sf, "read", whole)
    rms, peak = preparation.audio_level(path, block_size=1024)
    assert sizes == [1024]
    assert peak == pytest.approx(0.5)
    assert rms == pytest.approx(0.5 * np.sqrt(0.3), rel=1e-4)
    assert preparation.audio_level(write(path, np.zeros(0))) == (0.0, 0.0)


def test_is_prepared_rejects_truncated_json(tmp_path, caplog):
    options = {"prepare": "demo", "fold": 1}
    folder = str(tmp_path)
    manifest = os.path.join(folder, "train.json")
    preparation.write_json(manifest, {"utt": {"wav": "/a.wav"}})
    preparation.write_options(folder, options, [manifest])
    assert preparation.is_prepared(folder, options, [manifest])
    with open(manifest, encoding="utf-8") as f:
        text = f.read()
    with open(manifest, "w", encoding="utf-8") as f:
        f.write(text[: len(text) // 2])
    with caplog.at_level(logging.WARNING):
        assert not preparation.is_prepared(folder, options, [manifest])
    assert manifest in caplog.text


@pytest.mark.parametrize("content", ["", "utt1,0.5,/a.wav,wav,\n"])
def test_is_prepared_rejects_csv_without_header(tmp_path, caplog, content):
    options = {"prepare": "demo"}
    folder = str(tmp_path)
    table = os.path.join(folder, "noise_train.csv")
    with open(table, "w", encoding="utf-8") as f:
        f.write("ID,duration,wav,wav_format,wav_opts\n" + content)
    preparation.write_options(folder, options, [table])
    assert preparation.is_prepared(folder, options, [table])
    with open(table, "w", encoding="utf-8") as f:
        f.write(content)
    with caplog.at_level(logging.WARNING):
        assert not preparation.is_prepared(folder, options, [table])
    assert table in caplog.text


def test_write_json_is_atomic(tmp_path):
    path = str(tmp_path / "a.json")
    preparation.write_json(path, {"old": 1})
    with pytest.raises(TypeError):
        preparation.write_json(path, {"new": object()})
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"old": 1}
    assert os.listdir(tmp_path) == ["a.json"]


def test_lock_released_and_new_folder_removed_on_error(tmp_path):
    save = str(tmp_path / "new" / "prepared")
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(RuntimeError):
        with preparation.prepare_lock(save):
            assert os.path.isfile(os.path.join(save, preparation.LOCK_FILE))
            raise RuntimeError("failed preparation")
    assert not os.path.exists(save)
    assert len(os.listdir("/proc/self/fd")) == fds
    os.makedirs(save)
    with pytest.raises(RuntimeError):
        with preparation.prepare_lock(save):
            raise RuntimeError("failed preparation")
    assert os.path.isdir(save) and os.listdir(save) == []


LOCKER = """
import logging, sys, time
from speechbrain_ext.dataio.preparation import prepare_lock
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
save, counter, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    with prepare_lock(save):
        with open(counter) as f:
            count = int(f.read())
        time.sleep(0.01)
        with open(counter, "w") as f:
            f.write(str(count + 1))
"""


def _locker(save, counter, rounds):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(save), str(counter), str(rounds)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_lock_excludes_concurrent_preparations(tmp_path):
    """Three processes take the lock 10 times each and increment a counter
    under it: no increment is lost, although every release removes the
    lock file that the others wait on."""
    save, counter = tmp_path / "save", tmp_path / "count.txt"
    counter.write_text("0")
    workers = [_locker(save, counter, 10) for _ in range(3)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    assert counter.read_text() == "30"
    assert os.listdir(save) == []


def test_second_preparation_waits_with_a_log_line(tmp_path):
    save, counter = str(tmp_path / "save"), tmp_path / "count.txt"
    counter.write_text("0")
    with preparation.prepare_lock(save):
        worker = _locker(save, counter, 1)
        line = worker.stderr.readline()
        assert f"waiting for another preparation writing to {save}" in line
        assert worker.poll() is None and counter.read_text() == "0"
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    assert counter.read_text() == "1"
    assert os.listdir(save) == []


def test_normalize_unicode():
    plain = preparation.normalize_unicode("HELLO CAFE")
    assert preparation.normalize_unicode("ＨＥＬＬＯ café").upper() == plain
    assert preparation.normalize_unicode("cafe\u0301").upper() == "CAFE"


# Every preparation, called on its tiny corpus.
def _iemocap(root, save):
    data, _ = make_iemocap(root)
    return data, lambda d=data, s=save: prepare_iemocap(
        d, s, check_counts=False
    )


def _musan(root, save):
    data = make_musan(root)
    return data, lambda d=data, s=save: prepare_musan(d, s)


def _emodb(root, save):
    data, _ = make_emodb(root)
    return data, lambda d=data, s=save: prepare_emodb(d, s)


def _librispeech(root, save):
    data, _ = make_librispeech(root)
    return data, lambda d=data, s=save: prepare_librispeech(
        d, s, ["train-clean-100", "dev-clean"]
    )


PREPARATIONS = {
    "iemocap": _iemocap,
    "musan": _musan,
    "emodb": _emodb,
    "librispeech": _librispeech,
}
# An audio file that each preparation reads, in its corpus folder.
AUDIO = {
    "iemocap": lambda data: iemocap_paths(data, "Ses01F_impro01_F000")["wav"],
    "musan": lambda data: os.path.join(
        data, "noise", "free-sound", "noise-free-sound-0000.wav"
    ),
    "emodb": lambda data: os.path.join(data, "wav", "03a01Fa.wav"),
    "librispeech": lambda data: os.path.join(
        data, "train-clean-100", "19", "198", "19-198-0000.flac"
    ),
}


@pytest.fixture
def no_audio_reading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("audio was read before the arguments were checked")

    monkeypatch.setattr(sf, "info", refuse)
    monkeypatch.setattr(sf, "blocks", refuse)


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_save_folder_is_a_file(tmp_path, name, no_audio_reading):
    save = tmp_path / "out"
    save.write_text("not a folder")
    _, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    with pytest.raises(NotADirectoryError) as error:
        prepare()
    assert str(error.value) == f"save_folder {save} is a file, not a folder"
    assert save.read_text() == "not a folder"


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_data_folder_missing_or_a_file(tmp_path, name, no_audio_reading):
    _, prepare = PREPARATIONS[name](tmp_path / "data", str(tmp_path / "out"))
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as error:
        prepare(missing)
    assert str(error.value) == f"data_folder {missing} does not exist"
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    with pytest.raises(NotADirectoryError) as error:
        prepare(str(a_file))
    assert str(error.value) == f"data_folder {a_file} is a file, not a folder"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_broken_output_is_prepared_again(tmp_path, name, caplog):
    save = tmp_path / "out"
    _, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    paths = prepare()
    outputs = paths.values() if name != "musan" else paths["noise"].values()
    broken = sorted(outputs)[0]
    with open(broken, encoding="utf-8") as f:
        good = f.read()
    with open(broken, "w", encoding="utf-8") as f:
        # Half a manifest, or a csv file cut before the end of its header.
        f.write(good[: len(good) // 2] if name != "musan" else good[:10])
    with caplog.at_level(logging.INFO):
        assert prepare() == paths
    assert broken in caplog.text
    assert "skipping" not in caplog.text
    with open(broken, encoding="utf-8") as f:
        assert f.read() == good
    assert sorted(os.listdir(save)) == sorted(
        [os.path.basename(p) for p in _all_outputs(paths)]
        + ["prepare_options.json"]
    )


def _all_outputs(paths):
    for value in paths.values():
        if isinstance(value, dict):
            yield from value.values()
        else:
            yield value


def read_outputs(paths):
    texts = {}
    for path in _all_outputs(paths):
        with open(path, encoding="utf-8") as f:
            texts[os.path.basename(path)] = f.read()
    return texts


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_non_finite_audio_refused_by_name(tmp_path, name, bad):
    save = tmp_path / "out"
    data, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    audio = AUDIO[name](data)
    signal = np.full(2000, 0.1)
    signal[700] = bad
    # Float samples; a flac file cannot hold them, but soundfile reads a
    # file by its content, so a float wav stream under a .flac name is read.
    sf.write(audio, signal, 16000, format="WAV", subtype="FLOAT")
    corpus = tree_state(data)
    with pytest.raises(ValueError) as error:
        prepare()
    assert str(error.value).startswith(
        f"{os.path.abspath(audio)} holds non-finite samples (NaN or "
        "infinity): 1, the first at frame 700;"
    )
    assert not save.exists()
    assert tree_state(data) == corpus


def test_audio_level_refuses_non_finite_audio(tmp_path):
    path = str(tmp_path / "nan.wav")
    sf.write(path, np.full(2000, np.nan), 16000, subtype="FLOAT")
    with pytest.raises(ValueError) as error:
        preparation.audio_level(path, block_size=512)
    assert str(error.value) == (
        f"{path} holds non-finite samples (NaN or infinity): 2000, the "
        "first at frame 0"
    )


@pytest.fixture
def read_only(monkeypatch):
    """Makes writes inside the given folders fail as on a read-only disk."""
    folders = []

    def inside(path):
        if isinstance(path, int):
            return False
        real = os.path.realpath(os.fspath(path))
        return any(real == f or real.startswith(f + os.sep) for f in folders)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def fake_open(file, mode="r", *args, **kwargs):
        if inside(file) and set(mode) & set("wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & writing:
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if inside(path):
            if os.path.exists(path):
                raise FileExistsError(errno.EEXIST, "File exists", path)
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def guard(real):
        def fake(path, *args, **kwargs):
            if inside(path):
                refuse(path)
            return real(path, *args, **kwargs)

        return fake

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    for name in ("remove", "unlink", "rmdir", "replace", "rename", "utime"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    return lambda folder: folders.append(os.path.realpath(folder))


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_read_only_complete_preparation_is_reused(
    tmp_path, name, read_only, caplog
):
    save = tmp_path / "out"
    _, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    paths = prepare()
    before = tree_state(save)
    read_only(save)
    with caplog.at_level(logging.INFO):
        assert prepare() == paths
    assert f"{save} cannot be written" in caplog.text
    assert "skipping preparation" in caplog.text
    assert tree_state(save) == before


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_read_only_incomplete_preparation_is_refused(tmp_path, name, read_only):
    save = tmp_path / "out"
    _, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    paths = prepare()
    os.remove(sorted(_all_outputs(paths))[0])
    before = tree_state(save)
    read_only(save)
    with pytest.raises(PermissionError) as error:
        prepare()
    assert str(error.value).startswith(
        f"save_folder {save} cannot be written (Read-only file system) and "
        "holds no complete preparation with these options"
    )
    assert tree_state(save) == before


def test_temporary_files_carry_prefix_and_pid(tmp_path):
    path = str(tmp_path / "a.json")
    with preparation.atomic_write(path) as f:
        f.write("{}")
        (name,) = os.listdir(tmp_path)
    pattern = rf"\.prepare-tmp-{os.getpid()}-[0-9a-f]{{32}}-a\.json\.tmp"
    assert re.fullmatch(pattern, name)
    assert os.listdir(tmp_path) == ["a.json"]


KILLED_WRITER = """
import os, sys
from speechbrain_ext.dataio.preparation import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write("half a manifest")
    f.flush()
    os._exit(9)
"""


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_stale_temporary_files_removed_in_save_folder_only(tmp_path, name):
    save = tmp_path / "out"
    data, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    paths = prepare()
    output = sorted(_all_outputs(paths))[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, output], env=env
    )
    assert killed.returncode == 9
    (stale,) = [n for n in os.listdir(save) if n.startswith(".prepare-tmp-")]
    # The temporary file of a running writer, a user's files that look
    # alike, and the same name inside the corpus all stay.
    live = f".prepare-tmp-{os.getpid()}-{'b' * 32}-train.json.tmp"
    kept = [live, ".train.json.1234.tmp", stale[: -len(".tmp")]]
    for name in kept:
        (save / name).write_text("keep")
    (pathlib.Path(data) / stale).write_text("corpus file")
    corpus = tree_state(data)
    assert prepare() == paths
    assert sorted(os.listdir(save)) == sorted(
        kept
        + [os.path.basename(p) for p in _all_outputs(paths)]
        + ["prepare_options.json"]
    )
    assert tree_state(data) == corpus


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_changed_corpus_is_prepared_again(tmp_path, name, caplog):
    save = tmp_path / "out"
    data, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    before = read_outputs(prepare())
    audio = AUDIO[name](data)
    flac = "FLAC" if audio.endswith(".flac") else None
    write_wav(audio, seconds=0.25, seed=7, file_format=flac)
    with caplog.at_level(logging.INFO):
        after = read_outputs(prepare())
    assert "the corpus files changed since the preparation" in caplog.text
    assert "skipping" not in caplog.text
    assert after != before
    assert after == read_outputs(prepare(s=str(tmp_path / "fresh")))


@pytest.mark.parametrize("name", sorted(PREPARATIONS))
def test_output_that_lost_entries_is_prepared_again(tmp_path, name, caplog):
    save = tmp_path / "out"
    _, prepare = PREPARATIONS[name](tmp_path / "data", str(save))
    paths = prepare()
    # An output of several entries, cut at a line boundary (csv) or
    # rewritten without its last entry (JSON): both still parse.
    output = [p for p in _all_outputs(paths) if "train" in p][0]
    with open(output, encoding="utf-8") as f:
        good = f.read()
    if output.endswith(".csv"):
        lines = good.splitlines(keepends=True)
        assert len(lines) > 2
        cut = "".join(lines[:-1])
        remaining = len(lines) - 2
    else:
        entries = json.loads(good)
        assert len(entries) > 1
        entries.pop(sorted(entries)[-1])
        cut = json.dumps(entries, indent=2) + "\n"
        remaining = len(entries)
    with open(output, "w", encoding="utf-8") as f:
        f.write(cut)
    with caplog.at_level(logging.INFO):
        assert prepare() == paths
    assert "skipping" not in caplog.text
    assert f"{output} holds {remaining} entries, not the" in caplog.text
    with open(output, encoding="utf-8") as f:
        assert f.read() == good


RECIPES = [
    ("EmoDB/emotion_recognition/LSTM", "lstm.yaml"),
    ("IEMOCAP/ASR_SER/A2W_attention", "audio_baseline.yaml"),
    ("IEMOCAP/ASR_SER/hierarchical_coattention", "ser_baseline.yaml"),
    ("IEMOCAP/ASR_SER/wav2vec2_CTC_BERT", "ser_baseline.yaml"),
    ("IEMOCAP/emotion_recognition/residual_BLSTM_Etransformer", "train.yaml"),
    ("LibriSpeech/ASR/A2W", "train.yaml"),
]
RUN_RECIPES = """
import json, os, runpy, sys
corpus, musan = sys.argv[1], sys.argv[2]
for folder, hparams in json.loads(sys.argv[3]):
    os.chdir(folder)
    sys.path.insert(0, folder)
    sys.argv = ["train.py", "hparams/" + hparams, "--data_folder=" + corpus,
                "--output_folder=" + corpus + "/res",
                "--musan_folder=" + musan]
    try:
        runpy.run_path("train.py", run_name="__main__")
        print("no error")
    except ValueError as error:
        print(error)
    sys.path.pop(0)
"""


def test_recipes_refuse_output_folder_in_corpus_before_writing(tmp_path):
    corpus = tmp_path / "corpus"
    musan = tmp_path / "musan"
    corpus.mkdir()
    musan.mkdir()
    recipes = [(str(ROOT / "recipes" / f), h) for f, h in RECIPES]
    result = subprocess.run(
        [sys.executable, "-c", RUN_RECIPES, str(corpus), str(musan)]
        + [json.dumps(recipes)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    message = (
        f"output_folder {corpus}/res is inside data_folder {corpus}; choose "
        "a folder outside the corpus, which is only read"
    )
    assert result.stdout.splitlines() == [message] * len(RECIPES), (
        result.stderr[-3000:]
    )
    assert os.listdir(corpus) == [] and os.listdir(musan) == []


def test_check_recipe_folders_names_the_noise_corpus(tmp_path):
    hparams = ROOT / "recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT/hparams"
    overrides = {
        "data_folder": str(tmp_path / "IEMOCAP_full_release"),
        "musan_folder": str(tmp_path / "musan"),
        "output_folder": str(tmp_path / "musan" / "results"),
    }
    with pytest.raises(ValueError) as error:
        check_recipe_folders(str(hparams / "joint.yaml"), overrides)
    assert str(error.value).startswith(
        f"output_folder {tmp_path}/musan/results is inside data_folder "
        f"{tmp_path}/musan;"
    )
    check_recipe_folders(
        str(hparams / "joint.yaml"), {**overrides, "skip_prep": True}
    )
    overrides["output_folder"] = str(tmp_path / "results")
    check_recipe_folders(str(hparams / "joint.yaml"), overrides)
    assert sorted(os.listdir(tmp_path)) == []


def test_librispeech_recipe_never_overwrites_a_users_training_manifest(
    tmp_path,
):
    """--train_annotation outside prep_folder with skip_prep False: refused
    before anything is written, the user's manifest byte-identical."""
    corpus = tmp_path / "LibriSpeech"
    corpus.mkdir()
    mine = tmp_path / "my_train.json"
    mine.write_text('{"u1": {"wav": "a.flac", "wrd": "HELLO"}}\n')
    before = mine.read_bytes()
    recipe = ROOT / "recipes" / "LibriSpeech" / "ASR" / "A2W"
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "hparams/train.yaml",
            f"--data_folder={corpus}",
            f"--musan_folder={tmp_path / 'musan'}",
            f"--output_folder={tmp_path / 'out'}",
            f"--train_annotation={mine}",
        ],
        cwd=recipe,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    prep = tmp_path / "out" / "prepared"
    assert (
        f"ValueError: train_annotation {mine} is outside prep_folder {prep}"
        in result.stderr
    )
    assert mine.read_bytes() == before
    assert not (tmp_path / "out").exists()
