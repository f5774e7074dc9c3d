"""Keeps targets aligned with a batch that an ``Augmenter`` has grown.

SpeechBrain's ``Augmenter.replicate_labels`` handles tensors only. Here the
batch index itself is replicated, and every item, tensor or list (of words,
ids, ...), is gathered with it, so all targets follow exactly the same rows.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch


def replicate_batch_items(augmenter, *items):
    """Replicates tensors and lists the way ``augmenter`` grew the batch.

    Call it right after ``augmenter(wavs, lens)``.

    Arguments
    ---------
    augmenter : speechbrain.augment.augmenter.Augmenter
        The augmenter that has just been applied.
    *items : torch.Tensor or list
        Batch-first targets (tensors of any shape, or lists).

    Returns
    -------
    tuple
        The items, replicated in the same order as the augmented batch.

    Example
    -------
    >>> from speechbrain.augment.augmenter import Augmenter
    >>> from speechbrain.augment.time_domain import DropChunk
    >>> aug = Augmenter(concat_original=True, repeat_augment=2,
    ...                 augmentations=[DropChunk()])
    >>> wavs, lens = aug(torch.rand(2, 16000), torch.ones(2))
    >>> emo = torch.tensor([3, 1])
    >>> emo, words = replicate_batch_items(aug, emo, ["A", "B"])
    >>> wavs.shape[0], emo.tolist(), words
    (6, [3, 1, 3, 1, 3, 1], ['A', 'B', 'A', 'B', 'A', 'B'])
    """
    if not getattr(augmenter, "do_augment", False):
        return items
    n = len(items[0])
    index = augmenter.replicate_labels(torch.arange(n))
    out = []
    for item in items:
        if isinstance(item, torch.Tensor):
            out.append(item[index.to(item.device)])
        else:
            out.append([item[i] for i in index.tolist()])
    return tuple(out)


class ReplacedAudioBatch:
    """A batch whose audio was replaced and whose other items follow it.

    It offers what recipes read from SpeechBrain's ``PaddedBatch``: the
    items as attributes (``batch.sig``, ``batch.id``, ...), ``len``,
    ``batchsize``, iteration over the items and ``to``.

    Arguments
    ---------
    batch : speechbrain.dataio.batch.PaddedBatch
        The batch as the loader gave it.
    wavs : torch.Tensor
        The new audio [rows, time].
    wav_lens : torch.Tensor
        Its relative lengths.
    index : torch.Tensor, optional
        The row of ``batch`` that each new row comes from (``None``: the
        rows are those of ``batch``).
    audio_key : str
        The item that holds the audio.

    Example
    -------
    >>> from speechbrain.dataio.batch import PaddedBatch
    >>> batch = PaddedBatch([
    ...     {"id": "a", "sig": torch.ones(3), "emo": torch.tensor([0])},
    ...     {"id": "b", "sig": torch.ones(2), "emo": torch.tensor([1])}])
    >>> wavs, lens = batch.sig
    >>> new = ReplacedAudioBatch(batch, torch.cat([wavs, -wavs]),
    ...                          torch.cat([lens, lens]),
    ...                          index=torch.tensor([0, 1, 0, 1]))
    >>> new.id, new.emo.data[:, 0].tolist(), len(new)
    (['a', 'b', 'a', 'b'], [0, 1, 0, 1], 4)
    """

    def __init__(self, batch, wavs, wav_lens, index=None, audio_key="sig"):
        self._keys = [key for key in vars(batch) if not key.startswith("_")]
        for key in self._keys:
            value = getattr(batch, key)
            if index is not None:
                value = _gather(value, index)
            setattr(self, key, value)
        setattr(
            self, audio_key, type(getattr(batch, audio_key))(wavs, wav_lens)
        )
        self._length = wavs.shape[0]

    def __len__(self):
        return self._length

    @property
    def batchsize(self):
        """The number of rows."""
        return self._length

    def __iter__(self):
        return iter(getattr(self, key) for key in self._keys)

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(f"Batch doesn't have key: {key}")
        return getattr(self, key)

    def to(self, *args, **kwargs):
        """Moves (or casts) the tensors, in place, as ``PaddedBatch.to``."""
        for key in self._keys:
            value = getattr(self, key)
            if isinstance(value, torch.Tensor):
                setattr(self, key, value.to(*args, **kwargs))
            elif isinstance(value, tuple) and hasattr(value, "_fields"):
                setattr(
                    self,
                    key,
                    type(value)(
                        *(
                            v.to(*args, **kwargs)
                            if isinstance(v, torch.Tensor)
                            else v
                            for v in value
                        )
                    ),
                )
        return self


def _gather(value, index):
    """The rows ``index`` of a tensor, a list or a ``PaddedData``."""
    if isinstance(value, torch.Tensor):
        return value[index.to(value.device)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_gather(v, index) for v in value))
    if isinstance(value, (list, tuple)):
        return [value[i] for i in index.tolist()]
    return value
