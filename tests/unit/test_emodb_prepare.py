import collections
import json
import logging
import os

import pytest

from speechbrain_ext.dataio.emodb_prepare import (
    fold_speakers,
    main,
    parse_emodb_name,
    prepare_emodb,
    speaker_split,
)
from tests.file_checks import load_json
from tests.fixtures_corpora import EMODB_SPEAKERS, make_emodb, write_wav


@pytest.fixture
def corpus(tmp_path):
    return make_emodb(tmp_path / "data")


def test_parse_names():
    assert parse_emodb_name("03a01Fa.wav") == {
        "spk_id": "03",
        "text_id": "a01",
        "emo": "hap",
        "version": "a",
    }
    letters = {"W": "ang", "L": "bor", "E": "dis", "A": "fea"}
    letters.update({"F": "hap", "T": "sad", "N": "neu"})
    for letter, emo in letters.items():
        assert parse_emodb_name(f"/x/wav/12b09{letter}c.wav")["emo"] == emo


def test_manifest_entries(corpus, tmp_path):
    data_folder, expected = corpus
    paths = prepare_emodb(data_folder, str(tmp_path / "out"))
    manifest = load_json(paths["all"])
    assert set(manifest) == set(expected)
    assert len(manifest) == 5 * 15
    for utt_id, entry in manifest.items():
        assert set(entry) == {"wav", "duration", "spk_id", "emo", "text_id"}
        assert entry["spk_id"] == expected[utt_id]["spk_id"]
        assert entry["emo"] == expected[utt_id]["emo"]
        assert entry["text_id"] == expected[utt_id]["text_id"]
        assert entry["wav"] == os.path.abspath(
            os.path.join(data_folder, "wav", utt_id + ".wav")
        )
        assert entry["duration"] == pytest.approx(0.12)
    counts = collections.Counter(e["emo"] for e in manifest.values())
    assert counts["ang"] == 15 and counts["neu"] == 10
    assert manifest["03a01Fa"]["emo"] == "hap"
    assert manifest["08b02La"]["emo"] == "bor"


def test_folds(corpus, tmp_path):
    data_folder, _ = corpus
    speakers = sorted(EMODB_SPEAKERS)
    tested = []
    for fold in range(1, len(speakers) + 1):
        paths = prepare_emodb(
            data_folder, str(tmp_path / f"f{fold}"), fold=fold
        )
        splits = {n: load_json(paths[n]) for n in ("train", "valid", "test")}
        spk = {n: {e["spk_id"] for e in s.values()} for n, s in splits.items()}
        assert spk["test"] == {speakers[fold - 1]}
        assert spk["valid"] == {speakers[fold % len(speakers)]}
        assert spk["train"] == set(speakers) - spk["test"] - spk["valid"]
        ids = [set(s) for s in splits.values()]
        assert sum(len(i) for i in ids) == len(load_json(paths["all"]))
        assert set().union(*ids) == set(load_json(paths["all"]))
        tested.append(set(splits["test"]))
    assert sum(len(t) for t in tested) == 75
    assert len(set().union(*tested)) == 75
    with pytest.raises(ValueError, match="fold 6"):
        prepare_emodb(data_folder, str(tmp_path / "bad"), fold=6)


def test_valid_speaker(corpus, tmp_path):
    data_folder, _ = corpus
    paths = prepare_emodb(
        data_folder, str(tmp_path / "out"), fold=2, valid_speaker="11"
    )
    assert {e["spk_id"] for e in load_json(paths["valid"]).values()} == {"11"}
    assert fold_speakers(["09", "03", "08"], 3) == ("09", "03")
    with pytest.raises(ValueError, match="test speaker"):
        fold_speakers(["03", "08", "09"], 1, valid_speaker="03")
    with pytest.raises(ValueError, match="'42'"):
        fold_speakers(["03", "08", "09"], 1, valid_speaker="42")


