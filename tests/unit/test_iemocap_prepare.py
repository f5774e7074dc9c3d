import collections
import json
import logging
import os

import pytest

from speechbrain_ext.dataio.iemocap_prepare import (
    IEMOCAP_SPEAKERS,
    fold_speakers,
    list_folds,
    main,
    normalize_transcript,
    prepare_iemocap,
    utterance_speaker,
)
from tests.fixtures_corpora import (
    IEMOCAP_TAG_ONLY,
    iemocap_paths,
    make_iemocap,
    write_wav,
)


@pytest.fixture
def corpus(tmp_path):
    data_folder, expected = make_iemocap(tmp_path / "data")
    return data_folder, expected


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def prepare(data_folder, save_folder, **kwargs):
    kwargs.setdefault("check_counts", False)
    return prepare_iemocap(data_folder, str(save_folder), **kwargs)


def replace_in_file(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))


def test_class_counts_merge_and_drop(corpus, tmp_path):
    data_folder, expected = corpus
    paths = prepare(data_folder, tmp_path / "out")
    manifest = load(paths["all"])
    counts = collections.Counter(e["emo"] for e in manifest.values())
    assert counts == {"neu": 10, "hap": 20, "sad": 10, "ang": 10}
    for utt_id, info in expected.items():
        if info["label"] in ("fru", "xxx"):
            assert utt_id not in manifest
        if info["label"] == "exc":
            assert manifest[utt_id]["emo"] == "hap"
    assert set(manifest) == {
        u for u, i in expected.items() if i["label"] not in ("fru", "xxx")
    }


def test_custom_label_map_and_emotions(corpus, tmp_path):
    data_folder, expected = corpus
    paths = prepare(
        data_folder,
        tmp_path / "out",
        label_map={"exc": "exc"},
        emotions=("exc", "fru"),
    )
    counts = collections.Counter(e["emo"] for e in load(paths["all"]).values())
    assert counts == {"exc": 10, "fru": 5}


def test_entries_and_speaker_from_utterance_id(corpus, tmp_path):
    data_folder, expected = corpus
    manifest = load(prepare(data_folder, tmp_path / "out")["all"])
    # Dialog named after the F speaker, utterance of the M speaker.
    entry = manifest["Ses01F_impro01_M000"]
    assert entry["spk_id"] == "Ses01M"
    assert entry["gender"] == "M"
    # Dialog named after the M speaker, utterance of the F speaker.
    entry = manifest["Ses03M_script01_1_F001"]
    assert entry["spk_id"] == "Ses03F"
    assert entry["gender"] == "F"
    assert entry["session"] == 3
    assert entry["improvised"] is False
    assert manifest["Ses03F_impro01_F000"]["improvised"] is True
    for utt_id, entry in manifest.items():
        assert entry["spk_id"] == expected[utt_id]["spk_id"]
        assert os.path.isabs(entry["wav"])
        assert entry["wav"] == os.path.abspath(
            iemocap_paths(data_folder, utt_id)["wav"]
        )
        assert entry["duration"] == pytest.approx(0.05)
        assert set(entry) == {
            "wav",
            "duration",
            "spk_id",
            "session",
            "gender",
            "emo",
            "wrd",
            "improvised",
        }


def test_utterance_speaker():
    assert utterance_speaker("Ses01F_impro01_M000") == "Ses01M"
    assert utterance_speaker("Ses01F_script01_1_M003") == "Ses01M"
    assert utterance_speaker("Ses05M_script02_2_F015") == "Ses05F"
    with pytest.raises(ValueError, match="Ses01F_impro01"):
        utterance_speaker("Ses01F_impro01")


def test_transcripts_normalised_and_tag_only_kept(corpus, tmp_path, caplog):
    data_folder, _ = corpus
    with caplog.at_level(logging.WARNING):
        manifest = load(prepare(data_folder, tmp_path / "out")["all"])
    assert manifest["Ses01F_impro01_F001"]["wrd"] == "OH I'M F001 REALLY"
    assert manifest[IEMOCAP_TAG_ONLY]["wrd"] == ""
    assert "1 utterances have a transcript made only of tags" in caplog.text
    assert IEMOCAP_TAG_ONLY in caplog.text


@pytest.mark.parametrize(
    "text, normalised",
    [
        ("Oh, I'm so happy! [LAUGHTER]", "OH I'M SO HAPPY"),
        ("[BREATHING] Well... no. [GARBAGE]", "WELL NO"),
        ("  don't   'quote' <sil> it's  ", "DON'T QUOTE IT'S"),
        ("Mother-in-law? Yes; sure.", "MOTHER IN LAW YES SURE"),
        ("[LAUGHTER]", ""),
    ],
)
def test_normalize_transcript(text, normalised):
    assert normalize_transcript(text) == normalised


