import logging
import os

import pytest

from speechbrain_ext.dataio.librispeech_prepare import (
    main,
    prepare_librispeech,
)
from speechbrain_ext.dataio.word_tokens import (
    build_word_vocabulary,
    load_word_vocabulary,
)
from tests.file_checks import load_json
from tests.fixtures_corpora import make_librispeech, write_wav

SPLITS = ["train-clean-100", "dev-clean"]


@pytest.fixture
def corpus(tmp_path):
    return make_librispeech(tmp_path / "data")


def test_manifests(corpus, tmp_path):
    data_folder, expected = corpus
    paths = prepare_librispeech(data_folder, str(tmp_path / "out"), SPLITS)
    assert paths == {s: str(tmp_path / "out" / f"{s}.json") for s in SPLITS}
    for split in SPLITS:
        manifest = load_json(paths[split])
        assert set(manifest) == set(expected[split])
        for utt_id, entry in manifest.items():
            assert set(entry) == {"wav", "duration", "spk_id", "wrd"}
            assert entry["spk_id"] == expected[split][utt_id]["spk_id"]
            assert entry["wrd"] == expected[split][utt_id]["wrd"]
            spk, chapter, _ = utt_id.split("-")
            assert entry["wav"] == os.path.abspath(
                os.path.join(data_folder, split, spk, chapter, utt_id + ".flac")
            )
            assert entry["duration"] == pytest.approx(0.12)
    assert (
        load_json(paths["train-clean-100"])["26-495-0001"]["wrd"]
        == "DOG AND CAT"
    )


def test_missing_split(corpus, tmp_path):
    data_folder, _ = corpus
    with pytest.raises(FileNotFoundError) as error:
        prepare_librispeech(data_folder, str(tmp_path / "out"))
    assert os.path.join(data_folder, "test-clean") in str(error.value)


def test_audio_without_transcript(corpus, tmp_path):
    data_folder, _ = corpus
    extra = os.path.join(
        data_folder, "dev-clean", "84", "121123", "84-121123-0009.flac"
    )
    write_wav(extra, file_format="FLAC")
    with pytest.raises(ValueError) as error:
        prepare_librispeech(data_folder, str(tmp_path / "out"), SPLITS)
    assert os.path.abspath(extra) in str(error.value)
    assert "84-121123.trans.txt" in str(error.value)


def test_missing_transcript_file(corpus, tmp_path):
    data_folder, _ = corpus
    trans = os.path.join(
        data_folder, "dev-clean", "84", "121123", "84-121123.trans.txt"
    )
    os.remove(trans)
    with pytest.raises(ValueError) as error:
        prepare_librispeech(data_folder, str(tmp_path / "out"), SPLITS)
    assert trans in str(error.value)
    assert "missing" in str(error.value)


def test_transcript_without_audio(corpus, tmp_path):
    data_folder, _ = corpus
    folder = os.path.join(data_folder, "train-clean-100", "26", "495")
    os.remove(os.path.join(folder, "26-495-0000.flac"))
    with pytest.raises(ValueError) as error:
        prepare_librispeech(data_folder, str(tmp_path / "out"), SPLITS)
    assert os.path.abspath(os.path.join(folder, "26-495.trans.txt")) in str(
        error.value
    )
    assert "26-495-0000" in str(error.value)


def _rewritten_flac_error(corpus, tmp_path, name, **audio):
    """The preparation's error once a dev-clean file is rewritten.

    Returns the file's absolute path and the message.
    """
    data_folder, _ = corpus
    flac = os.path.join(data_folder, "dev-clean", "84", "121123", name)
    write_wav(flac, file_format="FLAC", **audio)
    with pytest.raises(ValueError) as error:
        prepare_librispeech(data_folder, str(tmp_path / "out"), SPLITS)
    return os.path.abspath(flac), str(error.value)


def test_non_16k(corpus, tmp_path):
    flac, message = _rewritten_flac_error(
        corpus, tmp_path, "84-121123-0000.flac", sample_rate=8000
    )
    assert flac in message
    assert "8000" in message


