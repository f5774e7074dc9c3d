"""Settings that keep mixed-precision training fast.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import torch


def set_cudnn_attention(enabled=False):
    """Allows or forbids the cuDNN backend of scaled-dot-product attention.

    PyTorch prefers cuDNN's attention for bf16 and fp16 on recent GPUs.
    That backend builds an execution plan for every new sequence length,
    which costs milliseconds of host time per attention call: with the
    variable-length batches of speech recipes, every step pays it, and
    bf16 training becomes slower than float32. Without it, PyTorch uses
    its flash or memory-efficient kernels. The setting is process-wide.

    Arguments
    ---------
    enabled : bool
        Whether PyTorch may choose cuDNN attention.

    Returns
    -------
    bool
        ``enabled`` (a yaml can record the choice).

    Example
    -------
    >>> set_cudnn_attention(False)
    False
    >>> torch.backends.cuda.cudnn_sdp_enabled()
    False
    >>> set_cudnn_attention(True)
    True
    """
    torch.backends.cuda.enable_cudnn_sdp(bool(enabled))
    return bool(enabled)
