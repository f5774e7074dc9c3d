import math
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_ext.augment.conditions import (
    ConditionMixer,
    NoiseCondition,
    load_conditions,
    mix_at_snr,
    stable_seed,
)

HPARAMS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    "hparams",
    "conditions",
)
RATE = 16000


def measured_snr(clean, noisy):
    clean = clean.double()
    residual = noisy.double() - clean
    return 10 * math.log10(clean.pow(2).mean() / residual.pow(2).mean())


def speech_like(seconds, seed):
    """Amplitude-modulated harmonic signal with pauses, roughly speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, 1)
    signal = 0.3 * envelope * voiced + 0.003 * rng.standard_normal(len(t))
    return torch.tensor(signal, dtype=torch.float32)


def write_pool(folder, category, n_files, seconds, seed=0):
    """Write noise wavs and an AddNoise-format csv; return the csv path."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    csv_path = os.path.join(folder, f"{category}_test.csv")
    with open(csv_path, "w") as fout:
        fout.write("ID,duration,wav,wav_format,wav_opts\n")
        for i in range(n_files):
            wav = os.path.join(folder, f"{category}_{i}.wav")
            n = int(seconds[i % len(seconds)] * RATE)
            data = rng.standard_normal(n) * (0.05 + 0.1 * i)
            if category == "music":
                t = np.arange(n) / RATE
                data += 0.2 * np.sin(2 * np.pi * (220 + 110 * i) * t)
            sf.write(wav, data.astype(np.float32), RATE)
            fout.write(f"{category}{i},{n / RATE},{wav},wav,\n")
    return csv_path


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("musan_test"))
    return {
        # 0.3 s files: shorter than the utterances, so they are looped.
        "noise": write_pool(root, "noise", 4, [0.3, 2.5], seed=1),
        "music": write_pool(root, "music", 3, [3.0], seed=2),
        "speech": write_pool(root, "speech", 3, [2.0, 0.5], seed=3),
    }


@pytest.fixture(scope="module")
def batch():
    lengths = [1.6, 1.0, 0.45]
    max_len = int(max(lengths) * RATE)
    wavs = torch.zeros(len(lengths), max_len)
    for i, seconds in enumerate(lengths):
        signal = speech_like(seconds, seed=i)
        wavs[i, : len(signal)] = signal
    lens = torch.tensor([s / max(lengths) for s in lengths])
    ids = ["Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses02M_script01_F2"]
    return wavs, lens, ids, [int(s * RATE) for s in lengths]


# ---------------------------------------------------------------- conditions


def test_noise_condition_validation():
    cond = NoiseCondition("noise_5dB", "noise", 5)
    assert cond.snr_db == 5.0 and isinstance(cond.snr_db, float)
    assert not cond.is_clean and NoiseCondition("clean").is_clean
    with pytest.raises(ValueError, match="unknown category 'traffic'"):
        NoiseCondition("x", "traffic", 5)
    with pytest.raises(ValueError, match="snr_db must be a number"):
        NoiseCondition("x", "noise", None)
    with pytest.raises(ValueError, match="snr_db must be a number"):
        NoiseCondition("x", "noise", True)
    with pytest.raises(ValueError, match="finite"):
        NoiseCondition("x", "music", float("inf"))
    with pytest.raises(ValueError, match="is clean"):
        NoiseCondition("clean", None, 10)
    with pytest.raises(ValueError, match="invalid"):
        NoiseCondition("a/b", "noise", 5)
    with pytest.raises(Exception):
        cond.snr_db = 3.0  # frozen


def test_load_paper7():
    conditions = load_conditions(os.path.join(HPARAMS, "paper7.yaml"))
    assert [c.name for c in conditions] == [
        "clean",
        "noise_15dB",
        "noise_5dB",
        "music_15dB",
        "music_5dB",
        "speech_15dB",
        "speech_5dB",
    ]
    assert conditions[0] == NoiseCondition("clean")
    assert conditions[-1] == NoiseCondition("speech_5dB", "speech", 5.0)


def test_load_clean_and_sweep():
    clean = load_conditions(os.path.join(HPARAMS, "clean.yaml"))
    assert clean == [NoiseCondition("clean")]
    sweep = load_conditions(os.path.join(HPARAMS, "snr_sweep.yaml"))
    assert len(sweep) == 10
    assert sweep[0].is_clean
    noisy = {(c.category, c.snr_db) for c in sweep[1:]}
    assert noisy == {
        (cat, snr)
        for cat in ("noise", "music", "speech")
        for snr in (20.0, 10.0, 0.0)
    }
    assert all(c.name == f"{c.category}_{int(c.snr_db)}dB" for c in sweep[1:])


