"""Shared preparation checks: short audio, intact outputs, lock, arguments."""

import json
import logging
import os

import numpy as np
import pytest
import soundfile as sf

from speechbrain_ext.dataio import preparation
from speechbrain_ext.dataio.emodb_prepare import prepare_emodb
from speechbrain_ext.dataio.iemocap_prepare import prepare_iemocap
from speechbrain_ext.dataio.librispeech_prepare import prepare_librispeech
from speechbrain_ext.dataio.musan_prepare import prepare_musan
from tests.fixtures_corpora import (
    make_emodb,
    make_iemocap,
    make_librispeech,
    make_musan,
)


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


def test_normalize_unicode():
    plain = preparation.normalize_unicode("HELLO CAFE")
    assert preparation.normalize_unicode("ＨＥＬＬＯ café").upper() == plain
    assert preparation.normalize_unicode("cafe\u0301").upper() == "CAFE"


# Every preparation, called on its tiny corpus.
def _iemocap(root, save):
    data, _ = make_iemocap(root)
    return data, lambda d=data: prepare_iemocap(d, save, check_counts=False)


def _musan(root, save):
    data = make_musan(root)
    return data, lambda d=data: prepare_musan(d, save)


def _emodb(root, save):
    data, _ = make_emodb(root)
    return data, lambda d=data: prepare_emodb(d, save)


def _librispeech(root, save):
    data, _ = make_librispeech(root)
    return data, lambda d=data: prepare_librispeech(
        d, save, ["train-clean-100", "dev-clean"]
    )


PREPARATIONS = {
    "iemocap": _iemocap,
    "musan": _musan,
    "emodb": _emodb,
    "librispeech": _librispeech,
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
