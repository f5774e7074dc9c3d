import csv
import functools
import logging
import os

import pytest

from speechbrain_ext.dataio.musan_prepare import (
    list_category_files,
    main,
    prepare_musan,
    split_pool,
)
from tests.file_checks import tree_hashes
from tests.fixtures_corpora import make_musan, write_wav

# {relative path: (sha256 or "dir", modification time)}
snapshot = functools.partial(tree_hashes, stat=("st_mtime_ns",), folders=True)


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_pools_disjoint_complete_and_format(tmp_path):
    musan = make_musan(tmp_path / "data")
    paths = prepare_musan(musan, str(tmp_path / "out"))
    assert set(paths) == {"noise", "music", "speech"}
    expected_test = {"noise": 1, "music": 1, "speech": 1}
    for category, pools in paths.items():
        files = list_category_files(musan, category)
        rows = {}
        for pool in ("train", "test"):
            assert pools[pool] == str(
                tmp_path / "out" / f"{category}_{pool}.csv"
            )
            table = read_csv(pools[pool])
            assert table[0] == [
                "ID",
                "duration",
                "wav",
                "wav_format",
                "wav_opts",
            ]
            for row in table[1:]:
                assert len(row) == 5
                assert os.path.isabs(row[2]) and os.path.isfile(row[2])
                assert row[3] == "wav" and row[4] == ""
            rows[pool] = table[1:]
        train = {row[2] for row in rows["train"]}
        test = {row[2] for row in rows["test"]}
        assert not train & test
        assert train | test == set(files)
        assert len(test) == expected_test[category]
        ids = [row[0] for row in rows["train"] + rows["test"]]
        assert len(set(ids)) == len(ids)
    # Durations are those of the files (0.12 s + 0.01 s per index).
    for row in read_csv(paths["noise"]["train"])[1:]:
        index = int(row[2][-8:-4])
        assert float(row[1]) == pytest.approx(0.12 + 0.01 * index)


def test_folder_untouched(tmp_path):
    musan = make_musan(tmp_path / "data")
    before = snapshot(musan)
    prepare_musan(os.path.dirname(musan), str(tmp_path / "out"))
    prepare_musan(musan, str(tmp_path / "out2"), test_share=0.5, seed=3)
    assert snapshot(musan) == before


def test_split_independent_of_order_and_seeded():
    files = [f"/m/noise/s/f{i:02d}.wav" for i in range(20)]
    train, test = split_pool(files, test_share=0.25, seed=5)
    assert len(test) == 5 and len(train) == 15
    assert split_pool(list(reversed(files)), 0.25, seed=5) == (train, test)
    assert split_pool(files, 0.25, seed=6)[1] != test
    assert split_pool(files[:2], 0.01, seed=0)[1] != []
    assert len(split_pool(files[:2], 0.99, seed=0)[0]) == 1


def test_test_share(tmp_path):
    musan = make_musan(tmp_path / "data", counts={"noise": 10})
    paths = prepare_musan(
        musan, str(tmp_path / "out"), categories=["noise"], test_share=0.3
    )
    assert len(read_csv(paths["noise"]["test"])) - 1 == 3
    assert len(read_csv(paths["noise"]["train"])) - 1 == 7
    with pytest.raises(ValueError, match="test_share"):
        prepare_musan(musan, str(tmp_path / "x"), test_share=1.0)


def test_idempotent(tmp_path, caplog):
    musan = make_musan(tmp_path / "data")
    save = tmp_path / "out"
    paths = prepare_musan(musan, str(save))
    files = [p for pools in paths.values() for p in pools.values()]
    files.append(str(save / "prepare_options.json"))
    for path in files:
        os.utime(path, ns=(10**18, 10**18))
    with caplog.at_level(logging.INFO):
        assert prepare_musan(musan, str(save)) == paths
    assert "skipping" in caplog.text
    assert all(os.stat(p).st_mtime_ns == 10**18 for p in files)
    prepare_musan(musan, str(save), seed=99)
    assert all(os.stat(p).st_mtime_ns != 10**18 for p in files)


def test_too_few_files(tmp_path):
    musan = make_musan(tmp_path / "data", counts={"noise": 3, "music": 1})
    with pytest.raises(ValueError) as error:
        prepare_musan(
            musan, str(tmp_path / "out"), categories=["noise", "music"]
        )
    assert os.path.join(musan, "music") in str(error.value)
    assert not (tmp_path / "out").exists()


def test_missing_category(tmp_path):
    musan = make_musan(tmp_path / "data", counts={"noise": 3})
    with pytest.raises(FileNotFoundError) as error:
        prepare_musan(musan, str(tmp_path / "out"))
    assert os.path.join(musan, "music") in str(error.value)
    assert "musan/{music,noise,speech}" in str(error.value)


@pytest.mark.parametrize("bad", ["rate", "unreadable"])
def test_bad_file(tmp_path, bad):
    musan = make_musan(tmp_path / "data", counts={"noise": 3})
    path = os.path.join(musan, "noise", "free-sound", "broken.wav")
    if bad == "rate":
        write_wav(path, sample_rate=44100)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"RIFF garbage")
    with pytest.raises(ValueError) as error:
        prepare_musan(musan, str(tmp_path / "out"), categories=["noise"])
    assert path in str(error.value)
    if bad == "rate":
        assert "44100" in str(error.value)


