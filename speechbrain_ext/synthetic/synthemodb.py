"""SynthEmoDB: a licence-free stand-in for the Berlin Emo-DB corpus.

Writes ``<output_folder>/wav/<spk><text><emotion><version>.wav`` (16 kHz,
e.g. ``03a01Fa.wav``), the layout that ``prepare_emodb`` reads, so that the
Emo-DB recipes run on it unchanged:

* **ten speakers** with the Emo-DB ids (``03``, ``10``, ``11``, ``12``,
  ``15`` male; ``08``, ``09``, ``13``, ``14``, ``16`` female), each an eSpeak
  NG German voice variant (``de+m1`` ... ``de+m5``, ``de+f1`` ... ``de+f5``:
  :data:`SPEAKER_VOICES`), and as many utterances per speaker as the real
  corpus has (49 to 71 for 535 utterances; scaled down for smaller
  corpora);
* **ten texts** with the Emo-DB text ids (``a01`` ... ``b10``): short
  everyday German sentences written for this generator (not Emo-DB's);
* **seven emotions** with Emo-DB's letters (W anger, L boredom, E disgust,
  A fear, F happiness, T sadness, N neutral) and class proportions (anger
  most frequent, disgust least); the words are the same for every emotion:
  **the emotion is carried by prosody only** -- speaking rate, pitch, pitch
  range and volume, each with a distinct mean per emotion
  (:data:`EMOTION_PROSODY`), a per-speaker offset, a per-speaker-and-emotion
  offset (actors do not portray an emotion the same way) and a per-utterance
  jitter;
* **versions** ``a``, ``b``, ... when a speaker says the same text in the
  same emotion more than once.

The generator is deterministic: the same seed gives byte-identical files
(every utterance is synthesised in a fresh process, as in
:mod:`speechbrain_ext.synthetic.synthemo`). The 535 utterances of the
default corpus take about 25 seconds with two workers.

Example command line::

    python -m speechbrain_ext.synthetic.synthemodb --output_folder data/emodb

Authors
 * SpeechBrain Emo-DB recipe contributors
"""

import argparse
import json
import logging
import os
import time

import numpy as np

from speechbrain_ext.synthetic.staging import generate_once
from speechbrain_ext.synthetic.synthemo import (
    _check_integer,
    _run_jobs,
    _stable_seed,
)

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Speaker id -> (gender, utterances in the real Emo-DB: 535 in all)
EMODB_SPEAKERS = {
    "03": ("M", 49),
    "08": ("F", 58),
    "09": ("F", 43),
    "10": ("M", 38),
    "11": ("M", 55),
    "12": ("M", 35),
    "13": ("F", 61),
    "14": ("F", 69),
    "15": ("M", 56),
    "16": ("F", 71),
}
# Emotion letter -> utterances in the real Emo-DB (535 in all)
EMODB_EMOTIONS = {
    "W": 127,
    "L": 81,
    "E": 46,
    "A": 69,
    "F": 71,
    "T": 62,
    "N": 79,
}
# Emo-DB's text ids, with sentences of our own (short, everyday, neutral;
# "codespell:ignore" marks German words that look like English typos)
TEXTS = {
    "a01": "Die Tasche steht neben dem Schrank im Flur.",
    "a02": "Am Montag fährt der Zug um acht Uhr ab.",
    "a04": "Wir haben die Fenster gestern neu gestrichen.",
    "a05": "Das rote Buch liegt oben auf dem Regal.",
    "a07": (
        "Sie hat den Brief heute Morgen zur Post gebracht."  # codespell:ignore
    ),
    "b01": "Der Schlüssel hängt an dem Haken neben der Tür.",
    "b02": "Morgen kommt der Handwerker und repariert die Heizung.",
    "b03": "Die Kinder spielen am Nachmittag im Garten.",
    "b09": "Ich stelle die Teller und die Tassen in den Schrank.",
    "b10": "Er hat das Auto vor der Garage geparkt.",  # codespell:ignore
}
# eSpeak NG German voice variant of each speaker. The variants f1-f4 start
# at 140 Hz, f5 at 160 Hz: the highest voice trains (08), so that the
# held-out speakers of the paper's split (15, 16) are not the one voice
# that no training voice resembles.
SPEAKER_VOICES = {
    "03": "de+m1",
    "08": "de+f5",
    "09": "de+f2",
    "10": "de+m2",
    "11": "de+m3",
    "12": "de+m4",
    "13": "de+f3",
    "14": "de+f4",
    "15": "de+m5",
    "16": "de+f1",
}

