"""The SNR-sweep figure of ``bench/noise_training.py``: its legends."""

import os
import sys

import matplotlib.colors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import noise_training  # noqa: E402

SNRS = (20, 10, 0)


def _metrics(system, offset):
    """snr_sweep metrics of a fake system (WER only with an ASR head, UA
    only with an emotion head)."""
    keys = {"joint": ("WER", "UA"), "asr": ("WER",), "ser": ("UA",)}[system]
    metrics = {"clean": {key: 10.0 + offset for key in keys}}
    for category in ("noise", "music", "speech"):
        for snr in SNRS:
            metrics[f"{category}_{snr}dB"] = {
                key: 50.0 - snr + offset for key in keys
            }
    return metrics


def _results():
    return {
        (system, training): _metrics(system, offset)
        for offset, (system, training) in enumerate(
            (s, t) for s in ("joint", "asr", "ser") for t in ("clean", "noise")
        )
    }


def _legend(ax):
    """{label: colour} of the entries of an axes' legend."""
    legend = ax.get_legend()
    assert legend is not None, ax.get_title()
    return {
        text.get_text(): matplotlib.colors.to_hex(handle.get_color())
        for text, handle in zip(legend.get_texts(), legend.legend_handles)
    }


def test_every_row_names_its_own_lines():
    fig = noise_training.sweep_figure(_results())
    wer_row, ua_row = fig.axes[:3], fig.axes[3:]
    assert [ax.get_title() for ax in ua_row] == [
        "noise: UA",
        "music: UA",
        "babble: UA",
    ]
    wer_legend, ua_legend = _legend(wer_row[0]), _legend(ua_row[0])
    assert sorted(wer_legend) == [
        "asr, clean-trained",
        "asr, noise-trained",
        "joint, clean-trained",
        "joint, noise-trained",
    ]
    assert sorted(ua_legend) == [
        "joint, clean-trained",
        "joint, noise-trained",
        "ser, clean-trained",
        "ser, noise-trained",
    ]
    # Every line of a panel is in its row's legend, in the legend's colour
    for row, legend in ((wer_row, wer_legend), (ua_row, ua_legend)):
        for ax in row:
            lines = {
                line.get_label(): matplotlib.colors.to_hex(line.get_color())
                for line in ax.get_lines()
            }
            assert lines == legend, ax.get_title()
    # The SER-only lines do not take the ASR-only lines' colours
    ser, asr = ua_legend["ser, clean-trained"], wer_legend["asr, clean-trained"]
    assert ser != asr
    joint = "joint, noise-trained"
    assert ua_legend[joint] == wer_legend[joint]
    # From the highest SNR on the left to the lowest on the right
    for ax in fig.axes:
        left, right = ax.get_xlim()
        assert left > right, ax.get_title()


def test_sweep_plot_is_written(tmp_path):
    path = tmp_path / "snr_sweep.png"
    noise_training._plot_sweep(_results(), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
