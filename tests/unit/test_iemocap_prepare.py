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
from tests.file_checks import load_json
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
    manifest = load_json(paths["all"])
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
    counts = collections.Counter(
        e["emo"] for e in load_json(paths["all"]).values()
    )
    assert counts == {"exc": 10, "fru": 5}


def test_entries_and_speaker_from_utterance_id(corpus, tmp_path):
    data_folder, expected = corpus
    manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
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
        assert entry["duration"] == pytest.approx(0.12)
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
        manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
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
    splits = {
        name: load_json(paths[name]) for name in ("train", "valid", "test")
    }
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


def _every_fold(data_folder, tmp_path, protocol):
    """{fold: speakers of each split} of every fold of ``protocol``.

    Each fold's splits are disjoint and complete; the test sets of the
    folds hold every utterance once.
    """
    folds, tested, all_ids = {}, [], None
    for fold in list_folds(protocol):
        paths = prepare(
            data_folder, tmp_path / f"f{fold}", protocol=protocol, fold=fold
        )
        all_ids = set(load_json(paths["all"]))
        splits, folds[fold] = _check_split(paths, all_ids)
        tested.append(set(splits["test"]))
    assert sum(len(t) for t in tested) == len(all_ids)
    assert set().union(*tested) == all_ids
    return folds


def test_speaker_protocol_folds(corpus, tmp_path):
    data_folder, _ = corpus
    assert list_folds("speaker") == list(range(1, 11))
    for fold, speakers in _every_fold(data_folder, tmp_path, "speaker").items():
        test_spk = IEMOCAP_SPEAKERS[fold - 1]
        other = test_spk[:5] + ("M" if test_spk[-1] == "F" else "F")
        assert speakers["test"] == {test_spk}
        assert speakers["valid"] == {other}
        assert len(speakers["train"]) == 8


def test_session_protocol_folds(corpus, tmp_path):
    data_folder, _ = corpus
    assert list_folds("session") == [1, 2, 3, 4, 5]
    for fold, speakers in _every_fold(data_folder, tmp_path, "session").items():
        assert speakers["test"] == {f"Ses{fold:02d}F", f"Ses{fold:02d}M"}
        assert speakers["valid"] == {f"Ses{fold % 5 + 1:02d}F"}
        assert len(speakers["train"]) == 7


def test_valid_speaker_override(corpus, tmp_path):
    data_folder, _ = corpus
    paths = prepare(
        data_folder,
        tmp_path / "out",
        protocol="session",
        fold=2,
        valid_speaker="Ses04M",
    )
    _, speakers = _check_split(paths, set(load_json(paths["all"])))
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
    all_ids = set(load_json(paths["all"]))
    splits = {n: set(load_json(paths[n])) for n in ("train", "valid", "test")}
    assert [len(splits[n]) for n in ("train", "valid", "test")] == [30, 10, 10]
    assert not splits["train"] & splits["valid"]
    assert not splits["train"] & splits["test"]
    assert not splits["valid"] & splits["test"]
    assert set().union(*splits.values()) == all_ids
    # Speaker-dependent: test speakers are also seen in training.
    train_spk = {e["spk_id"] for e in load_json(paths["train"]).values()}
    test_spk = {e["spk_id"] for e in load_json(paths["test"]).values()}
    assert test_spk & train_spk
    same = prepare(
        data_folder, tmp_path / "b", protocol="random", split_ratio=(60, 20, 20)
    )
    assert load_json(same["test"]) == load_json(paths["test"])
    other = prepare(
        data_folder,
        tmp_path / "c",
        protocol="random",
        split_ratio=(60, 20, 20),
        seed=7,
    )
    assert set(load_json(other["test"])) != splits["test"]
    with pytest.raises(ValueError, match="single fold"):
        prepare(data_folder, tmp_path / "d", protocol="random", fold=2)


