"""How much of the emotion is in the words, in the prosody, and in both.

Three linear classifiers are trained and tested on held-out speakers
(leave-one-session-out, predictions pooled over the folds):

* **words**: logistic regression on a binary bag of words of the
  ground-truth transcript;
* **prosody**: logistic regression on simple utterance statistics of energy,
  pitch and timing computed from the audio;
* **both**: the two feature sets side by side.

On an emotional speech corpus these numbers tell how hard the task is and
where its cues live; the joint ASR + SER recipes are expected to come close to
the ``both`` figure while reading ASR hypotheses instead of true words.

Example command line::

    python -m speechbrain_ext.synthetic.modality_check results/prep/all.json

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import json

import numpy as np
import soundfile as sf
import torch
import torchaudio

FRAME, HOP = 400, 160


def prosodic_features(wav, sample_rate=16000):
    """Utterance statistics of energy, pitch and timing.

    Arguments
    ---------
    wav : numpy.ndarray
        Mono waveform.
    sample_rate : int
        Its sample rate.

    Returns
    -------
    numpy.ndarray
        12 features: energy mean, std, 90th percentile and peak (dB); pitch
        median, std, 10th and 90th percentile (log Hz); active-frame share;
        energy peaks per active second; active duration; total duration.

    Example
    -------
    >>> t = np.arange(16000) / 16000
    >>> loud = prosodic_features(0.5 * np.sin(2 * np.pi * 200 * t))
    >>> soft = prosodic_features(0.05 * np.sin(2 * np.pi * 200 * t))
    >>> loud.shape, bool(loud[0] > soft[0] + 15)
    ((12,), True)
    """
    x = torch.as_tensor(np.asarray(wav, dtype=np.float32))
    frames = x.unfold(0, FRAME, HOP)
    energy = 10 * torch.log10(frames.pow(2).mean(-1) + 1e-10)
    active = energy > energy.max() - 35
    e = energy[active]
    pitch = torchaudio.functional.detect_pitch_frequency(
        x.unsqueeze(0),
        sample_rate,
        frame_time=0.02,
        freq_low=70,
        freq_high=500,
    )[0]
    idx = torch.linspace(0, len(active) - 1, len(pitch)).round().long()
    f0 = torch.log(pitch[active[idx]].clamp(min=50.0))
    if f0.numel() == 0:
        f0 = torch.log(pitch.clamp(min=50.0))
    smooth = torch.nn.functional.avg_pool1d(
        energy.view(1, 1, -1), 5, 1, 2
    ).view(-1)
    peaks = (
        (smooth[1:-1] > smooth[:-2])
        & (smooth[1:-1] >= smooth[2:])
        & active[1:-1]
    ).sum()
    active_s = active.sum().item() * HOP / sample_rate
    q = torch.tensor([0.1, 0.5, 0.9])
    e_q = torch.quantile(e, q)
    f_q = torch.quantile(f0, q)
    return np.array(
        [
            e.mean().item(),
            e.std().item() if e.numel() > 1 else 0.0,
            e_q[2].item(),
            e.max().item(),
            f_q[1].item(),
            f0.std().item() if f0.numel() > 1 else 0.0,
            f_q[0].item(),
            f_q[2].item(),
            active.float().mean().item(),
            peaks.item() / max(active_s, 1e-3),
            active_s,
            len(x) / sample_rate,
        ],
        dtype=np.float64,
    )


def _scores(labels, predictions):
    """WA (accuracy) and UA (mean per-class recall) in percent."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    wa = accuracy_score(labels, predictions)
    ua = balanced_accuracy_score(labels, predictions)
    return {"WA": round(100 * wa, 2), "UA": round(100 * ua, 2)}


def modality_check(manifest, group_key="session"):
    """Words-only, prosody-only and combined linear emotion classifiers.

    Arguments
    ---------
    manifest : str or dict
        A JSON manifest (path or loaded dict) whose entries have ``wav``,
        ``wrd``, ``emo`` and ``group_key``.
    group_key : str
        Entry field whose values are held out one at a time.

    Returns
    -------
    dict
        ``words``, ``prosody`` and ``both``, each with ``WA`` and ``UA`` in
        percent, plus ``n`` and ``classes``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> entries = {}
    >>> for i in range(40):
    ...     loud = i % 2
    ...     path = os.path.join(d, f"{i}.wav")
    ...     amp = 0.5 if loud else 0.02
    ...     sf.write(path, amp * rng.standard_normal(8000), 16000)
    ...     entries[str(i)] = {"wav": path, "wrd": "A B", "session": i % 4,
    ...                        "emo": "ang" if loud else "sad"}
    >>> res = modality_check(entries)
    >>> res["prosody"]["WA"] > 90, res["words"]["WA"] <= 60
    (True, True)
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if isinstance(manifest, str):
        with open(manifest, encoding="utf-8") as f:
            manifest = json.load(f)
    items = list(manifest.values())
    labels = np.array([it["emo"] for it in items])
    groups = np.array([it[group_key] for it in items])
    classes = sorted(set(labels))

    vectorizer = CountVectorizer(binary=True, token_pattern=r"[^ ]+")
    words = (
        vectorizer.fit_transform([it["wrd"].lower() for it in items])
        .toarray()
        .astype(np.float64)
    )
    prosody = np.stack(
        [
            prosodic_features(sf.read(it["wav"], dtype="float32")[0])
            for it in items
        ]
    )

    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)
    )
    result = {"n": len(items), "classes": classes}
    for name, feats in (
        ("words", words),
        ("prosody", prosody),
        ("both", np.concatenate([words, prosody], axis=1)),
    ):
        preds = cross_val_predict(
            model, feats, labels, groups=groups, cv=LeaveOneGroupOut()
        )
        result[name] = _scores(labels, preds)
    return result


def main(argv=None):
    """Command line: prints the modality check of a manifest as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", help="JSON manifest with wav, wrd, emo")
    parser.add_argument("--group_key", default="session")
    args = parser.parse_args(argv)
    result = modality_check(args.manifest, group_key=args.group_key)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