def _check_split(paths, all_ids):
    splits = {name: load(paths[name]) for name in ("train", "valid", "test")}
    speakers = {
        name: {e["spk_id"] for e in split.values()}
        for name, split in splits.items()
    }
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]
    ids = [set(split) for split in splits.values()]
    assert sum(len(i) for i in ids) == len(all_ids)
    assert set().union(*ids) == all_ids
    return splits, speakers


def test_speaker_protocol_folds(corpus, tmp_path):
    data_folder, _ = corpus
    assert list_folds("speaker") == list(range(1, 11))
    tested = []
    all_ids = None
    for fold in list_folds("speaker"):
        paths = prepare(
            data_folder, tmp_path / f"f{fold}", protocol="speaker", fold=fold
        )
        all_ids = set(load(paths["all"]))
        splits, speakers = _check_split(paths, all_ids)
        test_spk = IEMOCAP_SPEAKERS[fold - 1]
        other = test_spk[:5] + ("M" if test_spk[-1] == "F" else "F")
        assert speakers["test"] == {test_spk}
        assert speakers["valid"] == {other}
        assert len(speakers["train"]) == 8
        tested.append(set(splits["test"]))
    assert sum(len(t) for t in tested) == len(all_ids)
    assert set().union(*tested) == all_ids


def test_session_protocol_folds(corpus, tmp_path):
    data_folder, _ = corpus
    tested = []
    all_ids = None
    for fold in list_folds("session"):
        paths = prepare(
            data_folder, tmp_path / f"f{fold}", protocol="session", fold=fold
        )
        all_ids = set(load(paths["all"]))
        splits, speakers = _check_split(paths, all_ids)
        assert speakers["test"] == {f"Ses{fold:02d}F", f"Ses{fold:02d}M"}
        assert speakers["valid"] == {f"Ses{fold % 5 + 1:02d}F"}
        assert len(speakers["train"]) == 7
        tested.append(set(splits["test"]))
    assert list_folds("session") == [1, 2, 3, 4, 5]
    assert sum(len(t) for t in tested) == len(all_ids)
    assert set().union(*tested) == all_ids


def test_valid_speaker_override(corpus, tmp_path):
    data_folder, _ = corpus
    paths = prepare(
        data_folder,
        tmp_path / "out",
        protocol="session",
        fold=2,
        valid_speaker="Ses04M",
    )
    _, speakers = _check_split(paths, set(load(paths["all"])))
    assert speakers["valid"] == {"Ses04M"}
    assert fold_speakers("speaker", 10) == (("Ses05M",), ("Ses05F",))
    with pytest.raises(ValueError, match="Ses02F.*test speaker"):
        prepare(
            data_folder,
            tmp_path / "bad",
            protocol="session",
            fold=2,
            valid_speaker="Ses02F",
        )
    with pytest.raises(ValueError, match="fold 11"):
        prepare(data_folder, tmp_path / "bad", protocol="speaker", fold=11)


def test_random_protocol(corpus, tmp_path):
    data_folder, _ = corpus
    paths = prepare(
        data_folder, tmp_path / "a", protocol="random", split_ratio=(60, 20, 20)
    )
    all_ids = set(load(paths["all"]))
    splits = {n: set(load(paths[n])) for n in ("train", "valid", "test")}
    assert [len(splits[n]) for n in ("train", "valid", "test")] == [30, 10, 10]
    assert not splits["train"] & splits["valid"]
    assert not splits["train"] & splits["test"]
    assert not splits["valid"] & splits["test"]
    assert set().union(*splits.values()) == all_ids
    # Speaker-dependent: test speakers are also seen in training.
    train_spk = {e["spk_id"] for e in load(paths["train"]).values()}
    test_spk = {e["spk_id"] for e in load(paths["test"]).values()}
    assert test_spk & train_spk
    same = prepare(
        data_folder, tmp_path / "b", protocol="random", split_ratio=(60, 20, 20)
    )
    assert load(same["test"]) == load(paths["test"])
    other = prepare(
        data_folder,
        tmp_path / "c",
        protocol="random",
        split_ratio=(60, 20, 20),
        seed=7,
    )
    assert set(load(other["test"])) != splits["test"]
    with pytest.raises(ValueError, match="single fold"):
        prepare(data_folder, tmp_path / "d", protocol="random", fold=2)