@pytest.mark.parametrize(
    "protocol, options",
    [
        ("speaker", {}),
        ("session", {}),
        # 25 utterances in 4 classes: each stratified split needs at least
        # 4 utterances (80/10/10 would leave 2 for validation)
        ("random", {"split_ratio": (60, 20, 20)}),
        ("random_kfold", {"valid_percent": 20}),
    ],
)
def test_improvised_only(corpus, tmp_path, protocol, options):
    data_folder, expected = corpus
    paths = prepare(
        data_folder,
        tmp_path / "out",
        protocol=protocol,
        improvised_only=True,
        **options,
    )
    manifest = load_json(paths["all"])
    assert len(manifest) == 25
    assert all(e["improvised"] for e in manifest.values())
    assert all("impro" in utt_id for utt_id in manifest)
    splits = [load_json(paths[n]) for n in ("train", "valid", "test")]
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

    test_fold1 = load_json(paths["test"])
    prepare(data_folder, save, protocol="session", fold=2)
    assert all(os.stat(p).st_mtime_ns != 10**18 for p in files)
    assert load_json(paths["test"]) != test_fold1
    assert {e["spk_id"] for e in load_json(paths["test"]).values()} == {
        "Ses02F",
        "Ses02M",
    }
    assert load_json(save / "prepare_options.json")["fold"] == 2


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
    assert len(load_json(paths["all"])) == 50


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
    assert len(load_json(prepare(data_folder, tmp_path / "out")["all"])) == 50


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


def _count_table(error):
    """{class: [full-release count, count found]} of a count-check error."""
    return {
        line.split()[0]: line.split()[-2:]
        for line in str(error.value).splitlines()
        if line.startswith("  ")
    }


# {class: [full-release count, count in the tiny corpus]}, exc merged
MERGED_COUNTS = {
    "class": ["expected", "found"],
    "neu": ["1708", "10"],
    "hap": ["1636", "20"],
    "ang": ["1103", "10"],
    "sad": ["1084", "10"],
    "total": ["5531", "50"],
}


@pytest.mark.parametrize(
    "options, named, changed",
    [
        ({}, "check_counts=False", {}),
        # without the label map exc is not a class: hap is counted alone
        (
            {"label_map": {}},
            "label_map {}",
            {"hap": ["595", "10"], "total": ["4490", "40"]},
        ),
    ],
)
def test_count_check_failure_message(corpus, tmp_path, options, named, changed):
    data_folder, _ = corpus
    with pytest.raises(ValueError) as error:
        prepare_iemocap(data_folder, str(tmp_path / "out"), **options)
    assert named in str(error.value)
    assert _count_table(error) == {**MERGED_COUNTS, **changed}
    assert not (tmp_path / "out").exists()


def test_count_check_passes_on_full_release_counts(tmp_path):
    # Label files only: the count check must pass and the preparation stop
    # at the first missing transcription file instead.
    counts = {"neu": 1708, "hap": 600, "exc": 1036, "ang": 1103, "sad": 1084}
    data = _label_only_release(tmp_path, counts)
    with pytest.raises(FileNotFoundError, match="transcription file"):
        prepare_iemocap(data, str(tmp_path / "out"))


def test_save_folder_inside_data_folder(corpus):
    data_folder, _ = corpus
    with pytest.raises(ValueError, match="inside data_folder"):
        prepare(data_folder, os.path.join(data_folder, "prepared"))


def test_cli(corpus, tmp_path):
    data_folder, _ = corpus
    save = tmp_path / "cli"
    flags = "--protocol session --fold 3 --no_check_counts --improvised_only"
    paths = main(
        ["--data_folder", data_folder, "--save_folder", str(save)]
        + flags.split()
    )
    test = load_json(paths["test"])
    assert {e["spk_id"] for e in test.values()} == {"Ses03F", "Ses03M"}
    assert all(e["improvised"] for e in test.values())
    options = load_json(save / "prepare_options.json")
    assert options["protocol"] == "session"
    assert options["improvised_only"] is True


def test_subset_and_empty_split(tmp_path):
    data_folder, _ = make_iemocap(tmp_path / "data", sessions=(1, 2, 3, 4))
    paths = prepare(data_folder, tmp_path / "ok", protocol="session", fold=1)
    assert len(load_json(paths["all"])) == 40
    with pytest.raises(ValueError, match="test split of fold 5"):
        prepare(data_folder, tmp_path / "bad", protocol="session", fold=5)
    assert not (tmp_path / "bad").exists()


# Bad input (issue "Bad input and concurrency").