def test_load_from_list():
    conditions = load_conditions(
        [
            NoiseCondition("clean"),
            {"name": "n0", "category": "noise", "snr_db": 0},
        ]
    )
    assert conditions[1] == NoiseCondition("n0", "noise", 0.0)


def test_load_bad_files(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "conditions:\n"
        "  - {name: a, category: noise, snr_db: 5}\n"
        "  - {name: a, category: music, snr_db: 5}\n"
    )
    with pytest.raises(ValueError, match=r"dup\.yaml.*duplicate.*a"):
        load_conditions(str(dup))

    bad_cat = tmp_path / "bad_cat.yaml"
    bad_cat.write_text(
        "conditions:\n  - {name: babble, category: babble, snr_db: 5}\n"
    )
    with pytest.raises(ValueError, match=r"bad_cat\.yaml.*'babble'"):
        load_conditions(bad_cat)

    no_key = tmp_path / "no_key.yaml"
    no_key.write_text("- {name: clean}\n")
    with pytest.raises(ValueError, match=r"no_key\.yaml.*'conditions'"):
        load_conditions(no_key)

    extra = tmp_path / "extra.yaml"
    extra.write_text("conditions:\n  - {name: clean, snr: 5}\n")
    with pytest.raises(ValueError, match=r"extra\.yaml.*unknown key.*snr"):
        load_conditions(extra)

    empty = tmp_path / "empty.yaml"
    empty.write_text("conditions: []\n")
    with pytest.raises(ValueError, match=r"empty\.yaml.*non-empty"):
        load_conditions(empty)

    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_conditions(tmp_path / "missing.yaml")


# ---------------------------------------------------------------- mix_at_snr


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 7.5, 20.0])
def test_mix_at_snr_exact_with_padding(snr_db):
    gen = torch.Generator().manual_seed(0)
    lengths = [16000, 9000, 3001]
    clean = torch.zeros(3, 16000)
    for i, n in enumerate(lengths):
        clean[i, :n] = torch.randn(n, generator=gen) * (0.1 + i)
    lens = torch.tensor(lengths) / 16000
    # Noise shorter than the longest utterance: tiled.
    noise = torch.rand(3, 5000, generator=gen) - 0.3
    noisy = mix_at_snr(clean, noise, snr_db, lens)
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype
    for i, n in enumerate(lengths):
        snr = measured_snr(clean[i, :n], noisy[i, :n])
        assert abs(snr - snr_db) < 0.01
        assert torch.all(noisy[i, n:] == 0)


def test_mix_at_snr_tiles_and_per_utterance_snr():
    clean = torch.ones(2, 10)
    noise = torch.tensor([1.0, -1.0, 2.0])
    noisy = mix_at_snr(clean, noise, torch.tensor([0.0, 10.0]))
    residual = noisy - clean
    # The noise pattern is looped: sample k equals sample k + 3.
    assert torch.allclose(residual[:, :7], residual[:, 3:10])
    assert abs(measured_snr(clean[0], noisy[0])) < 0.01
    assert abs(measured_snr(clean[1], noisy[1]) - 10.0) < 0.01


def test_mix_at_snr_errors():
    with pytest.raises(ValueError, match="silent"):
        mix_at_snr(torch.ones(1, 10), torch.zeros(1, 10), 5.0)
    with pytest.raises(ValueError, match=r"\[batch, time\]"):
        mix_at_snr(torch.ones(10), torch.ones(10), 5.0)
    with pytest.raises(ValueError, match="batch 2"):
        mix_at_snr(torch.ones(2, 10), torch.ones(3, 10), 5.0)


def test_stable_seed_is_fixed():
    # A fixed value: the draw must not change across processes or versions.
    assert stable_seed(1986, "noise_5dB", "u1") == stable_seed(
        1986, "noise_5dB", "u1"
    )
    assert stable_seed(1986, "noise_5dB", "Ses05F_impro01_F000") == (
        13817571919980020791
    )


# ---------------------------------------------------------------- mixer


def test_mixer_reproducible_across_instances(pools, batch):
    wavs, lens, ids, _ = batch
    condition = NoiseCondition("noise_5dB", "noise", 5)
    first = ConditionMixer(pools, seed=7)(wavs, lens, ids, condition)
    second = ConditionMixer(pools, seed=7)(wavs, lens, ids, condition)
    assert torch.equal(first, second)
    assert not torch.equal(first, wavs)