@pytest.mark.parametrize(
    "name, message",
    [
        ("03a01Xa.wav", "unknown Emo-DB emotion letter 'X'"),
        ("3a01Fa.wav", "not an Emo-DB file name"),
    ],
)
def test_bad_names(corpus, tmp_path, name, message):
    data_folder, _ = corpus
    path = write_wav(os.path.join(data_folder, "wav", name))
    with pytest.raises(ValueError) as error:
        prepare_emodb(data_folder, str(tmp_path / "out"))
    assert os.path.abspath(path) in str(error.value)
    assert message in str(error.value)


def test_non_16k(corpus, tmp_path):
    data_folder, _ = corpus
    path = write_wav(
        os.path.join(data_folder, "wav", "03a01Fa.wav"), sample_rate=22050
    )
    with pytest.raises(ValueError) as error:
        prepare_emodb(data_folder, str(tmp_path / "out"))
    assert os.path.abspath(path) in str(error.value)
    assert "22050" in str(error.value)


def test_wrong_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as error:
        prepare_emodb(str(empty), str(tmp_path / "out"))
    assert os.path.join(str(empty), "wav") in str(error.value)


def test_idempotent(corpus, tmp_path, caplog):
    data_folder, _ = corpus
    save = tmp_path / "out"
    paths = prepare_emodb(data_folder, str(save), fold=1)
    files = list(paths.values()) + [str(save / "prepare_options.json")]
    for path in files:
        os.utime(path, ns=(10**18, 10**18))
    with caplog.at_level(logging.INFO):
        assert prepare_emodb(data_folder, str(save), fold=1) == paths
    assert "skipping" in caplog.text
    assert all(os.stat(p).st_mtime_ns == 10**18 for p in files)
    prepare_emodb(data_folder, str(save), fold=4)
    assert all(os.stat(p).st_mtime_ns != 10**18 for p in files)
    assert {e["spk_id"] for e in load_json(paths["test"]).values()} == {"10"}


def test_cli(corpus, tmp_path):
    data_folder, _ = corpus
    cli = ["--data_folder", data_folder, "--save_folder", str(tmp_path / "cli")]
    paths = main(cli + "--fold 5".split())
    test = load_json(paths["test"])
    assert {e["spk_id"] for e in test.values()} == {"11"}
    assert {e["spk_id"] for e in load_json(paths["valid"]).values()} == {"03"}


def test_empty_and_short_wavs_refused_by_name(corpus, tmp_path):
    data_folder, _ = corpus
    empty = write_wav(os.path.join(data_folder, "wav", "03a01Fa.wav"), 0)
    short = write_wav(os.path.join(data_folder, "wav", "08a01Na.wav"), 1e-3)
    with pytest.raises(ValueError) as error:
        prepare_emodb(data_folder, str(tmp_path / "out"))
    message = str(error.value)
    assert "2 Emo-DB audio files are too short" in message
    assert f"{os.path.abspath(empty)} is too short: 0 samples" in message
    assert f"{os.path.abspath(short)} is too short: 16 samples" in message
    assert not (tmp_path / "out").exists()


def test_fold_checked_before_reading_audio(corpus, tmp_path, monkeypatch):
    import soundfile as sf

    def refuse(*args, **kwargs):
        raise AssertionError("audio was read before checking the fold")

    monkeypatch.setattr(sf, "info", refuse)
    data_folder, _ = corpus
    with pytest.raises(ValueError, match="fold 6 does not exist"):
        prepare_emodb(data_folder, str(tmp_path / "out"), fold=6)
    with pytest.raises(ValueError, match="fold must be an integer"):
        prepare_emodb(data_folder, str(tmp_path / "out"), fold="2")
    assert not (tmp_path / "out").exists()


# Fixed speaker-disjoint split (protocol="speakers")

ALL_SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")


def split_speakers(paths):
    return {
        name: {e["spk_id"] for e in load_json(paths[name]).values()}
        for name in ("train", "valid", "test")
    }