# Mean prosody of each emotion, in eSpeak NG units (rate in words per
# minute, pitch and pitch range 0-99, volume 0-200). Aroused emotions
# (anger, happiness, fear) are fast; anger is loud, happiness high and wide
# in pitch, fear high but narrow; boredom and sadness are slow, low, flat
# and soft; disgust is slow with a wide range.
EMOTION_PROSODY = {
    "N": dict(rate=165, pitch=45, pitch_range=45, volume=100),
    "W": dict(rate=200, pitch=58, pitch_range=80, volume=165),
    "F": dict(rate=191, pitch=74, pitch_range=97, volume=132),
    "A": dict(rate=230, pitch=80, pitch_range=36, volume=113),
    "L": dict(rate=133, pitch=32, pitch_range=6, volume=80),
    "T": dict(rate=107, pitch=38, pitch_range=19, volume=61),
    "E": dict(rate=120, pitch=41, pitch_range=67, volume=120),
}
# Standard deviations of the per-utterance jitter, of the per-speaker
# offsets and of the per-speaker-and-emotion offsets (same units)
PROSODY_JITTER = dict(rate=9.0, pitch=4.5, pitch_range=9.0, volume=11.0)
SPEAKER_SPREAD = dict(rate=7.5, pitch=4.5, pitch_range=4.5, volume=7.5)
SPEAKER_EMOTION_SPREAD = dict(rate=4.5, pitch=3.0, pitch_range=6.0, volume=6.0)
_LIMITS = dict(rate=(90, 260), pitch=(5, 95), pitch_range=(0, 99))
_LIMITS["volume"] = (35, 190)
VERSIONS = "abcdefghijklmnopqrstuvwxyz"
MIN_UTTERANCES = len(EMODB_SPEAKERS) * len(EMODB_EMOTIONS)
"""One utterance per speaker and emotion."""
GENERATOR_VERSION = 1
"""Recorded by :func:`ensure_synthemodb`: bump it when the output changes."""


def _largest_remainder(total, weights):
    """Integers proportional to ``weights`` summing to ``total``."""
    weights = np.asarray(weights, dtype=float)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[
        : total - counts.sum()
    ]:
        counts[i] += 1
    return counts


def _cell_counts(rows, columns, rng):
    """A non-negative integer matrix with the given row and column sums.

    Each cell is close to ``rows[i] * columns[j] / total`` (the floor or the
    ceiling, ties broken at random).
    """
    rows, columns = np.asarray(rows), np.asarray(columns)
    exact = np.outer(rows, columns) / max(rows.sum(), 1)
    cells = np.floor(exact).astype(int)
    row_left = rows - cells.sum(1)
    col_left = columns - cells.sum(0)
    fraction = exact - cells + 1e-6 * rng.random(cells.shape)
    order = np.argsort(-fraction, axis=None)
    while row_left.sum() > 0:  # every pass adds at most one to a cell
        for i, j in zip(*np.unravel_index(order, cells.shape)):
            if row_left[i] > 0 and col_left[j] > 0:
                cells[i, j] += 1
                row_left[i] -= 1
                col_left[j] -= 1
    return cells


