"""SynthEmo and SynthNoise: determinism, layout, preparation, modality check."""

import json
import os
from collections import Counter

import pytest

from speechbrain_ext.dataio.iemocap_prepare import prepare_iemocap
from speechbrain_ext.dataio.musan_prepare import prepare_musan
from speechbrain_ext.synthetic.modality_check import modality_check
from speechbrain_ext.synthetic.synthemo import (
    BABBLE_VOICES,
    SPEAKER_VOICES,
    check_synthemo_options,
    ensure_synthemo,
    generate_synthemo,
    generate_synthnoise,
    main,
)
from tests.file_checks import refused_command_line, tree_hashes
from tests.fixtures_corpora import make_iemocap, make_musan


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    info = ensure_synthemo(str(root), n_utterances=200, seed=7, n_noise_files=5)
    return root, info


def test_same_seed_gives_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_synthemo(str(a), n_utterances=60, seed=3, num_workers=2)
    generate_synthemo(str(b), n_utterances=60, seed=3, num_workers=1)
    generate_synthemo(str(c), n_utterances=60, seed=4, num_workers=1)
    generate_synthnoise(str(a / "musan"), n_per_category=3, seed=3)
    generate_synthnoise(str(b / "musan"), n_per_category=3, seed=3)
    ha, hb, hc = tree_hashes(a), tree_hashes(b), tree_hashes(c)
    assert len(ha) > 60
    assert ha == hb
    assert set(ha) & set(hc) and ha != hc


def test_layout_and_preparation_counts(small_corpus, tmp_path):
    root, info = small_corpus
    corpus = root / "IEMOCAP_full_release"
    assert sorted(os.listdir(corpus)) == [f"Session{k}" for k in range(1, 6)]
    assert info["n_target"] == 200
    assert {"fru", "xxx", "exc"} <= set(info["counts"])
    paths = prepare_iemocap(
        str(corpus), str(tmp_path / "prep"), check_counts=False
    )
    with open(paths["all"]) as f:
        manifest = json.load(f)
    counts = Counter(e["emo"] for e in manifest.values())
    expected = {
        "neu": info["counts"]["neu"],
        "hap": info["counts"]["hap"] + info["counts"]["exc"],
        "sad": info["counts"]["sad"],
        "ang": info["counts"]["ang"],
    }
    assert dict(counts) == expected
    for utt, entry in manifest.items():
        session, last = int(utt[3:5]), utt.rsplit("_", 1)[1]
        assert entry["spk_id"] == f"Ses{session:02d}{last[0]}"
        assert entry["wrd"] == entry["wrd"].upper() and "[" not in entry["wrd"]
        assert 1.5 <= entry["duration"] <= 5.0
    assert len({e["spk_id"] for e in manifest.values()}) == 10
    # both improvised and scripted dialogs, scripted sentences shared
    scripted = [e["wrd"] for e in manifest.values() if not e["improvised"]]
    assert any(e["improvised"] for e in manifest.values()) and scripted
    speakers_per_sentence = Counter()
    for e in manifest.values():
        if not e["improvised"]:
            speakers_per_sentence[e["wrd"]] += 1
    assert max(speakers_per_sentence.values()) >= 3


def test_folds_disjoint_and_complete(small_corpus, tmp_path):
    root, _ = small_corpus
    corpus = str(root / "IEMOCAP_full_release")
    all_ids = None
    for fold in range(1, 11):
        paths = prepare_iemocap(
            corpus, str(tmp_path / f"f{fold}"), fold=fold, check_counts=False
        )
        parts = {}
        for split in ("train", "valid", "test"):
            with open(paths[split]) as f:
                parts[split] = json.load(f)
        if all_ids is None:
            with open(paths["all"]) as f:
                all_ids = set(json.load(f))
        spk = {s: {e["spk_id"] for e in parts[s].values()} for s in parts}
        assert len(spk["test"]) == 1 and len(spk["valid"]) == 1
        assert not (spk["train"] & spk["test"]) and not (
            spk["train"] & spk["valid"]
        )
        ids = [set(parts[s]) for s in parts]
        assert set().union(*ids) == all_ids and sum(map(len, ids)) == len(
            all_ids
        )


def test_musan_preparation_leaves_synthnoise_untouched(small_corpus, tmp_path):
    root, _ = small_corpus
    musan = root / "musan"
    before = tree_hashes(musan)
    pools = prepare_musan(str(musan), str(tmp_path / "pools"))
    assert tree_hashes(musan) == before
    for category, files in pools.items():
        rows = {}
        for pool in ("train", "test"):
            with open(files[pool]) as f:
                lines = f.read().splitlines()
            assert lines[0] == "ID,duration,wav,wav_format,wav_opts"
            rows[pool] = {line.split(",")[2] for line in lines[1:]}
        assert rows["train"] and rows["test"]
        assert not rows["train"] & rows["test"]
        assert len(rows["train"] | rows["test"]) == 5


def test_babble_voices_differ_from_speakers():
    speakers = {v for voices in SPEAKER_VOICES.values() for v in voices}
    assert len(speakers) == 10
    variants = {v.split("+")[1] for v in speakers}
    assert not {v.split("+")[1] for v in BABBLE_VOICES} & variants


@pytest.mark.slow
def test_modality_check_on_default_corpus(tmp_path):
    """Neither words nor prosody alone reach what both reach (GUIDE bounds)."""
    info = ensure_synthemo(str(tmp_path / "synth"), n_noise_files=2)
    assert info["n_target"] == 2000 and info["elapsed"] < 60
    paths = prepare_iemocap(
        str(tmp_path / "synth" / "IEMOCAP_full_release"),
        str(tmp_path / "prep"),
        check_counts=False,
    )
    result = modality_check(paths["all"])
    words, prosody, both = (
        result[k]["WA"] for k in ("words", "prosody", "both")
    )
    assert 45 <= words <= 80, result
    assert 45 <= prosody <= 80, result
    assert both >= max(words, prosody) + 8, result


