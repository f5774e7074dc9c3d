"""Word vocabularies: SpeechBrain's TextEncoder, built, saved and loaded."""

import collections
import json
import random

import pytest
from speechbrain.dataio.encoder import CategoricalEncoder, TextEncoder

from speechbrain_ext.dataio.word_tokens import (
    EOS,
    UNK,
    add_word_tokens,
    build_word_vocabulary,
    load_word_vocabulary,
    save_word_vocabulary,
    word_vocabulary,
)


def _words(vocabulary):
    return vocabulary.decode_ndim(range(len(vocabulary)))


def _ranked(texts, top_n):
    """The former vocabulary: <unk>, then by count, ties alphabetically."""
    counts = collections.Counter(
        w for text in texts for w in text.split() if w != UNK
    )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [UNK] + [word for word, _ in ranked[:top_n]]


@pytest.fixture
def manifest(tmp_path):
    """Transcripts whose words have many equal counts."""
    rng = random.Random(0)
    pool = [f"W{i:02d}" for i in range(40)] + ["ZED", "ALPHA", UNK]
    texts = [
        " ".join(rng.choice(pool) for _ in range(rng.randint(1, 6)))
        for _ in range(60)
    ]
    path = tmp_path / "train.json"
    path.write_text(
        json.dumps({f"u{i}": {"wrd": t} for i, t in enumerate(texts)})
    )
    return path, texts


@pytest.mark.parametrize("top_n", [1, 5, 17, 40, 1000])
def test_build_keeps_the_ids_of_the_counting_ranking(manifest, top_n):
    path, texts = manifest
    vocabulary = build_word_vocabulary(str(path), top_n)
    assert _words(vocabulary) == _ranked(texts, top_n)
    with_eos = build_word_vocabulary(str(path), top_n, eos=True)
    assert _words(with_eos) == _ranked(texts, top_n) + [EOS]
    assert with_eos.bos_label == with_eos.eos_label == EOS


def test_saved_vocabulary_loads_back(tmp_path):
    vocabulary = word_vocabulary(["THE", "CAT"], eos=True)
    path = tmp_path / "new" / "vocabulary.txt"
    save_word_vocabulary(vocabulary, str(path))
    loaded = load_word_vocabulary(str(path))
    assert loaded.lab2ind == vocabulary.lab2ind
    assert loaded.encode_sequence("THE DOG".split()) == [1, 0]
    assert loaded.prepend_bos_index([1]) == [3, 1]
    assert sorted(p.name for p in path.parent.iterdir()) == ["vocabulary.txt"]


def test_word_list_files_are_read(tmp_path):
    path = tmp_path / "vocabulary.txt"
    path.write_text(f"{UNK}\nTHE\nCAT\n{EOS}\n")
    loaded = load_word_vocabulary(str(path))
    assert _words(loaded) == [UNK, "THE", "CAT", EOS]
    assert loaded.eos_label == EOS and add_word_tokens([], loaded) == 3
    path.write_text(f"{UNK}\nTHE\n")
    assert not hasattr(load_word_vocabulary(str(path)), "eos_label")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("THE\n<unk>\n", "starts with <unk>"),
        ("<unk>\nTHE\nTHE\n", "neither a saved TextEncoder nor a list"),
        ("<unk>\nTHE CAT\n", "neither a saved TextEncoder nor a list"),
        ("'THE' => 0\n", "neither a saved TextEncoder nor a list"),
    ],
)
def test_bad_files_are_refused_by_name(tmp_path, text, message):
    path = tmp_path / "vocabulary.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        load_word_vocabulary(str(path))
    assert str(path) in str(error.value)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "none.txt")):
        load_word_vocabulary(str(tmp_path / "none.txt"))


def test_word_tokens_need_eos():
    with pytest.raises(ValueError, match="no <eos>"):
        add_word_tokens([], word_vocabulary(["A"]))


def test_vocabulary_ranks_words_whatever_textencoder_overrides(
    tmp_path, monkeypatch
):
    # TextEncoder.limited_labelset_from_iterable on SpeechBrain's
    # development branch (commit 9c826ef) ignores its arguments: it treats
    # every label as a sequence and keeps all of them
    def development_override(
        self, iterable, sequence_input=True, n_most_common=None, min_count=1
    ):
        return CategoricalEncoder.limited_labelset_from_iterable(
            self, iterable, sequence_input=True
        )

    monkeypatch.setattr(
        TextEncoder, "limited_labelset_from_iterable", development_override
    )
    manifest = tmp_path / "train.json"
    manifest.write_text(
        json.dumps({"a": {"wrd": "THE CAT SAT"}, "b": {"wrd": "THE DOG SAT"}})
    )
    vocabulary = build_word_vocabulary(str(manifest), 2)
    assert vocabulary.decode_ndim(range(len(vocabulary))) == [
        "<unk>",
        "SAT",
        "THE",
    ]