def test_empty_and_short_wavs_refused_by_name(corpus, tmp_path):
    data_folder, _ = corpus
    empty = iemocap_paths(data_folder, "Ses02F_impro01_F000")["wav"]
    short = iemocap_paths(data_folder, "Ses04M_script01_1_M000")["wav"]
    write_wav(empty, seconds=0)
    write_wav(short, seconds=10 / 16000)
    with pytest.raises(ValueError) as error:
        prepare(data_folder, tmp_path / "out")
    message = str(error.value)
    assert "2 IEMOCAP audio files are too short" in message
    assert f"{os.path.abspath(empty)} is too short: 0 samples" in message
    assert f"{os.path.abspath(short)} is too short: 10 samples" in message
    assert "fewer than 1600 samples" in message
    assert not (tmp_path / "out").exists()


def test_wav_shorter_than_its_segment_warns(tmp_path, caplog):
    # Wavs as long as their segment (1.25 s), except one truncated file.
    data_folder, _ = make_iemocap(tmp_path / "data", seconds=1.25)
    utt_id = "Ses02F_impro01_M000"
    paths = iemocap_paths(data_folder, utt_id)
    replace_in_file(
        paths["emo"], f"[3.5000 - 4.7500]\t{utt_id}", f"[1.50 - 3.94]\t{utt_id}"
    )
    write_wav(paths["wav"], seconds=0.94)
    with caplog.at_level(logging.WARNING):
        manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
    assert manifest[utt_id]["duration"] == pytest.approx(0.94)
    warnings = [r for r in caplog.records if "segment" in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("1 wav files are shorter than their")
    assert os.path.abspath(paths["wav"]) in message
    assert "0.94 s of audio for the 1.50-3.94 s segment" in message


_WORKER = """
import json, logging, os, sys, time
from speechbrain_ext.dataio.iemocap_prepare import prepare_iemocap
data, save, fold, go = sys.argv[1:]
messages = []
handler = logging.Handler()
handler.emit = lambda record: messages.append(record.getMessage())
logger = logging.getLogger("speechbrain_ext")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
while not os.path.exists(go):
    time.sleep(0.001)
paths = prepare_iemocap(
    data, save, protocol="session", fold=int(fold), check_counts=False
)
skipped = any("skipping preparation" in m for m in messages)
print(json.dumps({"paths": paths, "skipped": skipped}))
"""


def _run_at_once(data_folder, save, folds, go):
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, data_folder, save, str(fold), go],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for fold in folds
    ]
    time.sleep(1.5)  # let both import and wait for the start signal
    with open(go, "w"):
        pass
    # Read the manifests while the workers write them: a reader must never
    # see a half-written file.
    half_written = set()
    while any(worker.poll() is None for worker in workers):
        for name in os.listdir(save) if os.path.isdir(save) else []:
            if name.endswith(".json"):
                try:
                    load_json(os.path.join(save, name))
                except FileNotFoundError:
                    pass
                except ValueError:
                    half_written.add(name)
    assert not half_written
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    return results


@pytest.mark.parametrize("repeat", range(3))
def test_concurrent_preparations_into_one_folder(tmp_path, repeat):
    data_folder, _ = make_iemocap(tmp_path / "data", seconds=0.5)
    save = str(tmp_path / "shared")
    expected = {n: os.path.join(save, f"{n}.json") for n in ("train", "valid")}
    expected.update(
        {n: os.path.join(save, f"{n}.json") for n in ("test", "all")}
    )

    # Fold 1 and fold 2 at once: both succeed, the last one wins, and the
    # folder holds the complete manifests of one fold.
    results = _run_at_once(data_folder, save, [1, 2], str(tmp_path / "go1"))
    assert [r["paths"] for r in results] == [expected, expected]
    assert not any(r["skipped"] for r in results)
    manifests = {name: load_json(path) for name, path in expected.items()}
    fold = load_json(os.path.join(save, "prepare_options.json"))["fold"]
    assert fold in (1, 2)
    test_spk = {e["spk_id"] for e in manifests["test"].values()}
    valid_spk = {e["spk_id"] for e in manifests["valid"].values()}
    assert test_spk == {f"Ses0{fold}F", f"Ses0{fold}M"}
    assert valid_spk == {f"Ses0{fold + 1}F"}
    assert len(manifests["all"]) == 50
    assert sum(len(manifests[n]) for n in ("train", "valid", "test")) == 50
    assert sorted(os.listdir(save)) == sorted(
        ["all.json", "prepare_options.json", "test.json", "train.json"]
        + ["valid.json"]
    )

    # The same options at once: one prepares, the other waits and skips.
    other = str(tmp_path / "same")
    results = _run_at_once(data_folder, other, [3, 3], str(tmp_path / "go2"))
    assert sorted(r["skipped"] for r in results) == [False, True]
    for name in ("train", "valid", "test", "all"):
        assert load_json(os.path.join(other, f"{name}.json"))
    assert load_json(os.path.join(other, "prepare_options.json"))["fold"] == 3