def test_paper_split_by_default(tmp_path):
    data_folder, expected = make_emodb(
        tmp_path / "data", speakers=ALL_SPEAKERS, texts=("a01",)
    )
    paths = prepare_emodb(
        data_folder, str(tmp_path / "out"), protocol="speakers"
    )
    spk = split_speakers(paths)
    assert spk["valid"] == {"15"} and spk["test"] == {"16"}
    assert spk["train"] == set(ALL_SPEAKERS) - {"15", "16"}
    ids = [set(load_json(paths[n])) for n in ("train", "valid", "test")]
    assert sum(len(i) for i in ids) == len(expected)
    assert set().union(*ids) == set(expected) == set(load_json(paths["all"]))
    with open(tmp_path / "out" / "prepare_options.json") as f:
        options = json.load(f)
    assert options["protocol"] == "speakers"
    assert options["valid_speakers"] == ["15"]
    assert options["test_speakers"] == ["16"]


def test_custom_speaker_split(corpus, tmp_path, caplog):
    data_folder, _ = corpus
    save = str(tmp_path / "out")
    paths = prepare_emodb(
        data_folder,
        save,
        protocol="speakers",
        valid_speakers=["08", "09"],
        test_speakers=[3],  # a yaml number: speaker "03"
    )
    assert split_speakers(paths) == {
        "train": {"10", "11"},
        "valid": {"08", "09"},
        "test": {"03"},
    }
    with caplog.at_level(logging.INFO):
        prepare_emodb(
            data_folder,
            save,
            protocol="speakers",
            valid_speakers=["09", "08"],
            test_speakers=["03"],
        )
    assert "skipping" in caplog.text
    # Another split, then a LOSO fold, in the same folder: prepared again
    prepare_emodb(
        data_folder, save, protocol="speakers", valid_speakers=["10"],
        test_speakers=["11"],
    )  # fmt: skip
    assert split_speakers(paths)["test"] == {"11"}
    prepare_emodb(data_folder, save, fold=2)
    assert split_speakers(paths)["test"] == {"08"}


def test_loso_is_the_default_protocol(corpus, tmp_path):
    data_folder, _ = corpus
    a = prepare_emodb(data_folder, str(tmp_path / "a"), fold=3)
    b = prepare_emodb(data_folder, str(tmp_path / "b"), fold=3, protocol="loso")
    for name in ("train", "valid", "test"):
        assert load_json(a[name]) == load_json(b[name])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, r"\['15'\] are not speakers of the corpus"),
        ({"valid_speakers": ["08"], "test_speakers": ["42"]}, r"\['42'\]"),
        (
            {"valid_speakers": ["08", "09"], "test_speakers": ["09"]},
            r"speakers \['09'\] are both validation and test",
        ),
        (
            {
                "valid_speakers": ["03", "08"],
                "test_speakers": ["09", "10", "11"],
            },
            "leaves no training speaker",
        ),
        ({"valid_speakers": [], "test_speakers": ["03"]}, "empty"),
        ({"protocol": "random"}, "protocol must be one of loso, speakers"),
    ],
)
def test_bad_speaker_splits(corpus, tmp_path, kwargs, message):
    data_folder, _ = corpus
    kwargs = {"protocol": "speakers", **kwargs}
    with pytest.raises(ValueError, match=message):
        prepare_emodb(data_folder, str(tmp_path / "out"), **kwargs)
    assert not (tmp_path / "out").exists()


def test_speaker_split_function():
    split = speaker_split(ALL_SPEAKERS)
    assert split == {
        "valid": ["15"],
        "test": ["16"],
        "train": ["03", "08", "09", "10", "11", "12", "13", "14"],
    }
    assert speaker_split(ALL_SPEAKERS, "03", ["08", "09"])["test"] == [
        "08",
        "09",
    ]


def test_cli_speakers(corpus, tmp_path):
    data_folder, _ = corpus
    cli = ["--data_folder", data_folder, "--save_folder", str(tmp_path / "cli")]
    flags = "--protocol speakers --valid_speakers 10 --test_speakers 11 03"
    paths = main(cli + flags.split())
    spk = split_speakers(paths)
    assert spk["test"] == {"03", "11"} and spk["valid"] == {"10"}
