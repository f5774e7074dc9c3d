"""Pieces of the small brains that the unit tests build."""

import functools

import torch


def sgd_groups(net, lr):
    """``param_groups`` of one group, ``model``: ``net`` trained by SGD.

    Arguments
    ---------
    net : torch.nn.Module
        The trained module.
    lr : float
        The learning rate.

    Returns
    -------
    dict
        For ``RecipeBrain(param_groups=...)``.
    """
    optimizer = functools.partial(torch.optim.SGD, lr=lr)
    return {"model": {"modules": net, "optimizer": optimizer}}
