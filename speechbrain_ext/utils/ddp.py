"""Helpers for DistributedDataParallel training of pretrained models.

DDP fails with "Expected to have finished reduction in the prior iteration"
when a trainable parameter gets no gradient. Two such parameters sit in the
pretrained models of the collection:

* the pooler of a BERT-like model, whose output is never used when the
  sentence embedding is pooled from the hidden states;
* the ``masked_spec_embed`` vector of a HuggingFace wav2vec2, used only by
  its own SpecAugment (``apply_spec_augment`` with a time-mask probability),
  which SpeechBrain's ``Wav2Vec2`` switches off by default.

Freezing them changes nothing in the computation and lets DDP run without
``find_unused_parameters`` (which costs an extra graph traversal per step).

LayerDrop (``layerdrop`` in a HuggingFace config, 0.1 in the wav2vec2
checkpoints fine-tuned for ASR) skips random transformer layers in training,
different ones on each process: such a model needs
``find_unused_parameters`` (:func:`uses_layerdrop`).

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import logging

import torch

logger = logging.getLogger(__name__)


def _spec_augment_is_off(config):
    """Whether a wav2vec2 config never uses its masked_spec_embed."""
    if config is None:
        return False
    if not getattr(config, "apply_spec_augment", True):
        return True
    return getattr(config, "mask_time_prob", 0.0) == 0.0


def freeze_unused_parameters(module):
    """Freezes the trainable parameters that never receive a gradient.

    Arguments
    ---------
    module : torch.nn.Module
        Searched recursively: HuggingFace wav2vec2 models with SpecAugment
        off lose the trainability of ``masked_spec_embed``; modules that
        declare ``unused_submodules`` (names of submodules whose output is
        discarded, e.g. the BERT pooler of ``PooledTextEncoder``) lose that
        of those submodules.

    Returns
    -------
    list of str
        Names of the parameters frozen.

    Example
    -------
    >>> class Pooled(torch.nn.Module):
    ...     unused_submodules = ["pooler"]
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(2, 2)
    ...         self.pooler = torch.nn.Linear(2, 2)
    >>> freeze_unused_parameters(torch.nn.Sequential(Pooled()))
    ['0.pooler.weight', '0.pooler.bias']
    """
    frozen = []
    for name, sub in module.named_modules():
        prefix = f"{name}." if name else ""
        embed = getattr(sub, "masked_spec_embed", None)
        if (
            isinstance(embed, torch.nn.Parameter)
            and embed.requires_grad
            and _spec_augment_is_off(getattr(sub, "config", None))
        ):
            embed.requires_grad_(False)
            frozen.append(f"{prefix}masked_spec_embed")
        for attr in getattr(sub, "unused_submodules", ()):
            unused = getattr(sub, attr, None)
            if unused is None:
                continue
            for pname, param in unused.named_parameters():
                if param.requires_grad:
                    param.requires_grad_(False)
                    frozen.append(f"{prefix}{attr}.{pname}")
    if frozen:
        logger.info(
            "Frozen %d parameter(s) that never get a gradient: %s",
            len(frozen),
            ", ".join(frozen),
        )
    return frozen


def uses_layerdrop(module):
    """Whether a trainable HuggingFace model in ``module`` uses LayerDrop.

    Arguments
    ---------
    module : torch.nn.Module
        Searched recursively for a ``config`` with ``layerdrop > 0``.

    Returns
    -------
    bool
        True when some trainable model drops layers at random in training.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> net = torch.nn.Linear(2, 2)
    >>> uses_layerdrop(net)
    False
    >>> net.config = SimpleNamespace(layerdrop=0.1)
    >>> uses_layerdrop(torch.nn.Sequential(net))
    True
    """
    for sub in module.modules():
        config = getattr(sub, "config", None)
        if getattr(config, "layerdrop", 0.0) and any(
            p.requires_grad for p in sub.parameters()
        ):
            return True
    return False
