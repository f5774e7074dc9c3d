import soundfile as sf
import torch
from speechbrain.augment.augmenter import Augmenter
from speechbrain.augment.time_domain import AddNoise, SpeedPerturb

from speechbrain_ext.augment.replicate import replicate_batch_items


def _noise_csv(tmp_path):
    wav = tmp_path / "n.wav"
    sf.write(wav, 0.001 * torch.randn(16000).numpy(), 16000)
    csv = tmp_path / "noise.csv"
    csv.write_text(f"ID,duration,wav,wav_format,wav_opts\nn,1.0,{wav},wav,\n")
    return str(csv)


def _batch(labels, length=8000):
    """Each row is a constant signal whose level encodes its label."""
    wavs = torch.stack([torch.full((length,), 0.1 * (k + 1)) for k in labels])
    return wavs, torch.ones(len(labels))


def test_targets_follow_rows_through_noise_and_speed(tmp_path):
    torch.manual_seed(0)
    noise = Augmenter(
        concat_original=True,
        min_augmentations=1,
        max_augmentations=1,
        augmentations=[
            AddNoise(csv_file=_noise_csv(tmp_path), snr_low=30, snr_high=30)
        ],
    )
    speed = Augmenter(
        parallel_augment=True,
        concat_original=True,
        augmentations=[SpeedPerturb(16000, speeds=[90])],
    )
    labels = torch.tensor([0, 3, 1, 2])
    tokens = torch.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6], [7, 0, 0]])
    words = ["A B", "C", "D E F", "G"]
    ids = ["u0", "u1", "u2", "u3"]
    wavs, lens = _batch(labels.tolist())
    for aug in (noise, speed):
        wavs, lens = aug(wavs, lens)
        labels, tokens, words, ids = replicate_batch_items(
            aug, labels, tokens, words, ids
        )
    # noise doubles the batch, speed (original + one speed) doubles it again
    assert wavs.shape[0] == 16
    assert labels.shape == (16,) and tokens.shape == (16, 3)
    assert len(words) == len(ids) == 16
    # alignment: the level of each row still tells its label
    level = wavs[:, 100:1000].mean(dim=1)
    decoded = torch.round(level / 0.1 - 1).long()
    assert torch.equal(decoded, labels)
    for label, token_row, word, uid in zip(labels, tokens, words, ids):
        k = int(uid[1])
        assert word == ["A B", "C", "D E F", "G"][k]
        assert token_row[0].item() == [1, 3, 4, 7][k]
        assert label.item() == [0, 3, 1, 2][k]


def test_no_augmentation_keeps_items():
    aug = Augmenter(augment_prob=0.0, augmentations=[SpeedPerturb(16000)])
    wavs, lens = aug(torch.rand(2, 800), torch.ones(2))
    items = replicate_batch_items(aug, torch.tensor([1, 2]), ["a", "b"])
    assert wavs.shape[0] == 2 and items[1] == ["a", "b"]