def test_mixer_independent_of_batching(pools, batch):
    wavs, lens, ids, lengths = batch
    mixer = ConditionMixer(pools, seed=7)
    for condition in (
        NoiseCondition("noise_5dB", "noise", 5),
        NoiseCondition("speech_15dB", "speech", 15),
    ):
        together = mixer(wavs, lens, ids, condition)
        # Each utterance alone, trimmed to its own length.
        for i, n in enumerate(lengths):
            alone = ConditionMixer(pools, seed=7)(
                wavs[i : i + 1, :n], torch.ones(1), [ids[i]], condition
            )
            assert torch.equal(alone[0], together[i, :n])
        # Reversed order, so a different maximum length and padding.
        order = [2, 1]
        max_len = max(lengths[i] for i in order)
        sub = wavs[order, :max_len]
        sub_lens = torch.tensor([lengths[i] / max_len for i in order])
        reordered = mixer(sub, sub_lens, [ids[i] for i in order], condition)
        for row, i in enumerate(order):
            n = lengths[i]
            assert torch.equal(reordered[row, :n], together[i, :n])
            assert torch.all(reordered[row, n:] == 0)


def test_mixer_seed_and_condition_change_noise(pools, batch):
    wavs, lens, ids, _ = batch
    condition = NoiseCondition("music_5dB", "music", 5)
    a = ConditionMixer(pools, seed=1)(wavs, lens, ids, condition)
    b = ConditionMixer(pools, seed=2)(wavs, lens, ids, condition)
    assert not torch.equal(a, b)
    other = NoiseCondition("music_5dB_b", "music", 5)
    c = ConditionMixer(pools, seed=1)(wavs, lens, ids, other)
    assert not torch.equal(a, c)


@pytest.mark.parametrize(
    "condition",
    [
        NoiseCondition("noise_15dB", "noise", 15),
        NoiseCondition("noise_5dB", "noise", 5),
        NoiseCondition("music_5dB", "music", 5),
        NoiseCondition("speech_0dB", "speech", 0),
    ],
)
def test_mixer_snr_on_speech_like_signals(pools, batch, condition):
    wavs, lens, ids, lengths = batch
    noisy = ConditionMixer(pools, seed=11)(wavs, lens, ids, condition)
    for i, n in enumerate(lengths):
        snr = measured_snr(wavs[i, :n], noisy[i, :n])
        assert abs(snr - condition.snr_db) < 0.5
        assert torch.all(noisy[i, n:] == 0)


def test_mixer_clean_unchanged(pools, batch):
    wavs, lens, ids, _ = batch
    out = ConditionMixer(pools)(wavs, lens, ids, NoiseCondition("clean"))
    assert out is wavs


def test_mixer_missing_and_empty_csv(tmp_path, pools):
    missing = str(tmp_path / "nowhere" / "noise_test.csv")
    with pytest.raises(FileNotFoundError, match=missing):
        ConditionMixer({"noise": missing})

    empty = tmp_path / "music_test.csv"
    empty.write_text("ID,duration,wav,wav_format,wav_opts\n")
    with pytest.raises(ValueError, match=str(empty)):
        ConditionMixer({"noise": pools["noise"], "music": str(empty)})

    gone = tmp_path / "speech_test.csv"
    gone.write_text(
        "ID,duration,wav,wav_format,wav_opts\n"
        f"s0,1.0,{tmp_path / 'absent.wav'},wav,\n"
    )
    with pytest.raises(FileNotFoundError, match="absent.wav"):
        ConditionMixer({"speech": str(gone)})


def test_mixer_category_without_csv(pools, batch):
    wavs, lens, ids, _ = batch
    mixer = ConditionMixer({"noise": pools["noise"]})
    with pytest.raises(ValueError, match="category 'music'"):
        mixer(wavs, lens, ids, NoiseCondition("music_5dB", "music", 5))
    with pytest.raises(ValueError, match="Unknown noise category"):
        ConditionMixer({"babble": pools["speech"]})


def test_mixer_replacements_and_resampling(tmp_path):
    folder = tmp_path / "musan"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sf.write(folder / "n8k.wav", rng.standard_normal(4000) * 0.1, 8000)
    csv_path = tmp_path / "noise_test.csv"
    csv_path.write_text(
        "ID,duration,wav,wav_format,wav_opts\n"
        "n8k,0.5,$noise_folder/n8k.wav,wav,\n"
    )
    mixer = ConditionMixer(
        {"noise": str(csv_path)}, replacements={"noise_folder": str(folder)}
    )
    condition = NoiseCondition("noise_0dB", "noise", 0)
    path, segment = mixer.noise_segment(condition, "u", 20000)
    assert path == str(folder / "n8k.wav")
    assert segment.shape == (20000,)
    # Resampled to 16 kHz: 4000 samples at 8 kHz become 8000, then looped.
    assert mixer._load(path).shape == (8000,)
    clean = speech_like(1.25, seed=5).unsqueeze(0)
    noisy = mixer(clean, torch.ones(1), ["u"], condition)
    assert abs(measured_snr(clean[0], noisy[0])) < 0.01
