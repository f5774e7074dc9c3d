"""Training (``AddNoise``) and testing (``mix_at_snr``) mix at the same SNR.

Noise training draws SNRs with SpeechBrain's ``AddNoise``; the test
conditions mix with :func:`mix_at_snr`. Both must mean the same thing by
"5 dB" (RMS of the speech over RMS of the added noise, on the utterance's
valid samples), also for noise files shorter than the utterance and for
padded batches.
"""

import math

import pytest
import torch
from speechbrain.augment.time_domain import AddNoise
from speechbrain.dataio import audio_io

from speechbrain_ext.augment.conditions import mix_at_snr

SR = 16000


def _snr(speech, added):
    return 10 * math.log10(speech.pow(2).mean() / added.pow(2).mean())


@pytest.mark.parametrize("noise_seconds", [0.3, 3.0])
def test_addnoise_and_mixer_agree(tmp_path, noise_seconds):
    torch.manual_seed(0)
    noise = 0.05 * torch.randn(int(noise_seconds * SR))
    path = tmp_path / "noise.wav"
    audio_io.save(str(path), noise.unsqueeze(0), SR)
    csv = tmp_path / "noise.csv"
    csv.write_text(
        "ID,duration,wav,wav_format,wav_opts\n"
        f"n1,{noise_seconds},{path},wav,\n",
        encoding="utf-8",
    )
    clean = 0.1 * torch.randn(2, 2 * SR)
    clean[1, SR:] = 0.0
    lens = torch.tensor([1.0, 0.5])
    add_noise = AddNoise(
        csv_file=str(csv), snr_low=5, snr_high=5, pad_noise=True
    )
    noisy_train = add_noise(clean, lens)
    noisy_test = mix_at_snr(clean, noise, 5.0, lens)
    # AddNoise scales the speech by (1 - f) with f = 1 / (10^(snr/20) + 1)
    f = 1 / (10 ** (5 / 20) + 1)
    for k, valid in ((0, 2 * SR), (1, SR)):
        speech = (1 - f) * clean[k, :valid]
        train_snr = _snr(speech, noisy_train[k, :valid] - speech)
        test_snr = _snr(
            clean[k, :valid], noisy_test[k, :valid] - clean[k, :valid]
        )
        assert abs(test_snr - 5.0) < 0.01
        assert abs(train_snr - test_snr) < 0.1, (noise_seconds, k, train_snr)