@pytest.mark.parametrize("protocol", ["speaker", "session", "random"])
def test_improvised_only(corpus, tmp_path, protocol):
    data_folder, expected = corpus
    paths = prepare(
        data_folder, tmp_path / "out", protocol=protocol, improvised_only=True
    )
    manifest = load(paths["all"])
    assert len(manifest) == 25
    assert all(e["improvised"] for e in manifest.values())
    assert all("impro" in utt_id for utt_id in manifest)
    splits = [load(paths[n]) for n in ("train", "valid", "test")]
    assert sum(len(s) for s in splits) == 25
    assert all(e["improvised"] for s in splits for e in s.values())


def test_idempotent(corpus, tmp_path, caplog):
    data_folder, _ = corpus
    save = tmp_path / "out"
    paths = prepare(data_folder, save, protocol="session", fold=1)
    files = list(paths.values()) + [str(save / "prepare_options.json")]
    for path in files:
        os.utime(path, ns=(10**18, 10**18))
    with caplog.at_level(logging.INFO):
        again = prepare(data_folder, save, protocol="session", fold=1)
    assert again == paths
    assert "skipping" in caplog.text
    assert all(os.stat(p).st_mtime_ns == 10**18 for p in files)

    test_fold1 = load(paths["test"])
    prepare(data_folder, save, protocol="session", fold=2)
    assert all(os.stat(p).st_mtime_ns != 10**18 for p in files)
    assert load(paths["test"]) != test_fold1
    assert {e["spk_id"] for e in load(paths["test"]).values()} == {
        "Ses02F",
        "Ses02M",
    }
    assert load(save / "prepare_options.json")["fold"] == 2


def test_skip_prep_writes_nothing(corpus, tmp_path):
    data_folder, _ = corpus
    paths = prepare(data_folder, tmp_path / "out", skip_prep=True)
    assert paths["train"] == str(tmp_path / "out" / "train.json")
    assert not (tmp_path / "out").exists()


def test_wrong_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as error:
        prepare(str(empty), tmp_path / "out")
    assert str(empty) in str(error.value)
    assert "Session{k}/dialog/EmoEvaluation" in str(error.value)


def test_parent_of_release_accepted(corpus, tmp_path):
    data_folder, _ = corpus
    paths = prepare(os.path.dirname(data_folder), tmp_path / "out")
    assert len(load(paths["all"])) == 50


def test_unknown_label(corpus, tmp_path):
    data_folder, _ = corpus
    emo_file = iemocap_paths(data_folder, "Ses02F_impro01_M001")["emo"]
    replace_in_file(
        emo_file, "Ses02F_impro01_M001\tsad", "Ses02F_impro01_M001\tjoy"
    )
    with pytest.raises(ValueError) as error:
        prepare(data_folder, tmp_path / "out")
    message = str(error.value)
    assert emo_file in message
    assert "line 18" in message
    assert "'joy'" in message


def test_missing_transcript_line(corpus, tmp_path):
    data_folder, _ = corpus
    trn_file = iemocap_paths(data_folder, "Ses04M_script01_1_M001")["trn"]
    replace_in_file(trn_file, "Ses04M_script01_1_M001 [", "# removed [")
    with pytest.raises(ValueError) as error:
        prepare(data_folder, tmp_path / "out")
    assert trn_file in str(error.value)
    assert "Ses04M_script01_1_M001" in str(error.value)


def test_missing_transcript_of_dropped_utterance_is_fine(corpus, tmp_path):
    data_folder, _ = corpus
    trn_file = iemocap_paths(data_folder, "Ses04M_script01_1_F000")["trn"]
    replace_in_file(trn_file, "Ses04M_script01_1_F000 [", "# removed [")
    assert len(load(prepare(data_folder, tmp_path / "out")["all"])) == 50


def test_empty_transcript_text(corpus, tmp_path):
    data_folder, expected = corpus
    utt_id = "Ses05F_impro01_F002"
    trn_file = iemocap_paths(data_folder, utt_id)["trn"]
    replace_in_file(trn_file, expected[utt_id]["text"], "  ")
    with pytest.raises(ValueError) as error:
        prepare(data_folder, tmp_path / "out")
    assert trn_file in str(error.value)
    assert utt_id in str(error.value)
    assert "empty" in str(error.value)


