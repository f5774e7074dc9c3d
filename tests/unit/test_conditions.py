import math
import os
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch
from speechbrain_ext.hparams import hparams_folder

import speechbrain_ext.augment.conditions as conditions_module
from speechbrain_ext.augment.conditions import (
    ConditionMixer,
    NoiseCondition,
    condition_sets_folder,
    find_condition_set,
    load_conditions,
    mix_at_snr,
    stable_seed,
)

RATE = 16000
NEW = "!new:speechbrain_ext.augment.conditions.NoiseCondition"


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
    conditions = load_conditions(find_condition_set("paper7"))
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
    clean = load_conditions(find_condition_set("clean"))
    assert clean == [NoiseCondition("clean")]
    sweep = load_conditions(find_condition_set("snr_sweep"))
    assert len(sweep) == 16
    assert sweep[0].is_clean
    noisy = {(c.category, c.snr_db) for c in sweep[1:]}
    assert noisy == {
        (cat, snr)
        for cat in ("noise", "music", "speech")
        for snr in (20.0, 15.0, 10.0, 5.0, 0.0)
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


BAD_FILES = {
    "dup": (
        "conditions:\n"
        "  - {name: a, category: noise, snr_db: 5}\n"
        "  - {name: a, category: music, snr_db: 5}\n",
        "duplicate.*a",
    ),
    "bad_cat": (
        "conditions:\n  - {name: babble, category: babble, snr_db: 5}\n",
        "'babble'",
    ),
    "no_key": ("- {name: clean}\n", "'conditions'"),
    "extra": ("conditions:\n  - {name: clean, snr: 5}\n", "unknown key.*snr"),
    "empty": ("conditions: []\n", "non-empty"),
    # entries written as !new:...NoiseCondition objects
    "bad_new": (
        f"conditions:\n  - {NEW}\n"
        "    name: babble\n    category: babble\n    snr_db: 5\n",
        "'babble'",
    ),
    "bad_key": (
        f"conditions:\n  - {NEW}\n    name: n\n    category: noise\n"
        "    snr: 5\n",
        "snr",
    ),
    "bad_yaml": ("conditions: [\n", "invalid yaml"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_condition_file_is_refused_by_name(tmp_path, name):
    text, problem = BAD_FILES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"{name}\.yaml.*{problem}"):
        load_conditions(path)


def test_missing_condition_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_conditions(tmp_path / "missing.yaml")
    with pytest.raises(FileNotFoundError, match="find_condition_set"):
        load_conditions("paper7")


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


def test_mixer_seed_and_category_change_noise(pools, batch):
    wavs, lens, ids, _ = batch
    condition = NoiseCondition("music_5dB", "music", 5)
    a = ConditionMixer(pools, seed=1)(wavs, lens, ids, condition)
    b = ConditionMixer(pools, seed=2)(wavs, lens, ids, condition)
    assert not torch.equal(a, b)
    other = NoiseCondition("speech_5dB", "speech", 5)
    c = ConditionMixer(pools, seed=1)(wavs, lens, ids, other)
    assert not torch.equal(a, c)
    # The draw is keyed by the category, not by the condition's name.
    renamed = NoiseCondition("music_5dB_b", "music", 5)
    d = ConditionMixer(pools, seed=1)(wavs, lens, ids, renamed)
    assert torch.equal(a, d)


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
    assert torch.allclose(segment[:8000], segment[8000:16000])
    assert mixer._info == {path: (4000, 8000)}
    clean = speech_like(1.25, seed=5).unsqueeze(0)
    noisy = mixer(clean, torch.ones(1), ["u"], condition)
    assert abs(measured_snr(clean[0], noisy[0])) < 0.01


# ---------------------------------------------------------------- sets


def test_condition_sets_are_packaged(tmp_path, monkeypatch):
    folder = condition_sets_folder()
    # the single source: the collection's top-level hparams/ folder,
    # installed as speechbrain_ext.hparams, and no second copy
    assert folder == os.path.join(hparams_folder(), "condition_sets")
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    tracked = subprocess.run(
        ["git", "ls-files", "*.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [p for p in tracked if p.endswith("/paper7.yaml")] == [
        "hparams/condition_sets/paper7.yaml"
    ]
    # Found by name from any working directory.
    monkeypatch.chdir(tmp_path)
    for name in ("paper7", "clean", "snr_sweep"):
        path = find_condition_set(name)
        assert path == os.path.join(folder, f"{name}.yaml")
        assert find_condition_set(path) == path
    user = tmp_path / "mine.yaml"
    user.write_text("conditions:\n  - {name: clean}\n")
    assert find_condition_set(str(user)) == str(user)
    assert find_condition_set(user) == str(user)
    with pytest.raises(FileNotFoundError, match=r"'paper8'.*clean, paper7"):
        find_condition_set("paper8")
    with pytest.raises(FileNotFoundError, match="snr_sweep"):
        find_condition_set("nowhere/paper7")


@pytest.mark.parametrize("name", ["paper7", "clean", "snr_sweep"])
def test_packaged_sets_build_noise_conditions(name):
    path = find_condition_set(name)
    with open(path) as fin:
        text = fin.read()
    # HyperPyYAML objects, one !new: per entry, and the usage documented.
    entries = load_conditions(path)
    assert text.count(NEW) == len(entries)
    assert "--test_conditions=paper7|clean|snr_sweep|<path" in text
    assert all(isinstance(entry, NoiseCondition) for entry in entries)


def test_load_plain_mappings_still_work(tmp_path):
    user = tmp_path / "plain.yaml"
    user.write_text(
        "conditions:\n"
        "  - name: clean\n"
        "    category: null\n"
        "  - {name: noise_3dB, category: noise, snr_db: 3}\n"
        f"  - {NEW}\n"
        "    name: music_3dB\n"
        "    category: music\n"
        "    snr_db: 3.0\n"
    )
    assert load_conditions(str(user)) == [
        NoiseCondition("clean"),
        NoiseCondition("noise_3dB", "noise", 3.0),
        NoiseCondition("music_3dB", "music", 3.0),
    ]


def extension_yaml(include):
    return (
        "# paper7 plus 0 dB.\n"
        f"paper7: !include:{include}\n"
        "conditions:\n"
        "  - !ref <paper7[conditions]>\n"
        f"  - {NEW}\n"
        "    name: noise_0dB\n"
        "    category: noise\n"
        "    snr_db: 0\n"
        "  - {name: speech_0dB, category: speech, snr_db: 0}\n"
    )


def test_user_file_extends_packaged_set(tmp_path):
    paper7 = load_conditions(find_condition_set("paper7"))
    extra = [
        NoiseCondition("noise_0dB", "noise", 0),
        NoiseCondition("speech_0dB", "speech", 0),
    ]
    folder = tmp_path / "my" / "sets"
    folder.mkdir(parents=True)
    # The packaged file by name, from a folder that does not hold it.
    by_name = folder / "paper7_0dB.yaml"
    by_name.write_text(extension_yaml("paper7.yaml"))
    assert load_conditions(by_name) == paper7 + extra
    # The packaged file by absolute path.
    absolute = os.path.join(condition_sets_folder(), "paper7.yaml")
    by_path = folder / "by_path.yaml"
    by_path.write_text(extension_yaml(absolute))
    assert load_conditions(str(by_path)) == paper7 + extra
    # A file next to the user's file comes first.
    (folder / "paper7.yaml").write_text("conditions:\n  - {name: clean}\n")
    assert load_conditions(by_name) == [NoiseCondition("clean")] + extra
    missing = folder / "missing.yaml"
    missing.write_text(extension_yaml("paper9.yaml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml.*paper9"):
        load_conditions(missing)
    dup = folder / "dup.yaml"
    dup.write_text(
        "paper7: !include:paper7.yaml\n"
        "clean: !include:clean.yaml\n"
        "conditions:\n"
        "  - !ref <paper7[conditions]>\n"
        "  - !ref <clean[conditions]>\n"
    )
    os.remove(folder / "paper7.yaml")
    with pytest.raises(ValueError, match=r"dup\.yaml.*duplicate.*clean"):
        load_conditions(dup)


# ---------------------------------------------------------------- segments


def write_wav(path, data, rate):
    sf.write(path, np.asarray(data, dtype=np.float32), rate, subtype="FLOAT")
    return str(path)


def write_csv(path, wavs):
    with open(path, "w") as fout:
        fout.write("ID,duration,wav,wav_format,wav_opts\n")
        for i, wav in enumerate(wavs):
            fout.write(f"w{i},1.0,{wav},wav,\n")
    return str(path)


def locate(reference, segment):
    """Offset of ``segment`` in ``reference`` (closest match)."""
    n = min(64, segment.shape[0])
    windows = reference.unfold(0, n, 1)
    return int((windows - segment[:n]).abs().sum(dim=1).argmin())


def test_mixer_reads_only_the_segment(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    files = {
        # name: (seconds, rate, channels)
        "long16k": (12.0, 16000, 1),
        "stereo44k": (6.0, 44100, 2),
        "mono8k": (8.0, 8000, 1),
    }
    needed = 16000  # one second of speech
    reads = []
    real_read = sf.read

    def counting_read(*args, **kwargs):
        data, rate = real_read(*args, **kwargs)
        reads.append((rate, data.shape[0]))
        return data, rate

    monkeypatch.setattr(conditions_module.soundfile, "read", counting_read)
    for name, (seconds, rate, channels) in files.items():
        shape = (int(seconds * rate), channels)
        wav = write_wav(
            tmp_path / f"{name}.wav", 0.1 * rng.standard_normal(shape), rate
        )
        pool = write_csv(tmp_path / f"{name}.csv", [wav])
        mixer = ConditionMixer({"noise": pool}, seed=5)
        condition = NoiseCondition("noise_5dB", "noise", 5)
        clean = speech_like(1.0, seed=1).repeat(4, 1)
        ids = [f"{name}_{k}" for k in range(4)]
        reads.clear()
        noisy = mixer(clean, torch.ones(4), ids, condition)
        assert reads, "no audio was read"
        for file_rate, frames in reads:
            # A few blocks of the resampler (441 frames at 44.1 kHz).
            block = file_rate // math.gcd(file_rate, RATE)
            limit = math.ceil(needed * file_rate / RATE) + 3 * block + 64
            assert frames <= limit, (name, frames, limit)
        for i in range(4):
            assert abs(measured_snr(clean[i], noisy[i]) - 5.0) < 0.01
        # Only metadata is kept between calls.
        assert mixer._info == {wav: (shape[0], rate)}
        for value in vars(mixer).values():
            assert not isinstance(value, (torch.Tensor, np.ndarray))


@pytest.mark.parametrize(
    "rate,channels,seconds",
    [(16000, 1, 3.0), (16000, 2, 3.0), (44100, 2, 2.0), (8000, 1, 3.0)],
)
def test_segment_equals_slice_of_whole_file(tmp_path, rate, channels, seconds):
    rng = np.random.default_rng(rate + channels)
    data = 0.2 * rng.standard_normal((int(seconds * rate), channels))
    wav = write_wav(tmp_path / "n.wav", data, rate)
    pool = write_csv(tmp_path / "n.csv", [wav])
    whole = torch.tensor(data, dtype=torch.float32).mean(dim=1)
    if rate != RATE:
        whole = torchaudio_resample(whole, rate, RATE)
    mixer = ConditionMixer({"noise": pool}, seed=9)
    condition = NoiseCondition("noise_5dB", "noise", 5)
    length = 12000
    offsets = set()
    for k in range(12):
        path, segment = mixer.noise_segment(condition, f"u{k}", length)
        assert path == wav and segment.shape == (length,)
        offset = locate(whole, segment)
        offsets.add(offset)
        expected = whole[offset : offset + length]
        if rate == RATE:
            assert torch.equal(segment, expected)
        else:
            assert torch.allclose(segment, expected, atol=1e-5)
    assert len(offsets) > 6
    # Shorter than the utterance: looped, at any rate.
    length = whole.shape[0] + 5000
    _, segment = mixer.noise_segment(condition, "long", length)
    offset = locate(whole, segment)
    period = whole.shape[0]
    assert torch.allclose(segment[:period], torch.roll(whole, -offset))
    assert torch.equal(segment[period:], segment[: length - period])


def torchaudio_resample(signal, rate, target):
    import torchaudio

    return torchaudio.functional.resample(signal, rate, target)


# ---------------------------------------------------------------- draws


def test_same_segment_at_every_snr_of_a_category(pools, batch):
    wavs, lens, ids, lengths = batch
    mixer = ConditionMixer(pools, seed=7)
    for category in ("noise", "music", "speech"):
        loud = mixer(
            wavs, lens, ids, NoiseCondition(f"{category}_15dB", category, 15)
        )
        soft = ConditionMixer(pools, seed=7)(
            wavs, lens, ids, NoiseCondition(f"{category}_5dB", category, 5)
        )
        for i, n in enumerate(lengths):
            r15 = (loud[i, :n] - wavs[i, :n]).double()
            r5 = (soft[i, :n] - wavs[i, :n]).double()
            corr = torch.corrcoef(torch.stack([r15, r5]))[0, 1].item()
            assert corr > 0.9999, (category, ids[i], corr)
            ratio = r5.pow(2).mean().sqrt() / r15.pow(2).mean().sqrt()
            assert abs(ratio.item() / 10 ** ((15 - 5) / 20) - 1) < 1e-4


# ---------------------------------------------------------------- rms floor


@pytest.fixture
def quiet_pool(tmp_path):
    rng = np.random.default_rng(12)
    n = 2 * RATE
    zero = write_wav(tmp_path / "zero.wav", np.zeros(n), RATE)
    # First 70 % near-silent (-120 dBFS hiss), then noise.
    late = 1e-6 * rng.standard_normal(n)
    late[int(0.7 * n) :] = 0.1 * rng.standard_normal(n - int(0.7 * n))
    late = write_wav(tmp_path / "late.wav", late, RATE)
    loud = write_wav(tmp_path / "loud.wav", 0.05 * rng.standard_normal(n), RATE)
    return write_csv(tmp_path / "noise_test.csv", [zero, late, loud])


def test_mixer_redraws_silent_segments(quiet_pool):
    condition = NoiseCondition("noise_5dB", "noise", 5)
    length = int(0.3 * RATE)
    ids = [f"utt{k:02d}" for k in range(40)]
    # The first draws do hit silence: the test exercises the redraw.
    first_only = ConditionMixer(
        {"noise": quiet_pool}, seed=3, rms_floor=0.0, max_draws=1
    )
    silent_first = 0
    for utt_id in ids:
        try:
            _, segment = first_only.noise_segment(condition, utt_id, length)
        except ValueError:
            silent_first += 1
            continue
        silent_first += segment.pow(2).mean().sqrt().item() < 1e-4
    assert silent_first >= 10

    mixer = ConditionMixer({"noise": quiet_pool}, seed=3)
    assert mixer.rms_floor == 1e-4
    for utt_id in ids:
        path, segment = mixer.noise_segment(condition, utt_id, length)
        assert not path.endswith("zero.wav")
        assert segment.double().pow(2).mean().sqrt().item() >= 1e-4
    clean = torch.stack([speech_like(0.3, seed=k) for k in range(len(ids))])
    noisy = mixer(clean, torch.ones(len(ids)), ids, condition)
    for i in range(len(ids)):
        assert abs(measured_snr(clean[i], noisy[i]) - 5.0) < 0.01
    # Redraws are reproducible and independent of the batch.
    again = ConditionMixer({"noise": quiet_pool}, seed=3)(
        clean[5:9].flip(0), torch.ones(4), ids[5:9][::-1], condition
    )
    assert torch.equal(again.flip(0), noisy[5:9])


def test_mixer_silent_pool_names_csv_and_utterance(tmp_path):
    n = RATE
    zero = write_wav(tmp_path / "zero.wav", np.zeros(n), RATE)
    hiss = write_wav(
        tmp_path / "hiss.wav",
        1e-6 * np.random.default_rng(0).standard_normal(n),
        RATE,
    )
    pool = write_csv(tmp_path / "silent_test.csv", [zero, hiss])
    mixer = ConditionMixer({"noise": pool})
    condition = NoiseCondition("noise_5dB", "noise", 5)
    clean = speech_like(0.5, seed=0).unsqueeze(0)
    with pytest.raises(ValueError, match=r"Ses01F_x.*silent_test\.csv"):
        mixer(clean, torch.ones(1), ["Ses01F_x"], condition)
    # A lower floor accepts the hiss.
    quiet = ConditionMixer({"noise": pool}, rms_floor=1e-7)
    noisy = quiet(clean, torch.ones(1), ["Ses01F_x"], condition)
    assert abs(measured_snr(clean[0], noisy[0]) - 5.0) < 0.01
    for bad in ({"rms_floor": -1.0}, {"rms_floor": math.nan}):
        with pytest.raises(ValueError, match="rms_floor"):
            ConditionMixer({"noise": pool}, **bad)
    with pytest.raises(ValueError, match="max_draws"):
        ConditionMixer({"noise": pool}, max_draws=0)


def test_mix_at_snr_equals_the_closed_form_scaling():
    """torchaudio's add_noise gives the mixture the SNR formula defines."""
    gen = torch.Generator().manual_seed(3)
    lengths = [12000, 7001, 0]
    clean = torch.zeros(3, 12000)
    for i, n in enumerate(lengths):
        clean[i, :n] = torch.randn(n, generator=gen)
    clean[1, :100] = 0.0  # a valid part that starts silent
    noise = torch.randn(3, 4000, generator=gen)
    snrs = torch.tensor([5.0, 15.0, 0.0])
    noisy = mix_at_snr(clean, noise, snrs, torch.tensor(lengths) / 12000)
    for i, n in enumerate(lengths):
        if n == 0:
            assert torch.equal(noisy[i], clean[i])
            continue
        signal = clean[i, :n].double()
        segment = noise[i].double().repeat(n // 4000 + 1)[:n]
        scale = torch.sqrt(
            signal.pow(2).mean()
            / (segment.pow(2).mean() * 10 ** (snrs[i].item() / 10))
        )
        expected = (signal + scale * segment).float()
        assert torch.allclose(noisy[i, :n], expected, atol=5e-7)
        assert torch.all(noisy[i, n:] == 0)