def plan_corpus(n_utterances=535, seed=1234):
    """The utterances of a corpus: speaker, text, emotion and version.

    Every speaker gets a share of ``n_utterances`` proportional to its
    utterances in Emo-DB, and its utterances are spread over the emotions in
    Emo-DB's class proportions and over the texts in a random order.

    Arguments
    ---------
    n_utterances : int
        Size of the corpus (535 like Emo-DB); at least
        :data:`MIN_UTTERANCES` (70), one utterance per speaker and emotion,
        and at most about 7500 (26 versions of each text per speaker and
        emotion).
    seed : int
        Random seed (non-negative).

    Returns
    -------
    list of dict
        ``utt_id``, ``spk_id``, ``text_id``, ``emotion`` (letter) and
        ``version``, sorted by utterance id.

    Example
    -------
    >>> plan = plan_corpus(535)
    >>> len(plan), plan[0]["utt_id"][:2]
    (535, '03')
    >>> sum(u["spk_id"] == "16" for u in plan)
    71
    """
    _check_integer("seed", seed, 0)
    _check_integer("n_utterances", n_utterances)
    if n_utterances < MIN_UTTERANCES:
        raise ValueError(
            f"n_utterances={n_utterances} is too small: at least "
            f"{MIN_UTTERANCES} (one utterance per speaker and emotion, so "
            "that every speaker of prepare_emodb's folds has every emotion)"
        )
    rng = np.random.default_rng(seed)
    speakers, letters = sorted(EMODB_SPEAKERS), list(EMODB_EMOTIONS)
    # One utterance per speaker and emotion; the others in proportion to
    # Emo-DB's speaker sizes and class sizes (exactly Emo-DB's for 535)
    rest = n_utterances - len(speakers) * len(letters)
    rows = _largest_remainder(
        rest, [EMODB_SPEAKERS[s][1] - len(letters) for s in speakers]
    )
    columns = _largest_remainder(
        rest, [EMODB_EMOTIONS[e] - len(speakers) for e in letters]
    )
    cells = 1 + _cell_counts(rows, columns, rng)
    most = len(TEXTS) * len(VERSIONS)
    if cells.max() > most:
        i, j = np.unravel_index(int(cells.argmax()), cells.shape)
        raise ValueError(
            f"n_utterances={n_utterances} is too large: speaker "
            f"{speakers[i]} would need {cells[i, j]} utterances of emotion "
            f"{letters[j]}, more than the {most} that {len(TEXTS)} texts in "
            f"{len(VERSIONS)} versions (a-z) allow"
        )
    plan = []
    for spk, counts in zip(speakers, cells):
        versions = {}
        for letter, n_emo in zip(letters, counts):
            texts = [str(t) for t in rng.permutation(sorted(TEXTS))]
            for i in range(int(n_emo)):
                text_id = texts[i % len(texts)]
                k = versions.get((text_id, letter), 0)
                versions[(text_id, letter)] = k + 1
                plan.append(
                    {
                        "utt_id": f"{spk}{text_id}{letter}{VERSIONS[k]}",
                        "spk_id": spk,
                        "text_id": text_id,
                        "emotion": letter,
                        "version": VERSIONS[k],
                    }
                )
    return sorted(plan, key=lambda u: u["utt_id"])


def _offsets(rng, spread):
    return {k: float(rng.normal(0, v)) for k, v in spread.items()}


def _prosody(rng, letter, *offsets):
    from speechbrain_ext.synthetic.espeak import Prosody

    values = {}
    for key, mean in EMOTION_PROSODY[letter].items():
        value = mean + sum(o[key] for o in offsets)
        value += rng.normal(0, PROSODY_JITTER[key])
        values[key] = int(np.clip(round(value), *_LIMITS[key]))
    return Prosody(**values)


