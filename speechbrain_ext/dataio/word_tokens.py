"""Word-level targets of attention encoder-decoder ASR.

The vocabulary is the list of ``build_word_vocabulary`` (``<unk>`` at index
0, then the most frequent words) followed by one ``<eos>`` token, used both
as beginning- and end-of-sentence (index ``len(words)``).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import functools

import speechbrain as sb
import torch

from speechbrain_ext.dataio.librispeech_prepare import UNK, words_to_ids

EOS = "<eos>"


def with_eos(words):
    """Appends the ``<eos>`` token to a word vocabulary.

    Arguments
    ---------
    words : list of str
        A vocabulary from ``build_word_vocabulary`` (``<unk>`` first).

    Returns
    -------
    list of str
        ``words + ["<eos>"]``.

    Example
    -------
    >>> with_eos(["<unk>", "THE"])
    ['<unk>', 'THE', '<eos>']
    """
    if not words or words[0] != UNK:
        raise ValueError(f"a word vocabulary starts with {UNK}: {words[:3]}")
    if EOS in words:
        raise ValueError(f"the word vocabulary already holds {EOS}")
    return list(words) + [EOS]


def word_pipeline(wrd, vocab, eos_index):
    """Yields a transcript and its word ids with and without ``<eos>``.

    Arguments
    ---------
    wrd : str
        The transcript.
    vocab : dict
        word -> id.
    eos_index : int
        Index of ``<eos>`` (also the bos).

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
    >>> vocab = {"<unk>": 0, "THE": 1, "<eos>": 2}
    >>> [x if isinstance(x, str) else x.tolist()
    ...  for x in word_pipeline("THE CAT", vocab, 2)]
    ['THE CAT', [2, 1, 0], [1, 0, 2], [1, 0]]
    """
    yield wrd
    ids = words_to_ids(wrd, vocab)
    yield torch.LongTensor([eos_index] + ids)
    yield torch.LongTensor(ids + [eos_index])
    yield torch.LongTensor(ids)


def add_word_tokens(datasets, vocabulary, key="wrd"):
    """Adds ``tokens_bos``, ``tokens_eos`` and ``tokens`` dynamic items.

    Arguments
    ---------
    datasets : list of DynamicItemDataset
        The datasets.
    vocabulary : list of str
        Words then ``<eos>`` (:func:`with_eos`).
    key : str
        Manifest key of the transcript (also provided again).

    Returns
    -------
    int
        The index of ``<eos>``.

    Example
    -------
    >>> add_word_tokens([], ["<unk>", "A", "<eos>"])
    2
    """
    if vocabulary[-1] != EOS:
        raise ValueError(f"the vocabulary must end with {EOS}")
    vocab = {word: index for index, word in enumerate(vocabulary)}
    eos_index = vocab[EOS]
    sb.dataio.dataset.add_dynamic_item(
        list(datasets),
        functools.partial(word_pipeline, vocab=vocab, eos_index=eos_index),
        takes=[key],
        provides=[key, "tokens_bos", "tokens_eos", "tokens"],
    )
    return eos_index


def ids_to_words(ids, vocabulary):
    """Maps word ids back to words.

    Arguments
    ---------
    ids : list of int
        A hypothesis (without ``<eos>``).
    vocabulary : list of str
        The vocabulary.

    Returns
    -------
    list of str
        The words.

    Example
    -------
    >>> ids_to_words([2, 0], ["<unk>", "A", "B", "<eos>"])
    ['B', '<unk>']
    """
    return [vocabulary[int(i)] for i in ids]
