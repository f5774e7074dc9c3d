"""SynthEmoDB: plan, layout, determinism, preparation with prepare_emodb."""

import collections
import itertools
import json
import os

import pytest
import soundfile as sf

from speechbrain_ext.dataio.emodb_prepare import (
    EMODB_EMOTIONS as LETTER_LABELS,
)
from speechbrain_ext.dataio.emodb_prepare import (
    parse_emodb_name,
    prepare_emodb,
)
from speechbrain_ext.synthetic.synthemodb import (
    EMODB_EMOTIONS,
    EMODB_SPEAKERS,
    EMOTION_PROSODY,
    PROSODY_JITTER,
    SPEAKER_VOICES,
    TEXTS,
    ensure_synthemodb,
    generate_synthemodb,
    main,
    plan_corpus,
)
from tests.file_checks import refused_command_line, tree_hashes
from tests.fixtures_corpora import make_emodb


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthemodb")
    summary = ensure_synthemodb(str(root / "corpus"), n_utterances=84, seed=5)
    return str(root / "corpus"), summary


def test_plan_matches_emodb_at_full_size():
    plan = plan_corpus(535, seed=1)
    assert len(plan) == len({u["utt_id"] for u in plan}) == 535
    per_speaker = collections.Counter(u["spk_id"] for u in plan)
    assert per_speaker == {s: n for s, (_, n) in EMODB_SPEAKERS.items()}
    assert collections.Counter(u["emotion"] for u in plan) == EMODB_EMOTIONS
    # The paper's split: 408 / 56 / 71
    assert per_speaker["15"] == 56 and per_speaker["16"] == 71
    assert sum(n for s, n in per_speaker.items() if s < "15") == 408
    for utt in plan:
        parsed = parse_emodb_name(utt["utt_id"] + ".wav")
        assert parsed["spk_id"] == utt["spk_id"]
        assert parsed["text_id"] == utt["text_id"] in TEXTS
        assert parsed["emo"] == LETTER_LABELS[utt["emotion"]]
    # Versions a, b, ... are consecutive for a speaker, text and emotion
    key = lambda u: (u["spk_id"], u["text_id"], u["emotion"])  # noqa: E731
    for _, group in itertools.groupby(sorted(plan, key=key), key=key):
        versions = sorted(u["version"] for u in group)
        assert versions == list("abcdefghij"[: len(versions)])
    assert any(u["version"] == "b" for u in plan)


@pytest.mark.parametrize("n", [70, 84, 200, 300])
def test_plan_sizes(n):
    plan = plan_corpus(n, seed=3)
    assert len(plan) == len({u["utt_id"] for u in plan}) == n
    pairs = {(u["spk_id"], u["emotion"]) for u in plan}
    assert len(pairs) == 70  # every speaker in every emotion
    assert plan == plan_corpus(n, seed=3)
    with pytest.raises(ValueError, match="at least 70"):
        plan_corpus(69)


def test_emotions_differ_in_prosody():
    """Every two emotions differ by more than the jitter in some parameter."""
    for a, b in itertools.combinations(EMOTION_PROSODY, 2):
        gaps = [
            abs(EMOTION_PROSODY[a][k] - EMOTION_PROSODY[b][k])
            / PROSODY_JITTER[k]
            for k in PROSODY_JITTER
        ]
        assert max(gaps) > 1.5, (a, b, gaps)
    assert set(SPEAKER_VOICES) == set(EMODB_SPEAKERS)
    for spk, voice in SPEAKER_VOICES.items():
        assert voice.startswith("de+")
        assert voice[3] == EMODB_SPEAKERS[spk][0].lower()
    assert len(set(SPEAKER_VOICES.values())) == 10


def test_layout(small_corpus):
    folder, summary = small_corpus
    names = sorted(os.listdir(os.path.join(folder, "wav")))
    assert sorted(os.listdir(folder)) == ["synthemodb.json", "wav"]
    assert len(names) == summary["n_utterances"] == 84
    assert [n[:-4] for n in names] == [u["utt_id"] for u in plan_corpus(84, 5)]
    durations = []
    for name in names:
        parse_emodb_name(name)
        info = sf.info(os.path.join(folder, "wav", name))
        assert info.samplerate == 16000 and info.channels == 1
        durations.append(info.duration)
    assert 1.0 <= min(durations) and max(durations) < 6.0
    assert summary["speakers"] == collections.Counter(n[:2] for n in names)