def generate_synthemodb(
    output_folder,
    n_utterances=535,
    seed=1234,
    num_workers=2,
    noise_floor=0.002,
):
    """Writes a SynthEmoDB corpus in the Emo-DB layout.

    Arguments
    ---------
    output_folder : str
        Receives ``wav/<spk><text><emotion><version>.wav``.
    n_utterances : int
        Number of utterances (535 like Emo-DB; at least 70).
    seed : int
        Random seed: the same seed gives byte-identical files.
    num_workers : int
        Synthesis processes.
    noise_floor : float
        Standard deviation of the background noise added to each file.

    Returns
    -------
    dict
        Summary: ``n_utterances``, ``seconds`` (audio), ``speakers`` and
        ``emotions`` (counts), ``elapsed`` (wall time in seconds).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_ext.dataio.emodb_prepare import parse_emodb_name
    >>> out = tempfile.mkdtemp()
    >>> info = generate_synthemodb(out, n_utterances=70, num_workers=1)
    >>> info["n_utterances"], len(os.listdir(os.path.join(out, "wav")))
    (70, 70)
    >>> parse_emodb_name(sorted(os.listdir(os.path.join(out, "wav")))[0])
    {'spk_id': '03', 'text_id': 'a02', 'emo': 'ang', 'version': 'a'}
    """
    start = time.time()
    plan = plan_corpus(n_utterances, seed)
    rng = np.random.default_rng(seed + 1)
    speaker_offsets = {
        spk: _offsets(rng, SPEAKER_SPREAD) for spk in sorted(EMODB_SPEAKERS)
    }
    acting_offsets = {
        (spk, letter): _offsets(rng, SPEAKER_EMOTION_SPREAD)
        for spk in sorted(EMODB_SPEAKERS)
        for letter in EMODB_EMOTIONS
    }
    wav_folder = os.path.join(output_folder, "wav")
    jobs = []
    for utt in plan:
        spk, letter = utt["spk_id"], utt["emotion"]
        utt_id = utt["utt_id"]
        utt_rng = np.random.default_rng(_stable_seed(seed, "prosody", utt_id))
        jobs.append(
            {
                "path": os.path.join(wav_folder, utt["utt_id"] + ".wav"),
                "text": TEXTS[utt["text_id"]],
                "voice": SPEAKER_VOICES[spk],
                "prosody": _prosody(
                    utt_rng,
                    letter,
                    speaker_offsets[spk],
                    acting_offsets[(spk, letter)],
                ),
                "seed": _stable_seed(seed, utt["utt_id"]),
                "min_seconds": 1.0,
                "noise_floor": noise_floor,
            }
        )
    durations = dict(_run_jobs(jobs, num_workers))
    speakers, emotions = {}, {}
    for utt in plan:
        speakers[utt["spk_id"]] = speakers.get(utt["spk_id"], 0) + 1
        emotions[utt["emotion"]] = emotions.get(utt["emotion"], 0) + 1
    return {
        "n_utterances": len(plan),
        "seconds": round(sum(durations.values()), 2),
        "speakers": speakers,
        "emotions": emotions,
        "elapsed": round(time.time() - start, 2),
    }


def ensure_synthemodb(output_folder, n_utterances=535, seed=1234):
    """Generates SynthEmoDB in ``output_folder`` unless it exists already.

    A small ``synthemodb.json`` records the options; a corpus generated
    with other options is an error (choose another folder). The options
    are checked before anything is written. The corpus is written to
    ``synthemodb.partial`` and moved to ``wav/`` when complete, so an
    interrupted generation starts again from scratch (see
    :func:`~speechbrain_ext.synthetic.staging.generate_once`). Nothing that
    this function did not write is changed: a non-empty ``wav`` folder
    without the record, or a ``synthemodb.partial`` folder without the
    generator's mark, is an error naming the folder.

    Arguments
    ---------
    output_folder : str
        The corpus folder (the ``data_folder`` of ``prepare_emodb``).
    n_utterances : int
        Number of utterances (at least :data:`MIN_UTTERANCES`).
    seed : int
        Random seed (non-negative).

    Returns
    -------
    dict
        The generation summary (read back from ``synthemodb.json`` when the
        corpus existed).

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> first = ensure_synthemodb(out, n_utterances=70)
    >>> ensure_synthemodb(out, n_utterances=70) == first
    True
    >>> ensure_synthemodb(out, n_utterances=80)
    Traceback (most recent call last):
    ...
    FileExistsError: ... generated with other options ...
    """
    plan_corpus(n_utterances, seed)  # checks the options
    options = {
        "n_utterances": n_utterances,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
    }

    def generate(staging):
        """Writes the corpus into the staging folder; its summary."""
        logger.info("Generating SynthEmoDB in %s", output_folder)
        return generate_synthemodb(
            staging, n_utterances=n_utterances, seed=seed
        )

    summary = generate_once(
        output_folder, "synthemodb", ["wav"], options, generate
    )
    logger.info(
        "SynthEmoDB: %d utterances (%.0f s of audio) in %.1f s",
        summary["n_utterances"],
        summary["seconds"],
        summary["elapsed"],
    )
    return summary


def main(argv=None):
    """Command line: writes SynthEmoDB in ``--output_folder``.

    Bad options exit with status 2 and a message naming the option; a
    folder that the generator must not write into exits with status 1 and
    a message naming it.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The generation summary.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--n_utterances", type=int, default=535)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    try:
        plan_corpus(args.n_utterances, args.seed)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO)
    try:
        info = ensure_synthemodb(
            args.output_folder, n_utterances=args.n_utterances, seed=args.seed
        )
    except FileExistsError as error:
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    print(json.dumps(info, indent=2))
    return info


if __name__ == "__main__":
    main()
