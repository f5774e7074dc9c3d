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