def test_save_folder_inside_data(tmp_path):
    musan = make_musan(tmp_path / "data")
    before = snapshot(musan)
    with pytest.raises(ValueError, match="inside data_folder"):
        prepare_musan(musan, os.path.join(musan, "lists"))
    assert snapshot(musan) == before


def test_cli(tmp_path):
    musan = make_musan(tmp_path / "data")
    paths = main(
        [
            "--data_folder",
            musan,
            "--save_folder",
            str(tmp_path / "out"),
            "--categories",
            "speech",
            "--test_share",
            "0.5",
        ]
    )
    assert set(paths) == {"speech"}
    rows = (
        read_csv(paths["speech"]["test"])[1:]
        + read_csv(paths["speech"]["train"])[1:]
    )
    assert len(rows) == 3


def test_silent_and_empty_files_left_out(tmp_path, caplog, monkeypatch):
    import numpy as np
    import soundfile as sf

    musan = make_musan(tmp_path / "data", counts={"noise": 5})
    folder = os.path.join(musan, "noise", "free-sound")
    rng = np.random.default_rng(0)
    signals = {
        "zeros.wav": np.zeros(16000),
        "quiet.wav": 1e-5 * rng.standard_normal(16000),
        "empty.wav": np.zeros(0),
        "short.wav": 0.1 * rng.standard_normal(10),
        # Silent for its first 70%, loud after: kept.
        "late.wav": np.concatenate(
            [np.zeros(11200), 0.05 * rng.standard_normal(4800)]
        ),
    }
    for name, signal in signals.items():
        sf.write(os.path.join(folder, name), signal, 16000, subtype="FLOAT")

    def whole(*args, **kwargs):
        raise AssertionError("a whole noise file was read")

    monkeypatch.setattr(sf, "read", whole)
    with caplog.at_level(logging.WARNING):
        paths = prepare_musan(musan, str(tmp_path / "out"), ["noise"])
    rows = read_csv(paths["noise"]["train"])[1:]
    rows += read_csv(paths["noise"]["test"])[1:]
    used = {os.path.basename(row[2]) for row in rows}
    assert "late.wav" in used
    assert len(used) == 6
    assert not used & {"zeros.wav", "quiet.wav", "empty.wav", "short.wav"}
    message = [r.getMessage() for r in caplog.records if "left out" in r.msg]
    assert len(message) == 1
    assert message[0].startswith("4 MUSAN files are left out")
    for name, reason in [
        ("zeros.wav", "silent (all samples are zero)"),
        ("quiet.wav", "silent (RMS 1.0e-05 below min_rms 0.0001)"),
        ("empty.wav", "too short (0 samples"),
        ("short.wav", "too short (10 samples"),
    ]:
        assert f"{os.path.join(folder, name)}: {reason}" in message[0]
    assert "late.wav" not in message[0]


def test_too_few_usable_files(tmp_path):
    import numpy as np
    import soundfile as sf

    musan = make_musan(tmp_path / "data", counts={"noise": 1})
    silent = os.path.join(musan, "noise", "free-sound", "zeros.wav")
    sf.write(silent, np.zeros(8000), 16000)
    with pytest.raises(ValueError) as error:
        prepare_musan(musan, str(tmp_path / "out"), categories=["noise"])
    assert "1 usable wav file(s)" in str(error.value)
    assert silent in str(error.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"test_share": float("nan")}, "test_share"),
        ({"min_rms": -1}, "min_rms"),
    ],
)
def test_bad_arguments_named(tmp_path, kwargs, argument):
    musan = make_musan(tmp_path / "data")
    with pytest.raises(ValueError, match=argument):
        prepare_musan(musan, str(tmp_path / "out"), **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["all_nan", "one_nan"])
def test_non_finite_noise_file_refused_by_name(tmp_path, kind):
    import numpy as np
    import soundfile as sf

    musan = make_musan(tmp_path / "data", counts={"noise": 5})
    path = os.path.join(musan, "noise", "free-sound", "nan.wav")
    # One NaN gives a NaN RMS, which "rms < min_rms" lets through; an
    # all-NaN file has a peak of NaN, not of zero.
    signal = 0.05 * np.random.default_rng(0).standard_normal(8000)
    signal[100] = np.nan
    if kind == "all_nan":
        signal[:] = np.nan
    sf.write(path, signal, 16000, subtype="FLOAT")
    with pytest.raises(ValueError) as error:
        prepare_musan(musan, str(tmp_path / "out"), ["noise"])
    count = 8000 if kind == "all_nan" else 1
    first = 0 if kind == "all_nan" else 100
    assert str(error.value).startswith(
        f"{path} holds non-finite samples (NaN or infinity): {count}, the "
        f"first at frame {first}; MUSAN preparation refuses such audio"
    )
    assert "zero" not in str(error.value)
    assert not (tmp_path / "out").exists()
