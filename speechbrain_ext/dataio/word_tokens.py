"""Word vocabularies and the word-level targets of encoder-decoder ASR.

A word vocabulary is SpeechBrain's ``TextEncoder``: ``<unk>`` at index 0,
then the most frequent words of the training transcripts (most frequent
first, words of equal count in alphabetical order) and, for a decoder, one
``<eos>`` label used both as beginning- and end-of-sentence (the last
index). It is saved and loaded in the ``TextEncoder`` file format
(:func:`save_word_vocabulary`, :func:`load_word_vocabulary`); a file of
one word per line, in index order, is read too.

``load_or_create`` of ``TextEncoder`` is not used: it keeps every label in
the order met, where a vocabulary keeps the ``top_n`` most frequent words
after ``<unk>``.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import functools
import json
import os

import speechbrain as sb
import torch
from speechbrain.dataio.encoder import CategoricalEncoder, TextEncoder

from speechbrain_ext.dataio.preparation import atomic_path

UNK = "<unk>"
EOS = "<eos>"


def word_vocabulary(words, eos=False):
    """A vocabulary of the given words: ``<unk>``, ``words``, ``<eos>``.

    Arguments
    ---------
    words : iterable of str
        The words, in index order (without ``<unk>`` and ``<eos>``).
    eos : bool
        Append ``<eos>`` (bos and eos of a decoder).

    Returns
    -------
    speechbrain.dataio.encoder.TextEncoder
        The vocabulary.

    Example
    -------
    >>> vocabulary = word_vocabulary(["THE", "CAT"], eos=True)
    >>> vocabulary.encode_sequence("THE DOG".split()), len(vocabulary)
    ([1, 0], 4)
    >>> vocabulary.decode_ndim([2, 3])
    ['CAT', '<eos>']
    """
    vocabulary = TextEncoder()
    vocabulary.add_unk(UNK)
    vocabulary.update_from_iterable(words, sequence_input=False)
    if eos:
        vocabulary.add_bos_eos(bos_label=EOS, eos_label=EOS)
    return vocabulary


def build_word_vocabulary(manifest_paths, top_n, save_path=None, eos=False):
    """Builds a word vocabulary from the ``wrd`` field of JSON manifests.

    ``<unk>`` at index 0 and the ``top_n`` most frequent words
    (``limited_labelset_from_iterable`` of SpeechBrain's ``TextEncoder``:
    most frequent first; the words are counted in alphabetical order, so
    that words of equal count are ordered alphabetically), then ``<eos>``
    with ``eos=True``.

    Arguments
    ---------
    manifest_paths : str or list of str
        JSON manifests whose entries have a ``wrd`` field.
    top_n : int
        Number of words kept besides ``<unk>`` and ``<eos>``.
    save_path : str, optional
        If given, the vocabulary is saved there
        (:func:`save_word_vocabulary`).
    eos : bool
        End with ``<eos>``, as :func:`word_vocabulary` does.

    Returns
    -------
    speechbrain.dataio.encoder.TextEncoder
        At most ``top_n + 1`` labels, ``top_n + 2`` with ``eos``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> manifest = os.path.join(folder, "train.json")
    >>> with open(manifest, "w", encoding="utf-8") as f:
    ...     json.dump({"a": {"wrd": "THE CAT SAT"},
    ...                "b": {"wrd": "THE DOG SAT"}}, f)
    >>> vocabulary = build_word_vocabulary(
    ...     manifest, 3, os.path.join(folder, "vocab.txt"))
    >>> vocabulary.decode_ndim(range(len(vocabulary)))
    ['<unk>', 'SAT', 'THE', 'CAT']
    """
    if isinstance(manifest_paths, (str, os.PathLike)):
        manifest_paths = [manifest_paths]
    if int(top_n) != top_n or top_n < 1:
        raise ValueError(f"top_n must be a positive integer, got {top_n}")
    words = []
    for path in manifest_paths:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        for utt_id, entry in manifest.items():
            if "wrd" not in entry:
                raise ValueError(f"{path}: entry {utt_id} has no 'wrd' field")
            words += [w for w in entry["wrd"].split() if w not in (UNK, EOS)]
    ranked = TextEncoder()
    # CategoricalEncoder's method: TextEncoder's override on SpeechBrain's
    # development branch (commit 9c826ef) ignores both arguments and would
    # rank the characters of the words
    CategoricalEncoder.limited_labelset_from_iterable(
        ranked, sorted(words), sequence_input=False, n_most_common=int(top_n)
    )
    vocabulary = word_vocabulary(ranked.lab2ind, eos=eos)
    if save_path is not None:
        save_word_vocabulary(vocabulary, save_path)
    return vocabulary


def save_word_vocabulary(vocabulary, path):
    """Saves a vocabulary atomically, creating its folder.

    Arguments
    ---------
    vocabulary : speechbrain.dataio.encoder.TextEncoder
        The vocabulary.
    path : str
        The file (``TextEncoder`` format).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "new", "vocabulary.txt")
    >>> save_word_vocabulary(word_vocabulary(["A"]), path)
    >>> load_word_vocabulary(path).decode_ndim([0, 1])
    ['<unk>', 'A']
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        vocabulary.save(tmp)