def test_prepare_emodb_runs_on_it(small_corpus, tmp_path):
    folder, _ = small_corpus
    paths = prepare_emodb(folder, str(tmp_path / "split"), protocol="speakers")
    splits = {}
    for name in ("train", "valid", "test"):
        with open(paths[name], encoding="utf-8") as f:
            splits[name] = json.load(f)
    assert {e["spk_id"] for e in splits["test"].values()} == {"16"}
    assert {e["spk_id"] for e in splits["valid"].values()} == {"15"}
    assert len({e["spk_id"] for e in splits["train"].values()}) == 8
    assert sum(len(s) for s in splits.values()) == 84
    labels = {e["emo"] for s in splits.values() for e in s.values()}
    assert labels == set(LETTER_LABELS.values())
    # and every leave-one-speaker-out fold
    for fold in (1, 10):
        paths = prepare_emodb(folder, str(tmp_path / f"f{fold}"), fold=fold)
        with open(paths["test"], encoding="utf-8") as f:
            test = json.load(f)
        assert len({e["spk_id"] for e in test.values()}) == 1


def test_same_seed_same_bytes(tmp_path):
    a, b, c = (str(tmp_path / x) for x in "abc")
    generate_synthemodb(a, n_utterances=70, seed=11, num_workers=2)
    generate_synthemodb(b, n_utterances=70, seed=11, num_workers=1)
    generate_synthemodb(c, n_utterances=70, seed=12, num_workers=2)
    ha, hb, hc = tree_hashes(a), tree_hashes(b), tree_hashes(c)
    assert len(ha) == 70 and ha == hb
    assert ha != hc


def test_ensure_reuses_and_refuses(small_corpus, tmp_path):
    folder, summary = small_corpus
    before = tree_hashes(folder)
    assert ensure_synthemodb(folder, n_utterances=84, seed=5) == summary
    assert tree_hashes(folder) == before
    with pytest.raises(FileExistsError, match="other options"):
        ensure_synthemodb(folder, n_utterances=84, seed=6)
    assert tree_hashes(folder) == before


@pytest.mark.parametrize("user_folder", ["wav", "synthemodb.partial"])
def test_never_writes_over_user_folders(tmp_path, user_folder):
    """A real Emo-DB (or a folder named like the staging folder) is left
    byte for byte as it was, with an error naming it."""
    data = tmp_path / "emodb"
    if user_folder == "wav":
        make_emodb(tmp_path)
    else:
        (data / user_folder).mkdir(parents=True)
        (data / user_folder / "notes.txt").write_text("user notes")
    (data / "wav.partial").mkdir()
    (data / "wav.partial" / "03a01Fa.wav").write_bytes(b"user audio")
    before = tree_hashes(data)
    with pytest.raises(FileExistsError) as error:
        ensure_synthemodb(str(data), n_utterances=70)
    assert str(error.value).startswith(f"{data / user_folder} exists")
    assert tree_hashes(data) == before
    assert sorted(os.listdir(data)) == sorted([user_folder, "wav.partial"])


def test_interrupted_generation_redone_user_partial_kept(tmp_path):
    """The generator's own staging folder (with its mark) is removed and
    the corpus generated again; a user's wav.partial is not touched."""
    folder = tmp_path / "again"
    staging = folder / "synthemodb.partial"
    (staging / "wav").mkdir(parents=True)
    (staging / ".synthemodb_partial").touch()
    (staging / "wav" / "03a01Wz.wav").write_bytes(b"")
    (folder / "wav.partial" / "sub").mkdir(parents=True)
    (folder / "wav.partial" / "sub" / "keep.wav").write_bytes(b"user audio")
    user = tree_hashes(folder / "wav.partial")
    ensure_synthemodb(str(folder), n_utterances=70)
    names = os.listdir(folder / "wav")
    assert len(names) == 70 and "03a01Wz.wav" not in names
    assert sorted(os.listdir(folder)) == [
        "synthemodb.json",
        "wav",
        "wav.partial",
    ]
    assert tree_hashes(folder / "wav.partial") == user


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--n_utterances", "69"], "n_utterances=69 is too small: at least 70"),
        (["--n_utterances", "-5"], "n_utterances=-5 is too small: at least 70"),
        (
            ["--n_utterances", "9000"],
            "n_utterances=9000 is too large: speaker 16 would need 310",
        ),
        (["--seed", "-1"], "seed must be at least 0, got -1"),
    ],
)
def test_cli_checks_options_before_writing(tmp_path, capsys, args, expected):
    message = refused_command_line(main, tmp_path / "out", args, capsys)
    assert expected in message


def test_cli(tmp_path, capsys):
    info = main(["--output_folder", str(tmp_path), "--n_utterances", "70"])
    assert info["n_utterances"] == 70
    assert json.loads(capsys.readouterr().out)["n_utterances"] == 70
