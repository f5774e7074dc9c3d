"""SynthLibri: layout, unchanged LibriSpeech preparation, idempotence,
voices, and the coverage of SynthEmo's words."""

import json
import os
import shutil
from collections import Counter

import espeakng_loader
import pytest

from speechbrain_ext.dataio.iemocap_prepare import prepare_iemocap
from speechbrain_ext.dataio.librispeech_prepare import prepare_librispeech
from speechbrain_ext.dataio.word_tokens import build_word_vocabulary
from speechbrain_ext.synthetic import synthemo
from speechbrain_ext.synthetic.synthlibri import (
    MIN_SYNTHEMO_COUNT,
    SPLITS,
    SYNTHEMO_TOP_N,
    VOICE_VARIANTS,
    ensure_synthlibri,
    generate_synthlibri,
    main,
    plan_synthlibri,
    synthemo_vocabulary,
)
from tests.file_checks import (
    load_json,
    refused_command_line,
    tree_hashes,
)
from tests.fixtures_corpora import make_librispeech

SIZES = dict(n_train=24, n_dev=6, n_test=6, seed=5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthlibri")
    info = ensure_synthlibri(str(root), **SIZES)
    return root, info


def test_preparation_runs_unchanged(corpus, tmp_path):
    root, info = corpus
    data = root / "LibriSpeech"
    assert sorted(os.listdir(data)) == sorted(SPLITS)
    paths = prepare_librispeech(str(data), str(tmp_path / "prep"))
    plan = {
        u["utt_id"]: u
        for u in plan_synthlibri(
            SIZES["n_train"], SIZES["n_dev"], SIZES["n_test"], SIZES["seed"]
        )
    }
    speakers = {}
    for split, n in zip(SPLITS, (24, 6, 6)):
        manifest = load_json(paths[split])
        assert len(manifest) == n == info["splits"][split]["utterances"]
        for utt_id, entry in manifest.items():
            assert plan[utt_id]["split"] == split
            assert entry["wrd"] == plan[utt_id]["text"].upper()
            assert entry["spk_id"] == plan[utt_id]["spk_id"]
            assert entry["wav"].endswith(".flac")
            assert 1.0 <= entry["duration"] <= 8.0
        speakers[split] = {e["spk_id"] for e in manifest.values()}
        assert len(speakers[split]) == info["splits"][split]["speakers"]
        seconds = sum(e["duration"] for e in manifest.values())
        assert seconds == pytest.approx(
            info["splits"][split]["seconds"], abs=0.001 * n + 0.01
        )
    assert len(speakers["train-clean-100"]) >= 4
    assert not speakers["train-clean-100"] & speakers["dev-clean"]
    assert not speakers["train-clean-100"] & speakers["test-clean"]
    assert not speakers["dev-clean"] & speakers["test-clean"]


def test_transcript_files(corpus):
    root, _ = corpus
    split_folder = root / "LibriSpeech" / "dev-clean"
    trans = sorted(split_folder.glob("*/*/*.trans.txt"))
    assert trans
    for path in trans:
        spk, chapter = path.parent.parent.name, path.parent.name
        assert path.name == f"{spk}-{chapter}.trans.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
        flacs = sorted(p.stem for p in path.parent.glob("*.flac"))
        assert [line.split(" ", 1)[0] for line in lines] == flacs
        for line in lines:
            text = line.split(" ", 1)[1]
            assert text == text.upper() and "." not in text


def test_idempotent_and_never_deletes_user_files(corpus, tmp_path):
    root, info = corpus
    corpus_folder = root / "LibriSpeech"
    before = tree_hashes(corpus_folder)
    mtimes = {p: p.stat().st_mtime_ns for p in corpus_folder.rglob("*")}
    assert ensure_synthlibri(str(root), **SIZES) == info
    assert tree_hashes(corpus_folder) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    with pytest.raises(FileExistsError, match="other options"):
        ensure_synthlibri(str(root), **{**SIZES, "n_train": 25})
    # A LibriSpeech folder that the generator did not write is left alone
    user = tmp_path / "user"
    make_librispeech(user)
    (user / "LibriSpeech.partial").mkdir()
    (user / "LibriSpeech.partial" / "mine.txt").write_text("keep")
    user_files = tree_hashes(user)
    with pytest.raises(FileExistsError) as error:
        ensure_synthlibri(str(user), **SIZES)
    assert str(error.value).startswith(
        f"{user / 'LibriSpeech'} exists and is not empty"
    )
    assert tree_hashes(user) == user_files
    assert sorted(os.listdir(user)) == ["LibriSpeech", "LibriSpeech.partial"]
    # So is a synthlibri.partial folder without the generator's mark
    other = tmp_path / "other"
    (other / "synthlibri.partial").mkdir(parents=True)
    (other / "synthlibri.partial" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError) as error:
        ensure_synthlibri(str(other), **SIZES)
    assert str(error.value).startswith(
        f"{other / 'synthlibri.partial'} exists but was not written by"
    )
    assert os.listdir(other / "synthlibri.partial") == ["mine.txt"]
    assert (other / "synthlibri.partial" / "mine.txt").read_text() == "keep"


def test_interrupted_generation_starts_again(tmp_path):
    partial = tmp_path / "synthlibri.partial"
    (partial / "LibriSpeech" / "dev-clean" / "1" / "2").mkdir(parents=True)
    (partial / ".synthlibri_partial").touch()
    half = partial / "LibriSpeech" / "dev-clean" / "1" / "2" / "1-2-0000.flac"
    half.write_bytes(b"")
    info = ensure_synthlibri(str(tmp_path), n_train=2, n_dev=1, n_test=1)
    assert not partial.exists()
    assert sorted(os.listdir(tmp_path)) == ["LibriSpeech", "synthlibri.json"]
    assert not (tmp_path / "LibriSpeech" / "dev-clean" / "1").exists()
    assert not (tmp_path / "LibriSpeech" / ".synthlibri_partial").exists()
    assert info["splits"]["dev-clean"]["utterances"] == 1
    # a corpus folder removed by hand is generated again
    before = tree_hashes(tmp_path / "LibriSpeech")
    shutil.rmtree(tmp_path / "LibriSpeech")
    ensure_synthlibri(str(tmp_path), n_train=2, n_dev=1, n_test=1)
    assert tree_hashes(tmp_path / "LibriSpeech") == before


def test_same_seed_gives_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_synthlibri(str(a), 4, 2, 2, seed=3, num_workers=2)
    generate_synthlibri(str(b), 4, 2, 2, seed=3, num_workers=1)
    generate_synthlibri(str(c), 4, 2, 2, seed=4, num_workers=1)
    ha, hb, hc = tree_hashes(a), tree_hashes(b), tree_hashes(c)
    assert len(ha) == 8 + len([k for k in ha if k.endswith(".trans.txt")])
    assert ha == hb
    assert ha != hc


def test_voices_are_new_and_split_disjoint():
    plan = plan_synthlibri(n_train=400, n_dev=40, n_test=40)
    voices = {s: {u["voice"] for u in plan if u["split"] == s} for s in SPLITS}
    variants = {s: {v.split("+")[1] for v in voices[s]} for s in SPLITS}
    taken = {
        v.split("+")[1]
        for v in [*sum(synthemo.SPEAKER_VOICES.values(), [])]
        + synthemo.BABBLE_VOICES
    }
    assert not set().union(*variants.values()) & taken
    assert not variants["train-clean-100"] & variants["dev-clean"]
    assert not variants["train-clean-100"] & variants["test-clean"]
    assert not variants["dev-clean"] & variants["test-clean"]
    assert len(voices["train-clean-100"]) == 32
    assert len(voices["dev-clean"]) == len(voices["test-clean"]) == 6
    # every variant is a file of the eSpeak NG data that is installed
    folder = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
    for split in VOICE_VARIANTS.values():
        for names in split.values():
            assert all(os.path.isfile(os.path.join(folder, n)) for n in names)


def test_synthemo_vocabulary_matches_its_transcripts(tmp_path):
    """The word list the coverage test uses holds every word of a real
    SynthEmo corpus after the IEMOCAP preparation."""
    root = tmp_path / "IEMOCAP_full_release"
    synthemo.generate_synthemo(str(root), n_utterances=40, num_workers=2)
    paths = prepare_iemocap(str(root), str(tmp_path / "p"), check_counts=False)
    words = {
        w for e in load_json(paths["all"]).values() for w in e["wrd"].split()
    }
    vocabulary = synthemo_vocabulary()
    assert words <= vocabulary
    pool = synthemo._script_pool()
    assert {w.upper() for s in sum(pool.values(), []) for w in s.split()} <= (
        vocabulary
    )


@pytest.mark.parametrize("seed", [1234, 1])
def test_synthemo_words_in_top_n_of_default_train_split(tmp_path, seed):
    """Every SynthEmo word is frequent in the default train-clean-100 and
    in the top-N word vocabulary that the A2W recipe builds from it."""
    plan = plan_synthlibri(seed=seed)
    manifest = {
        u["utt_id"]: {"wrd": u["text"].upper()}
        for u in plan
        if u["split"] == "train-clean-100"
    }
    assert len(manifest) == 2000
    path = tmp_path / "train.json"
    path.write_text(json.dumps(manifest))
    counts = Counter(w for e in manifest.values() for w in e["wrd"].split())
    emo_words = synthemo_vocabulary()
    rare = {w: counts[w] for w in emo_words if counts[w] < MIN_SYNTHEMO_COUNT}
    assert not rare
    vocab = build_word_vocabulary(str(path), SYNTHEMO_TOP_N)
    assert emo_words <= set(vocab.lab2ind)
    # ... while the whole vocabulary is much larger than SynthEmo's
    assert len(counts) >= 2.5 * len(emo_words)
    assert len(counts) > SYNTHEMO_TOP_N + 200


def test_bad_sizes_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="dev-clean utterances"):
        ensure_synthlibri(str(tmp_path / "out"), n_train=4, n_dev=0)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["--n_dev", "0"],
            "the number of dev-clean utterances (n_dev) must be a positive "
            "integer, got 0",
        ),
        (["--n_train", "-5"], "train-clean-100 utterances (n_train)"),
        (
            ["--n_train", "200000"],
            "n_train + n_dev + n_test = 200300 is too large: at most 190000",
        ),
        (["--num_workers", "0"], "num_workers must be at least 1, got 0"),
    ],
)
def test_cli_checks_options_before_writing(tmp_path, capsys, args, expected):
    message = refused_command_line(main, tmp_path / "out", args, capsys)
    assert expected in message
