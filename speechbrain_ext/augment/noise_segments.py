"""Training noise read as short random segments of a noise pool.

SpeechBrain's ``AddNoise`` (with ``csv_file``) reads, at every call, one
whole noise file per row of the batch and pads them all to the longest
before cutting one segment: for a batch of many short examples (e.g. 128
windows of 0.34 s of a window classifier) and files of several seconds,
that costs more than the model's training step. :class:`NoiseSegments` is
a ``noise_funct`` for ``AddNoise(csv_file=None, noise_funct=...)`` that
reads only the samples each row needs; ``AddNoise`` then scales every row
to its drawn SNR as usual.

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

import torch

from speechbrain_ext.augment.conditions import ConditionMixer, NoiseCondition


class NoiseSegments:
    """Random segments of the files of a noise pool, read on demand.

    For waveforms ``[batch, time]``, every row gets ``time`` samples of a
    file of the pool, from a random offset (looped when the file is
    shorter), through the test conditions'
    :class:`~speechbrain_ext.augment.conditions.ConditionMixer`: the same
    reading of only the needed frames, resampling to ``sample_rate``, and
    redraw of near-silent segments (which ``AddNoise`` would otherwise
    amplify to the SNR). The file and the offset of each row derive from a
    number drawn from torch's random generator, so a seeded run draws the
    same noise, and a resumed run the noise of its saved random state.

    The pool's csv file is read, and checked, at the first call: a
    recipe's yaml creates this object before its preparation writes the
    pools.

    Arguments
    ---------
    csv_file : str
        The pool, in SpeechBrain's AddNoise format (header
        ``ID,duration,wav,wav_format,wav_opts``), e.g. the
        ``noise_train.csv`` of ``prepare_musan``.
    category : str
        The pool's MUSAN category: ``noise``, ``music`` or ``speech``.
    sample_rate : int
        Sample rate of the waveforms.

    Example
    -------
    >>> import os, tempfile
    >>> import soundfile
    >>> from speechbrain.augment.time_domain import AddNoise
    >>> tmp = tempfile.mkdtemp()
    >>> wav = os.path.join(tmp, "hum.wav")
    >>> soundfile.write(wav, 0.1 * torch.randn(16000).numpy(), 16000)
    >>> pool = os.path.join(tmp, "noise_train.csv")
    >>> with open(pool, "w") as f:
    ...     print("ID,duration,wav,wav_format,wav_opts", file=f)
    ...     print(f"hum,1.0,{wav},wav,", file=f)
    >>> noise = NoiseSegments(pool, "noise")
    >>> _ = torch.manual_seed(1)
    >>> segments = noise(torch.zeros(3, 800))
    >>> segments.shape, bool((segments[0] != segments[1]).any())
    (torch.Size([3, 800]), True)
    >>> _ = torch.manual_seed(1)
    >>> torch.equal(noise(torch.zeros(3, 800)), segments)
    True
    >>> add_noise = AddNoise(noise_funct=noise, snr_low=5, snr_high=5)
    >>> add_noise(torch.ones(2, 800), torch.ones(2)).shape
    torch.Size([2, 800])
    """

    def __init__(self, csv_file, category="noise", sample_rate=16000):
        self.csv_file = csv_file
        # The segments are drawn before scaling: the SNR is AddNoise's
        self.condition = NoiseCondition(f"{category}_train", category, 0.0)
        self.sample_rate = sample_rate
        self._mixer = None

    def __call__(self, waveforms):
        """Noise of the shape, dtype and device of ``waveforms``.

        Arguments
        ---------
        waveforms : torch.Tensor
            The clean waveforms [batch, time].

        Returns
        -------
        torch.Tensor
            One noise segment per row [batch, time].
        """
        if self._mixer is None:
            self._mixer = ConditionMixer(
                {self.condition.category: self.csv_file},
                sample_rate=self.sample_rate,
            )
        batch, length = waveforms.shape[:2]
        draws = torch.randint(2**62, (batch,)).tolist()
        segments = [
            self._mixer.noise_segment(self.condition, str(draw), length)[1]
            for draw in draws
        ]
        return torch.stack(segments).to(waveforms.device, waveforms.dtype)