def test_missing_wavs_listed(corpus, tmp_path):
    data_folder, expected = corpus
    kept = sorted(
        u for u, i in expected.items() if i["label"] not in ("fru", "xxx")
    )
    removed = [iemocap_paths(data_folder, u)["wav"] for u in kept[:25]]
    for path in removed:
        os.remove(path)
    with pytest.raises(FileNotFoundError) as error:
        prepare(data_folder, tmp_path / "out")
    message = str(error.value)
    assert "25 wav files" in message
    listed = [p for p in removed if os.path.abspath(p) in message]
    assert len(listed) == 20
    assert "and 5 more" in message


def test_non_16k_wav(corpus, tmp_path):
    data_folder, _ = corpus
    wav = iemocap_paths(data_folder, "Ses03F_impro01_F000")["wav"]
    write_wav(wav, sample_rate=8000)
    with pytest.raises(ValueError) as error:
        prepare(data_folder, tmp_path / "out")
    assert os.path.abspath(wav) in str(error.value)
    assert "8000" in str(error.value)


def test_unreadable_wav(corpus, tmp_path):
    data_folder, _ = corpus
    wav = iemocap_paths(data_folder, "Ses03F_impro01_F000")["wav"]
    with open(wav, "wb") as f:
        f.write(b"not a wav file")
    with pytest.raises(ValueError) as error:
        prepare(data_folder, tmp_path / "out")
    assert os.path.abspath(wav) in str(error.value)


def test_count_check_failure_message(corpus, tmp_path):
    data_folder, _ = corpus
    with pytest.raises(ValueError) as error:
        prepare_iemocap(data_folder, str(tmp_path / "out"))
    message = str(error.value)
    assert "check_counts=False" in message
    lines = {
        line.split()[0]: line.split()[-2:]
        for line in message.splitlines()
        if line.startswith("  ")
    }
    assert lines["neu"] == ["1708", "10"]
    assert lines["hap"] == ["1636", "20"]
    assert lines["ang"] == ["1103", "10"]
    assert lines["sad"] == ["1084", "10"]
    assert lines["total"] == ["5531", "50"]
    assert not (tmp_path / "out").exists()


def test_count_check_passes_on_full_release_counts(tmp_path):
    # Label files only: the count check must pass and the preparation stop
    # at the first missing transcription file instead.
    counts = {"neu": 1708, "hap": 600, "exc": 1036, "ang": 1103, "sad": 1084}
    labels = [label for label, n in counts.items() for _ in range(n)]
    labels += ["fru"] * 30 + ["xxx"] * 30
    data = tmp_path / "IEMOCAP_full_release"
    for session in range(1, 6):
        folder = data / f"Session{session}" / "dialog" / "EmoEvaluation"
        folder.mkdir(parents=True)
        chunk = labels[session - 1 :: 5]
        lines = ["% header", ""]
        for i, label in enumerate(chunk):
            utt_id = f"Ses{session:02d}F_impro01_{'FM'[i % 2]}{i:03d}"
            lines += [f"[1.0 - 2.0]\t{utt_id}\t{label}\t[3, 3, 3]", ""]
        (folder / f"Ses{session:02d}F_impro01.txt").write_text("\n".join(lines))
    with pytest.raises(FileNotFoundError, match="transcription file"):
        prepare_iemocap(str(data), str(tmp_path / "out"))


def test_save_folder_inside_data_folder(corpus):
    data_folder, _ = corpus
    with pytest.raises(ValueError, match="inside data_folder"):
        prepare(data_folder, os.path.join(data_folder, "prepared"))


def test_cli(corpus, tmp_path):
    data_folder, _ = corpus
    save = tmp_path / "cli"
    paths = main(
        [
            "--data_folder",
            data_folder,
            "--save_folder",
            str(save),
            "--protocol",
            "session",
            "--fold",
            "3",
            "--no_check_counts",
            "--improvised_only",
        ]
    )
    test = load(paths["test"])
    assert {e["spk_id"] for e in test.values()} == {"Ses03F", "Ses03M"}
    assert all(e["improvised"] for e in test.values())
    options = load(save / "prepare_options.json")
    assert options["protocol"] == "session"
    assert options["improvised_only"] is True


def test_subset_and_empty_split(tmp_path):
    data_folder, _ = make_iemocap(tmp_path / "data", sessions=(1, 2, 3, 4))
    paths = prepare(data_folder, tmp_path / "ok", protocol="session", fold=1)
    assert len(load(paths["all"])) == 40
    with pytest.raises(ValueError, match="test split of fold 5"):
        prepare(data_folder, tmp_path / "bad", protocol="session", fold=5)
    assert not (tmp_path / "bad").exists()