def load_word_vocabulary(path):
    r"""Loads a word vocabulary, with checks that name the file.

    Arguments
    ---------
    path : str
        A file saved by :func:`save_word_vocabulary`, or a file of one word
        per line in index order (``<unk>`` first; ``<eos>`` last for a
        decoder's vocabulary).

    Returns
    -------
    speechbrain.dataio.encoder.TextEncoder
        The vocabulary, with its ``unk_label`` (and ``bos_label`` and
        ``eos_label`` when it ends with ``<eos>``).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "vocabulary.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("<unk>\nTHE\n<eos>\n")
    >>> vocabulary = load_word_vocabulary(path)
    >>> vocabulary.encode_sequence(["THE", "END"]), vocabulary.eos_label
    ([1, 0], '<eos>')
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"word vocabulary {path} does not exist")
    vocabulary = TextEncoder()
    try:
        vocabulary.load(path)
    except (ValueError, SyntaxError, KeyError):  # one word per line
        vocabulary = _read_word_list(path)
    unk = getattr(vocabulary, "unk_label", None)
    if vocabulary.ind2lab.get(0) != UNK or unk != UNK:
        raise ValueError(f"{path}: a word vocabulary starts with {UNK}")
    return vocabulary


def _read_word_list(path):
    """A vocabulary file of one word per line (``<unk>`` first)."""
    with open(path, encoding="utf-8") as f:
        words = [line.strip() for line in f if line.strip()]
    if any(" " in word for word in words) or len(set(words)) < len(words):
        raise ValueError(
            f"{path} is neither a saved TextEncoder nor a list of distinct "
            "words, one per line"
        )
    if not words or words[0] != UNK:
        raise ValueError(f"{path}: a word vocabulary starts with {UNK}")
    has_eos = words[-1] == EOS
    return word_vocabulary(words[1:-1] if has_eos else words[1:], has_eos)


def word_pipeline(wrd, vocabulary):
    """Yields a transcript and its word ids with and without ``<eos>``.

    Arguments
    ---------
    wrd : str
        The transcript.
    vocabulary : speechbrain.dataio.encoder.TextEncoder
        A vocabulary with ``<eos>`` (also the bos).

    Yields
    ------
    str
        The transcript.
    torch.LongTensor
        ``[eos] + ids`` (decoder input).
    torch.LongTensor
        ``ids + [eos]`` (targets).
    torch.LongTensor
        ``ids``.

    Example
    -------
    >>> vocabulary = word_vocabulary(["THE"], eos=True)
    >>> [x if isinstance(x, str) else x.tolist()
    ...  for x in word_pipeline("THE CAT", vocabulary)]
    ['THE CAT', [2, 1, 0], [1, 0, 2], [1, 0]]
    """
    yield wrd
    ids = vocabulary.encode_sequence(wrd.split())
    yield torch.LongTensor(vocabulary.prepend_bos_index(ids))
    yield torch.LongTensor(vocabulary.append_eos_index(ids))
    yield torch.LongTensor(ids)


def add_word_tokens(datasets, vocabulary, key="wrd"):
    """Adds ``tokens_bos``, ``tokens_eos`` and ``tokens`` dynamic items.

    Arguments
    ---------
    datasets : list of DynamicItemDataset
        The datasets.
    vocabulary : speechbrain.dataio.encoder.TextEncoder
        A vocabulary with ``<eos>`` (:func:`word_vocabulary` or
        :func:`build_word_vocabulary` with ``eos=True``).
    key : str
        Manifest key of the transcript (also provided again).

    Returns
    -------
    int
        The index of ``<eos>``.

    Example
    -------
    >>> add_word_tokens([], word_vocabulary(["A"], eos=True))
    2
    """
    if getattr(vocabulary, "eos_label", None) != EOS:
        raise ValueError(f"the vocabulary has no {EOS} label")
    sb.dataio.dataset.add_dynamic_item(
        list(datasets),
        functools.partial(word_pipeline, vocabulary=vocabulary),
        takes=[key],
        provides=[key, "tokens_bos", "tokens_eos", "tokens"],
    )
    return vocabulary.lab2ind[EOS]
