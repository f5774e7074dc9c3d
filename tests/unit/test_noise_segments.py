"""NoiseSegments: training noise read as random segments of a noise pool."""

import hashlib
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from speechbrain.augment.time_domain import AddNoise

from speechbrain_ext.augment.noise_segments import NoiseSegments

RATE = 16000


def _pool(folder, signals):
    """A csv pool of wav files holding ``signals`` (name -> samples)."""
    rows = ["ID,duration,wav,wav_format,wav_opts"]
    for name, signal in signals.items():
        path = os.path.join(folder, f"{name}.wav")
        sf.write(path, signal, RATE, subtype="FLOAT")
        rows.append(f"{name},{len(signal) / RATE},{path},wav,")
    csv_file = os.path.join(folder, "noise_train.csv")
    with open(csv_file, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    return csv_file


def _digests(folder):
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(folder))
    }


def _source(row, signals):
    """The signal of which ``row`` is a contiguous (looped) segment."""
    for name, signal in signals.items():
        looped = np.concatenate([signal] * (len(row) // len(signal) + 2))
        for start in range(len(signal)):
            if np.array_equal(looped[start : start + len(row)], row):
                return name
    return None


def test_rows_are_segments_of_the_pool_files_drawn_from_torch_rng(tmp_path):
    rng = np.random.default_rng(0)
    signals = {
        "long": rng.uniform(-0.5, 0.5, 3000).astype(np.float32),
        "short": rng.uniform(-0.5, 0.5, 300).astype(np.float32),
        "silent": np.zeros(3000, dtype=np.float32),
    }
    csv_file = _pool(tmp_path, signals)
    before = _digests(tmp_path)
    noise = NoiseSegments(csv_file, "music")
    torch.manual_seed(3)
    segments = noise(torch.zeros(16, 500, dtype=torch.float64))
    assert segments.shape == (16, 500) and segments.dtype == torch.float64
    sources = [_source(row.float().numpy(), signals) for row in segments]
    # every row is a segment of a file (the short one looped), never of
    # the silent file, whose segments are redrawn
    assert set(sources) == {"long", "short"}
    assert len({tuple(row[:8].tolist()) for row in segments}) > 8
    # the same torch random state draws the same noise; the next call other
    torch.manual_seed(3)
    assert torch.equal(noise(torch.zeros(16, 500)), segments.float())
    assert not torch.equal(noise(torch.zeros(16, 500)), segments.float())
    assert _digests(tmp_path) == before


def test_add_noise_mixes_the_segments_at_the_drawn_snr(tmp_path):
    rng = np.random.default_rng(1)
    noise_file = rng.uniform(-0.5, 0.5, 4000).astype(np.float32)
    noise = NoiseSegments(_pool(tmp_path, {"n": noise_file}), "noise")
    add_noise = AddNoise(noise_funct=noise, snr_low=10, snr_high=10)
    clean = torch.randn(4, 1000)
    noisy = add_noise(clean, torch.ones(4))
    factor = 1 / (10 ** (10 / 20) + 1)
    added = noisy - (1 - factor) * clean
    snr = 20 * torch.log10(
        ((1 - factor) * clean).pow(2).mean(1).sqrt()
        / added.pow(2).mean(1).sqrt()
    )
    assert torch.allclose(snr, torch.full((4,), 10.0), atol=1e-3)


def test_pool_is_read_at_the_first_call_and_checked(tmp_path):
    missing = tmp_path / "pools" / "speech_train.csv"
    noise = NoiseSegments(str(missing), "speech")  # before preparation
    with pytest.raises(FileNotFoundError, match=str(missing)):
        noise(torch.zeros(2, 100))
    missing.parent.mkdir()
    missing.write_text("ID,duration,wav,wav_format,wav_opts\n")
    with pytest.raises(ValueError, match=f"{missing} lists no audio files"):
        noise(torch.zeros(2, 100))
    with pytest.raises(ValueError, match="unknown category 'traffic'"):
        NoiseSegments(str(missing), "traffic")