def test_truncated_manifest_with_same_options_is_prepared_again(
    corpus, tmp_path, caplog
):
    data_folder, _ = corpus
    save = tmp_path / "out"
    paths = prepare(data_folder, save, protocol="session", fold=1)
    good = load_json(paths["valid"])
    with open(paths["valid"], encoding="utf-8") as f:
        text = f.read()
    with open(paths["valid"], "w", encoding="utf-8") as f:
        f.write(text[: len(text) // 3])
    with caplog.at_level(logging.INFO):
        prepare(data_folder, save, protocol="session", fold=1)
    assert paths["valid"] in caplog.text
    assert "skipping" not in caplog.text
    assert load_json(paths["valid"]) == good


def test_indented_utterance_line_is_read(corpus, tmp_path):
    data_folder, _ = corpus
    utt_id = "Ses03F_impro01_M000"
    emo_file = iemocap_paths(data_folder, utt_id)["emo"]
    replace_in_file(emo_file, "[3.5000 - 4.7500]", "  \t[3.5000 - 4.7500]")
    manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
    assert manifest[utt_id]["emo"] == "hap"
    assert len(manifest) == 50


def test_empty_session_and_speaker_without_utterances_warn(tmp_path, caplog):
    data_folder, _ = make_iemocap(tmp_path / "data", sessions=(1, 2, 4, 5))
    os.makedirs(os.path.join(data_folder, "Session3"))
    for dialog in ("Ses04F_impro01", "Ses04M_script01_1"):
        path = os.path.join(
            data_folder, "Session4", "dialog", "EmoEvaluation", dialog + ".txt"
        )
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(
                line
                for line in lines
                if not (line.startswith("[") and "_M00" in line)
            )
    with caplog.at_level(logging.WARNING):
        manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
    assert not any(e["spk_id"] == "Ses04M" for e in manifest.values())
    assert os.path.join(data_folder, "Session3") in caplog.text
    assert "session 3 is empty" in caplog.text
    assert "speaker Ses04M has no labelled utterance" in caplog.text
    assert "Ses04F has" not in caplog.text


@pytest.mark.parametrize(
    "ratio",
    [
        (float("nan"), 10, 10),
        (90, -5, 15),
        (80, 10, 5),
        (float("inf"), 10, 10),
        (100, 0, 0),
    ],
)
def test_split_ratio_checked_before_reading(corpus, tmp_path, ratio):
    data_folder, _ = corpus
    os.remove(iemocap_paths(data_folder, "Ses01F_impro01_F000")["wav"])
    with pytest.raises(ValueError, match="split_ratio"):
        prepare(
            data_folder, tmp_path / "out", protocol="random", split_ratio=ratio
        )
    assert not (tmp_path / "out").exists()


def test_cli_names_bad_arguments(corpus, tmp_path, capsys):
    data_folder, _ = corpus
    base = ["--data_folder", data_folder, "--protocol", "random"]
    with pytest.raises(SystemExit) as exit_info:
        main(
            base
            + ["--save_folder", str(tmp_path / "out"), "--no_check_counts"]
            + ["--split_ratio", "nan", "10", "10"]
        )
    assert exit_info.value.code == 2
    assert "split_ratio must be 3 finite" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(SystemExit):
        main(base + ["--save_folder", str(a_file), "--no_check_counts"])
    assert f"save_folder {a_file} is a file" in capsys.readouterr().err


def test_unicode_transcripts_give_plain_tokens():
    plain = normalize_transcript("HELLO CAFE")
    assert plain == "HELLO CAFE"
    assert normalize_transcript("ＨＥＬＬＯ café") == plain
    assert normalize_transcript("hello cafe\u0301") == plain
    assert normalize_transcript("［LAUGHTER］ ｈｅｌｌｏ") == "HELLO"


def test_emoji_only_transcript_warning(corpus, tmp_path, caplog):
    data_folder, expected = corpus
    utt_id = "Ses05F_impro01_F002"
    trn_file = iemocap_paths(data_folder, utt_id)["trn"]
    replace_in_file(
        trn_file, expected[utt_id]["text"], "\U0001f600 \U0001f389!"
    )
    with caplog.at_level(logging.WARNING):
        manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
    assert manifest[utt_id]["wrd"] == ""
    tags = [r.getMessage() for r in caplog.records if "tags" in r.getMessage()]
    assert tags == [
        "1 utterances have a transcript made only of tags and get an empty "
        f"wrd (e.g. {IEMOCAP_TAG_ONLY})"
    ]
    words = [r.getMessage() for r in caplog.records if "speakable" in r.msg]
    assert len(words) == 1
    assert words[0].startswith(
        "1 utterances have no speakable words after normalisation"
    )
    assert utt_id in words[0]


def test_latin1_transcript_decoded_with_a_warning(corpus, tmp_path, caplog):
    data_folder, _ = corpus
    utt_id = "Ses02F_impro01_M001"
    trn = iemocap_paths(data_folder, utt_id)["trn"]
    with open(trn, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    line_no = next(i for i, line in enumerate(lines, 1) if utt_id in line)
    lines[line_no - 1] = lines[line_no - 1].replace("really!", "CAFÉ au lait!")
    with open(trn, "w", encoding="latin-1") as f:
        f.write("".join(lines))
    with caplog.at_level(logging.WARNING):
        manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
    assert manifest[utt_id]["wrd"] == "OH I'M M001 CAFE AU LAIT"
    assert (
        f"{trn}, line {line_no}: byte b'\\xc9' is not UTF-8; {trn} is "
        "decoded as cp1252" in caplog.text
    )


def test_latin1_evaluation_file_decoded_with_a_warning(
    corpus, tmp_path, caplog
):
    data_folder, _ = corpus
    emo = iemocap_paths(data_folder, "Ses04F_impro01_F000")["emo"]
    replace_in_file(emo, "Other:calm", "Other:réservé")
    with open(emo, encoding="utf-8") as f:
        text = f.read()
    with open(emo, "w", encoding="latin-1") as f:
        f.write(text)
    line_no = text.splitlines().index("C-E3:\tNeutral;\tOther:réservé") + 1
    with caplog.at_level(logging.WARNING):
        manifest = load_json(prepare(data_folder, tmp_path / "out")["all"])
    assert manifest["Ses04F_impro01_F000"]["emo"] == "neu"
    assert len(manifest) == 50
    assert f"{emo}, line {line_no}: byte b'\\xe9' is not UTF-8" in caplog.text


def test_text_file_neither_utf8_nor_cp1252_refused(corpus, tmp_path):
    data_folder, _ = corpus
    trn = iemocap_paths(data_folder, "Ses01F_impro01_F000")["trn"]
    with open(trn, "ab") as f:
        f.write(b"Ses01F_impro01_F099 [001.0000-002.0000]: \x81\n")
    with open(trn, "rb") as f:
        line_no = f.read().count(b"\n")
    with pytest.raises(ValueError) as error:
        prepare(data_folder, tmp_path / "out")
    assert str(error.value).startswith(
        f"{trn}, line {line_no}: byte b'\\x81' is not UTF-8, and {trn} is not "
        f"cp1252 either (line {line_no}: byte b'\\x81')"
    )
    assert not (tmp_path / "out").exists()


# Speaker-dependent protocols, label maps and long utterances.


def _class_counts(split):
    return collections.Counter(e["emo"] for e in split.values())


def _assert_stratified(part, whole, size=None):
    """Each class of ``part`` is within one utterance of its ideal share."""
    size = len(part) if size is None else size
    whole_counts = _class_counts(whole)
    part_counts = _class_counts(part)
    for emo, n in whole_counts.items():
        ideal = n * size / len(whole)
        assert abs(part_counts[emo] - ideal) < 1, (emo, part_counts, ideal)


@pytest.mark.parametrize("n_folds", [3, 5])
def test_random_kfold_is_stratified_disjoint_and_covering(
    corpus, tmp_path, n_folds
):
    data_folder, _ = corpus
    assert list_folds("random_kfold", n_folds) == list(range(1, n_folds + 1))
    tested = []
    for fold in list_folds("random_kfold", n_folds):
        paths = prepare(
            data_folder,
            tmp_path / f"f{fold}",
            protocol="random_kfold",
            n_folds=n_folds,
            fold=fold,
            valid_percent=20,
        )
        whole = load_json(paths["all"])
        splits = {n: load_json(paths[n]) for n in ("train", "valid", "test")}
        ids = [set(split) for split in splits.values()]
        assert sum(len(i) for i in ids) == len(whole) == 50
        assert set().union(*ids) == set(whole)
        # The test part: a k-th of every class (within one utterance)
        _assert_stratified(splits["test"], whole, len(whole) / n_folds)
        # Validation: valid_percent of the rest, stratified too
        rest = {**splits["train"], **splits["valid"]}
        assert len(splits["valid"]) == round(len(rest) * 0.2)
        _assert_stratified(splits["valid"], rest)
        # Speaker-dependent: the test speakers also train
        train_spk = {e["spk_id"] for e in splits["train"].values()}
        test_spk = {e["spk_id"] for e in splits["test"].values()}
        assert test_spk & train_spk
        tested.append(set(splits["test"]))
    # Every utterance is tested by exactly one fold
    assert sum(len(t) for t in tested) == 50
    assert set().union(*tested) == set(whole)


def test_random_kfold_seeded(corpus, tmp_path):
    data_folder, _ = corpus
    first = prepare(data_folder, tmp_path / "a", protocol="random_kfold")
    again = prepare(data_folder, tmp_path / "b", protocol="random_kfold")
    other = prepare(
        data_folder, tmp_path / "c", protocol="random_kfold", seed=7
    )
    for name in ("train", "valid", "test"):
        assert load_json(first[name]) == load_json(again[name])
    assert set(load_json(other["test"])) != set(load_json(first["test"]))
    options = load_json(tmp_path / "a" / "prepare_options.json")
    assert (options["protocol"], options["n_folds"]) == ("random_kfold", 5)
    assert options["valid_percent"] == 10


@pytest.mark.parametrize(
    "options, message",
    [
        ({"fold": 6}, "fold 6 does not exist for protocol 'random_kfold' "),
        ({"n_folds": 1}, "n_folds must be an integer of at least 2, got 1"),
        ({"valid_speaker": "Ses01F"}, "valid_speaker is not used by the"),
        ({"valid_percent": 0}, "valid_percent must be a percentage"),
        ({"valid_percent": 100}, "valid_percent must be a percentage"),
        ({"valid_percent": float("nan")}, "valid_percent must be"),
        ({"max_utterance_seconds": 0}, "max_utterance_seconds must be a"),
        ({"max_utterance_seconds": -3.0}, "max_utterance_seconds must be"),
        ({"max_utterance_seconds": float("inf")}, "max_utterance_seconds"),
    ],
)
def test_random_kfold_arguments_checked_before_reading(
    corpus, tmp_path, options, message
):
    data_folder, _ = corpus
    os.remove(iemocap_paths(data_folder, "Ses01F_impro01_F000")["wav"])
    with pytest.raises(ValueError) as error:
        prepare(
            data_folder, tmp_path / "out", protocol="random_kfold", **options
        )
    assert str(error.value).startswith(message)
    assert not (tmp_path / "out").exists()


def test_random_kfold_class_smaller_than_n_folds(corpus, tmp_path):
    data_folder, _ = corpus
    with pytest.raises(ValueError) as error:
        prepare(
            data_folder, tmp_path / "out", protocol="random_kfold", n_folds=11
        )
    assert str(error.value) == (
        "the 'random_kfold' protocol with n_folds=11 needs at least 11 "
        "utterances of every class (one per test fold); these classes have "
        "fewer: {'ang': 10, 'neu': 10, 'sad': 10}"
    )


@pytest.mark.parametrize("ratio", [(60, 20, 20), (80, 10, 10)])
def test_random_protocol_is_stratified(corpus, tmp_path, ratio):
    data_folder, _ = corpus
    for seed in range(6):
        paths = prepare(
            data_folder,
            tmp_path / f"{seed}",
            protocol="random",
            split_ratio=ratio,
            seed=seed,
        )
        whole = load_json(paths["all"])
        splits = {n: load_json(paths[n]) for n in ("train", "valid", "test")}
        sizes = [len(splits[n]) for n in ("train", "valid", "test")]
        assert sizes == [round(50 * r / 100) for r in ratio]
        _assert_stratified(splits["test"], whole)
        rest = {**splits["train"], **splits["valid"]}
        _assert_stratified(splits["valid"], rest)
        _assert_stratified(splits["train"], rest)


def test_random_split_too_small_to_stratify(corpus, tmp_path):
    data_folder, _ = corpus
    with pytest.raises(ValueError) as error:
        prepare(
            data_folder,
            tmp_path / "out",
            protocol="random",
            improvised_only=True,
        )
    assert str(error.value).startswith(
        "the train + valid and test splits (22 and 3 of 25 utterances, "
        "classes {'ang': 5, 'hap': 10, 'neu': 5, 'sad': 5}) cannot be "
        "stratified by emotion"
    )
    assert not (tmp_path / "out").exists()


def test_improvised_label_map_with_and_without_exc(corpus, tmp_path):
    data_folder, expected = corpus
    impro = {u: i for u, i in expected.items() if i["improvised"]}
    # Without exc (the set of Feng et al.'s Table 4): exc is dropped
    paper = load_json(
        prepare(
            data_folder,
            tmp_path / "no_exc",
            improvised_only=True,
            label_map={},
        )["all"]
    )
    assert set(paper) == {
        u
        for u, i in impro.items()
        if i["label"] in ("neu", "hap", "sad", "ang")
    }
    assert len(paper) == 20
    assert all(paper[u]["emo"] == impro[u]["label"] for u in paper)
    assert _class_counts(paper) == {"neu": 5, "hap": 5, "sad": 5, "ang": 5}
    # With exc merged (the default): exc utterances become hap
    merged = load_json(
        prepare(data_folder, tmp_path / "exc", improvised_only=True)["all"]
    )
    excited = {u for u, i in impro.items() if i["label"] == "exc"}
    assert len(excited) == 5 and excited <= set(merged)
    assert set(merged) == set(paper) | excited
    assert all(merged[u]["emo"] == "hap" for u in excited)
    assert _class_counts(merged) == {"neu": 5, "hap": 10, "sad": 5, "ang": 5}


def _label_only_release(root, counts):
    """EmoEvaluation files only, with the given label counts."""
    labels = [label for label, n in counts.items() for _ in range(n)]
    labels += ["fru"] * 30 + ["xxx"] * 30
    data = root / "IEMOCAP_full_release"
    for session in range(1, 6):
        folder = data / f"Session{session}" / "dialog" / "EmoEvaluation"
        folder.mkdir(parents=True)
        chunk = labels[session - 1 :: 5]
        lines = ["% header", ""]
        for i, label in enumerate(chunk):
            utt_id = f"Ses{session:02d}F_impro01_{'FM'[i % 2]}{i:03d}"
            lines += [f"[1.0 - 2.0]\t{utt_id}\t{label}\t[3, 3, 3]", ""]
        (folder / f"Ses{session:02d}F_impro01.txt").write_text("\n".join(lines))
    return str(data)


@pytest.mark.parametrize("label_map", [{}, {"exc": "hap"}])
def test_count_check_passes_on_full_release_counts_of_each_label(
    tmp_path, label_map
):
    counts = {"neu": 1708, "hap": 595, "exc": 1041, "ang": 1103, "sad": 1084}
    data = _label_only_release(tmp_path, counts)
    # The count check passes; the preparation stops at the first missing
    # transcription file instead.
    with pytest.raises(FileNotFoundError, match="transcription file"):
        prepare_iemocap(data, str(tmp_path / "out"), label_map=label_map)
    # hap 600 + exc 1036: right once merged, wrong with exc apart
    counts.update(hap=600, exc=1036)
    data = _label_only_release(tmp_path / "shifted", counts)
    error = FileNotFoundError if label_map else ValueError
    with pytest.raises(error):
        prepare_iemocap(data, str(tmp_path / "out"), label_map=label_map)


def test_count_check_skips_classes_of_unknown_count(corpus, tmp_path, caplog):
    data_folder, _ = corpus
    with caplog.at_level(logging.WARNING):
        with pytest.raises(ValueError) as error:
            prepare_iemocap(
                data_folder,
                str(tmp_path / "out"),
                label_map={"exc": "hap", "fru": "ang"},
            )
    # ang gathers fru, whose full-release count is not checked
    lines = _count_table(error)
    assert set(lines) == {"class", "neu", "hap", "sad", "total"}
    assert lines["total"] == ["4428", "40"]
    assert (
        "check_counts: the full-release counts of ang are not known"
        in caplog.text
    )


def _long_utterances(data_folder):
    """Make three utterances 20.5 s long and one exactly 20 s long."""
    long = [
        "Ses01F_impro01_M000",
        "Ses03M_script01_1_F001",
        "Ses05F_impro01_F002",
    ]
    for utt_id in long:
        write_wav(iemocap_paths(data_folder, utt_id)["wav"], seconds=20.5)
    limit = "Ses02F_impro01_M001"
    write_wav(iemocap_paths(data_folder, limit)["wav"], seconds=20.0)
    return set(long), limit


@pytest.mark.parametrize(
    "protocol, options",
    [
        ("session", {"fold": 1}),
        ("speaker", {"fold": 10}),
        ("random", {"split_ratio": (60, 20, 20)}),
        ("random_kfold", {"fold": 2}),
    ],
)
def test_long_utterances_left_out_of_every_split(
    corpus, tmp_path, caplog, protocol, options
):
    data_folder, _ = corpus
    long, limit = _long_utterances(data_folder)
    # Default: every utterance is kept
    kept = load_json(
        prepare(data_folder, tmp_path / "all", protocol=protocol, **options)[
            "all"
        ]
    )
    assert long <= set(kept) and len(kept) == 50
    with caplog.at_level(logging.INFO):
        paths = prepare(
            data_folder,
            tmp_path / "out",
            protocol=protocol,
            max_utterance_seconds=20.0,
            **options,
        )
    manifests = {
        n: load_json(paths[n]) for n in ("train", "valid", "test", "all")
    }
    assert set(manifests["all"]) == set(kept) - long
    for name, manifest in manifests.items():
        assert not long & set(manifest), name
        assert all(e["duration"] <= 20.0 for e in manifest.values())
    assert manifests["all"][limit]["duration"] == 20.0
    splits = [set(manifests[n]) for n in ("train", "valid", "test")]
    assert sum(len(s) for s in splits) == 47
    assert set().union(*splits) == set(manifests["all"])
    assert "3 utterances longer than 20.0 s are left out of every split" in (
        caplog.text
    )
    options_file = load_json(tmp_path / "out" / "prepare_options.json")
    assert options_file["max_utterance_seconds"] == 20.0


def test_cross_validation_folds_match_the_protocols():
    from speechbrain_ext.utils.cross_validation import PROTOCOL_FOLDS

    for protocol in ("speaker", "session", "random", "random_kfold"):
        assert PROTOCOL_FOLDS[protocol] == list_folds(protocol)


def test_cli_random_kfold_label_map_and_long_utterances(corpus, tmp_path):
    data_folder, _ = corpus
    long, _ = _long_utterances(data_folder)
    save = tmp_path / "cli"
    flags = (
        "--protocol random_kfold --n_folds 3 --fold 2 --valid_percent 20 "
        "--max_utterance_seconds 20 --label_map --no_check_counts"
    )
    paths = main(
        ["--data_folder", data_folder, "--save_folder", str(save)]
        + flags.split()
    )
    manifest = load_json(paths["all"])
    assert not long & set(manifest)
    assert "exc" not in {e["emo"] for e in manifest.values()}
    options = load_json(save / "prepare_options.json")
    assert options["label_map"] == {}
    assert (options["n_folds"], options["fold"]) == (3, 2)
    assert options["valid_percent"] == 20.0
    assert options["max_utterance_seconds"] == 20.0