def test_idempotent(corpus, tmp_path, caplog):
    data_folder, _ = corpus
    save = tmp_path / "out"
    paths = prepare_librispeech(data_folder, str(save), SPLITS)
    files = list(paths.values()) + [str(save / "prepare_options.json")]
    for path in files:
        os.utime(path, ns=(10**18, 10**18))
    with caplog.at_level(logging.INFO):
        assert prepare_librispeech(data_folder, str(save), SPLITS) == paths
    assert "skipping" in caplog.text
    assert all(os.stat(p).st_mtime_ns == 10**18 for p in files)
    again = prepare_librispeech(data_folder, str(save), ["dev-clean"])
    assert os.stat(again["dev-clean"]).st_mtime_ns != 10**18
    assert load_json(save / "prepare_options.json")["splits"] == ["dev-clean"]


def _words(vocabulary):
    return vocabulary.decode_ndim(range(len(vocabulary)))


def test_vocabulary(corpus, tmp_path):
    data_folder, _ = corpus
    paths = prepare_librispeech(data_folder, str(tmp_path / "out"), SPLITS)
    vocab_file = str(tmp_path / "vocab" / "words.txt")
    # Counts in train-clean-100: THE 3, CAT 3, DOG 2, then A, AND, AWAY,
    # END, RAN, SAT once each (ties ordered alphabetically).
    vocab = build_word_vocabulary([paths["train-clean-100"]], 4, vocab_file)
    assert _words(vocab) == ["<unk>", "CAT", "THE", "DOG", "A"]
    assert _words(load_word_vocabulary(vocab_file)) == _words(vocab)
    both = build_word_vocabulary(list(paths.values()), 3)
    assert _words(both) == ["<unk>", "THE", "CAT", "DOG"]
    full = build_word_vocabulary(paths["train-clean-100"], 100, eos=True)
    assert len(full) == 1 + 9 + 1 and _words(full)[-1] == "<eos>"
    ids = vocab.encode_sequence("THE CAT ATE A FISH".split())
    assert ids == [2, 1, 0, 4, 0]
    assert vocab.encode_sequence([]) == []
    with pytest.raises(ValueError, match="top_n"):
        build_word_vocabulary(paths["dev-clean"], 0)


def test_cli(corpus, tmp_path):
    data_folder, _ = corpus
    cli = ["--data_folder", data_folder, "--save_folder", str(tmp_path / "cli")]
    paths = main(cli + "--splits train-clean-100 dev-clean".split())
    assert sorted(paths) == ["dev-clean", "train-clean-100"]
    assert len(load_json(paths["dev-clean"])) == 2


def test_short_flac_refused_by_name(corpus, tmp_path):
    flac, message = _rewritten_flac_error(
        corpus, tmp_path, "84-121123-0001.flac", seconds=10 / 16000
    )
    assert f"{flac} is too short: 10 samples" in message
    assert not (tmp_path / "out").exists()


def test_unicode_transcripts_give_plain_tokens(tmp_path):
    texts = {
        "dev-clean": {
            ("84", "121"): ["ＨＥＬＬＯ café", "hello cafe\u0301", "HELLO CAFE"]
        }
    }
    data_folder, _ = make_librispeech(tmp_path / "data", texts=texts)
    paths = prepare_librispeech(
        data_folder, str(tmp_path / "out"), ["dev-clean"]
    )
    words = {e["wrd"] for e in load_json(paths["dev-clean"]).values()}
    assert words == {"HELLO CAFE"}


def test_stereo_flac_refused_by_name(corpus, tmp_path):
    flac, message = _rewritten_flac_error(
        corpus, tmp_path, "84-121123-0001.flac", channels=2
    )
    assert message == f"{flac} has 2 channels; LibriSpeech files are mono"
    assert not (tmp_path / "out").exists()


def test_transcript_not_utf8_named_with_line(corpus, tmp_path):
    data_folder, _ = corpus
    trans = os.path.join(
        data_folder, "train-clean-100", "19", "198", "19-198.trans.txt"
    )
    with open(trans, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"DOG", "DÖG".encode("latin-1"))
    with open(trans, "wb") as f:
        f.write(b"".join(lines))
    with pytest.raises(ValueError) as error:
        prepare_librispeech(data_folder, str(tmp_path / "out"), SPLITS)
    assert str(error.value) == (
        f"{os.path.abspath(trans)}, line 2: byte b'\\xd6' is not UTF-8; save "
        "the file as UTF-8"
    )
    assert not (tmp_path / "out").exists()