@pytest.fixture(scope="module")
def minimal_corpus(tmp_path_factory):
    """The smallest corpus the options allow, generated into a folder that
    holds a user file and the staging folder of an interrupted run."""
    root = tmp_path_factory.mktemp("minimal")
    staging = root / "synthemo.partial"
    (staging / "IEMOCAP_full_release" / "Session1").mkdir(parents=True)
    (staging / ".synthemo_partial").touch()
    (staging / "IEMOCAP_full_release" / "Session1" / "half.txt").touch()
    (root / "notes.txt").write_text("user notes")
    info = ensure_synthemo(str(root), n_utterances=65, n_noise_files=2)
    return root, info


def test_minimal_corpus_prepares_every_fold(minimal_corpus, tmp_path):
    root, info = minimal_corpus
    assert sorted(os.listdir(root)) == [
        "IEMOCAP_full_release",
        "musan",
        "notes.txt",
        "synthemo.json",
    ]
    assert (root / "notes.txt").read_text() == "user notes"
    corpus = root / "IEMOCAP_full_release"
    assert not (corpus / "Session1" / "half.txt").exists()
    assert info["n_target"] == 65
    for protocol, folds in (("speaker", 10), ("session", 5)):
        for fold in range(1, folds + 1):
            prepare_iemocap(
                str(corpus),
                str(tmp_path / f"{protocol}{fold}"),
                protocol=protocol,
                fold=fold,
                check_counts=False,
            )
    pools = prepare_musan(str(root / "musan"), str(tmp_path / "pools"))
    assert set(pools) == {"noise", "music", "speech"}


def test_completed_generation_is_reused(minimal_corpus):
    root, info = minimal_corpus
    before = tree_hashes(root)
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    assert ensure_synthemo(str(root), n_utterances=65, n_noise_files=2) == info
    assert tree_hashes(root) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    with pytest.raises(FileExistsError, match="other options"):
        ensure_synthemo(str(root), n_utterances=66, n_noise_files=2)
    assert tree_hashes(root) == before


@pytest.mark.parametrize("corpora", ["both", "IEMOCAP_full_release", "musan"])
def test_never_writes_over_a_real_corpus(tmp_path, corpora):
    if corpora in ("both", "IEMOCAP_full_release"):
        make_iemocap(tmp_path)
    if corpora in ("both", "musan"):
        make_musan(tmp_path)
    before = tree_hashes(tmp_path)
    assert len(before) > 10
    with pytest.raises(FileExistsError) as error:
        ensure_synthemo(str(tmp_path), n_utterances=65, n_noise_files=2)
    folder = "IEMOCAP_full_release" if corpora == "both" else corpora
    assert str(error.value).startswith(
        f"{tmp_path / folder} exists and is not empty"
    )
    assert tree_hashes(tmp_path) == before
    # nothing added either: no record, no staging folder, no lock file
    assert set(os.listdir(tmp_path)) == {p.split(os.sep)[0] for p in before}


def test_cli_never_writes_over_a_real_corpus(tmp_path, capsys):
    make_iemocap(tmp_path)
    make_musan(tmp_path)
    before = tree_hashes(tmp_path)
    args = ["--output_folder", str(tmp_path), "--n_utterances", "65"]
    with pytest.raises(SystemExit) as error:
        main(args)
    assert error.value.code == 1
    corpus = tmp_path / "IEMOCAP_full_release"
    assert f"{corpus} exists and is not empty" in capsys.readouterr().err
    assert tree_hashes(tmp_path) == before
    # a staging folder without the generator's mark is not removed either
    other = tmp_path / "other"
    (other / "synthemo.partial").mkdir(parents=True)
    (other / "synthemo.partial" / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit) as error:
        main(["--output_folder", str(other), "--n_utterances", "65"])
    assert error.value.code == 1
    staging = other / "synthemo.partial"
    assert f"{staging} exists but was not written by" in (
        capsys.readouterr().err
    )
    assert os.listdir(other) == ["synthemo.partial"]
    assert os.listdir(staging) == ["mine.txt"]
    assert (staging / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["--n_utterances", "-5"],
            [
                "n_utterances=-5 is too small for the IEMOCAP preparation",
                "from each of the 10 speakers",
                "n_utterances=65 is the next value",
            ],
        ),
        (["--n_utterances", "0"], ["n_utterances=0 is too small"]),
        (
            ["--n_utterances", "40"],
            ["Ses02M, Ses03M, Ses04M, Ses05M would get none", "seed 1234"],
        ),
        (
            ["--n_noise_files", "1"],
            ["n_noise_files must be at least 2, got 1", "prepare_musan"],
        ),
        (["--seed", "-1"], ["seed must be at least 0, got -1"]),
    ],
)
def test_cli_checks_options_before_writing(tmp_path, capsys, args, expected):
    message = refused_command_line(main, tmp_path / "out", args, capsys)
    for part in expected:
        assert part in message


def test_minimum_depends_on_the_seed():
    check_synthemo_options(65, seed=1234)
    check_synthemo_options(65, seed=186)
    with pytest.raises(ValueError, match="Ses05M would get none"):
        check_synthemo_options(66, seed=186)
    with pytest.raises(ValueError, match="n_utterances must be an integer"):
        check_synthemo_options(65.0)
