"""SynthEmo and SynthNoise: licence-free stand-ins for IEMOCAP and MUSAN.

SynthEmo is an emotional speech corpus written in the exact layout of
``IEMOCAP_full_release`` (evaluation files, transcriptions, one wav per
utterance), so that the IEMOCAP preparation runs on it unchanged. Ten
speakers (five sessions, one female and one male each) are distinct eSpeak NG
voices. The emotion cues are split the way they are in real speech:

* **arousal lives mostly in prosody**: angry and happy speech is faster,
  louder and wider in pitch range than neutral and sad speech;
* **valence lives mostly in the words**: happy utterances tend to use
  positive words, angry and sad ones negative words (partly shared, partly
  specific), while a share of every emotional class is lexically neutral.

Every cue is jittered per utterance, so neither the audio alone nor the words
alone reach what both reach together. SynthNoise writes the MUSAN layout
(``noise/``, ``music/``, ``speech/``) with coloured noises, hums and clicks,
synthesised melodies and chords, and speech from voices that no SynthEmo
speaker uses. :func:`ensure_synthemo` generates both once;
:func:`ensure_synthnoise` generates SynthNoise alone, for a recipe whose
corpus comes from elsewhere.

Both generators are deterministic: the same seed gives byte-identical files.

Example command line::

    python -m speechbrain_ext.synthetic.synthemo --output_folder data/synth

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import hashlib
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
import soundfile as sf

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SPEAKER_VOICES = {
    "F": [
        "en-us+f1",
        "en+f2",
        "en-gb-x-rp+f3",
        "en-029+f4",
        "en-gb-scotland+f5",
    ],
    "M": [
        "en-us+m1",
        "en+m2",
        "en-gb-x-rp+m3",
        "en-029+m4",
        "en-gb-scotland+m5",
    ],
}
BABBLE_VOICES = [
    "en-gb-x-gbcwmd+m6",
    "en-us-nyc+m7",
    "en-gb-x-gbclan+m8",
    "en+linda",
    "en-us+belinda",
    "en-us+aunty",
]

# Mean prosody of each emotion (eSpeak NG units) and its per-utterance spread.
EMOTION_PROSODY = {
    "neu": dict(rate=165, pitch=45, pitch_range=40, volume=95),
    "hap": dict(rate=182, pitch=62, pitch_range=75, volume=125),
    "ang": dict(rate=192, pitch=52, pitch_range=62, volume=145),
    "sad": dict(rate=138, pitch=38, pitch_range=22, volume=72),
}
PROSODY_JITTER = dict(rate=14.0, pitch=8.0, pitch_range=14.0, volume=18.0)
# Share of utterances of each class whose words carry the class's valence.
LEXICAL_SHARE = {"neu": 0.0, "hap": 0.7, "ang": 0.7, "sad": 0.7}
# Share of the negative words that angry and sad utterances have in common.
SHARED_NEGATIVE_SHARE = 0.5
# Class proportions of the four targets, and of the non-target rows.
TARGET_PRIORS = {"neu": 0.30, "hap": 0.28, "ang": 0.21, "sad": 0.21}
EXCITED_SHARE = 0.4
NON_TARGET_SHARE = 0.12
VAD = {
    "neu": (3.0, 2.5, 2.5),
    "hap": (4.0, 3.5, 3.0),
    "exc": (4.0, 4.0, 3.5),
    "ang": (1.5, 4.0, 4.0),
    "sad": (2.0, 2.0, 2.0),
    "fru": (2.0, 3.0, 3.0),
    "xxx": (2.5, 3.0, 3.0),
}
ANNOTATOR_NAMES = {
    "neu": "Neutral",
    "hap": "Happiness",
    "exc": "Excited",
    "ang": "Anger",
    "sad": "Sadness",
    "fru": "Frustration",
    "xxx": "Other",
}

# A small grammar: a few hundred words in all.
SUBJECTS = [
    "i", "we", "they", "she", "he", "my brother", "my sister", "the driver",
    "our neighbour", "the teacher", "my friend", "the doctor",
]  # fmt: skip
NOUNS = [
    "table", "window", "door", "box", "chair", "car", "letter", "kitchen",
    "garden", "office", "station", "papers", "ticket", "phone", "house",
    "room", "train", "bus", "dinner", "meeting", "book", "picture", "shop",
    "street", "money", "job", "plan", "party", "weekend", "holiday",
]  # fmt: skip
PAST_VERBS = [
    "moved", "painted", "opened", "closed", "checked", "cleaned", "carried",
    "found", "bought", "ordered", "sold", "visited", "called", "fixed",
]  # fmt: skip
BASE_VERBS = [
    "move", "paint", "open", "close", "check", "clean", "carry", "find",
    "buy", "order", "sell", "visit", "call", "fix",
]  # fmt: skip
TIMES = [
    "this morning", "on monday", "after lunch", "at noon", "last week",
    "yesterday", "tonight", "at ten", "on friday", "next week", "today",
    "in the evening",
]  # fmt: skip
PLACES = [
    "in the kitchen", "near the door", "at the station", "on the table",
    "in the car", "at the office", "by the window", "in the garden",
]  # fmt: skip
POSITIVE_ADJ = [
    "wonderful", "great", "amazing", "perfect", "lovely", "fantastic",
    "beautiful", "brilliant", "excellent", "delightful",
]  # fmt: skip
POSITIVE_VERBS = ["love", "adore", "enjoy", "really like"]
POSITIVE_PHRASES = [
    "i am so happy", "this is the best day", "we finally won",
    "thank you so much", "that is great news", "i can't wait",
    "what a nice surprise", "i am so proud of you",
]  # fmt: skip
NEGATIVE_ADJ = ["terrible", "awful", "horrible", "bad", "wrong", "the worst"]
ANGER_ADJ = [
    "stupid", "ridiculous", "unfair", "outrageous", "useless", "annoying",
]  # fmt: skip
ANGER_VERBS = ["hate", "can't stand", "am sick of", "am fed up with"]
ANGER_PHRASES = [
    "stop lying to me", "that is enough", "get out of here",
    "don't you dare", "you never listen", "leave me alone right now",
]  # fmt: skip
SAD_ADJ = ["lonely", "empty", "tired", "hopeless", "miserable", "lost"]
SAD_VERBS = ["miss", "lost", "can't find", "gave away"]
SAD_PHRASES = [
    "i feel so alone", "nobody came", "i am so sorry",
    "it is all gone", "i just want to cry", "she left without a word",
]  # fmt: skip


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _neutral_sentence(rng):
    form = int(rng.integers(5))
    if form == 0:
        return (
            f"{_pick(rng, SUBJECTS)} {_pick(rng, PAST_VERBS)} the "
            f"{_pick(rng, NOUNS)} {_pick(rng, TIMES)}"
        )
    if form == 1:
        return f"the {_pick(rng, NOUNS)} is {_pick(rng, PLACES)}"
    if form == 2:
        return (
            f"{_pick(rng, SUBJECTS)} will {_pick(rng, BASE_VERBS)} the "
            f"{_pick(rng, NOUNS)} {_pick(rng, TIMES)}"
        )
    if form == 3:
        return (
            f"did you {_pick(rng, BASE_VERBS)} the {_pick(rng, NOUNS)} "
            f"{_pick(rng, TIMES)}"
        )
    return (
        f"please {_pick(rng, BASE_VERBS)} the {_pick(rng, NOUNS)} "
        f"{_pick(rng, PLACES)}"
    )


def _valenced_sentence(rng, adjectives, verbs, phrases):
    form = int(rng.integers(5))
    noun = _pick(rng, NOUNS)
    if form == 0:
        return f"the {noun} is {_pick(rng, adjectives)}"
    if form == 1:
        return f"i {_pick(rng, verbs)} this {noun}"
    if form == 2:
        return f"{_pick(rng, phrases)}"
    if form == 3:
        return f"{_pick(rng, phrases)} {_pick(rng, TIMES)}"
    return (
        f"{_pick(rng, SUBJECTS)} {_pick(rng, PAST_VERBS)} the {noun} and it "
        f"was {_pick(rng, adjectives)}"
    )


def make_sentence(rng, lexical_class):
    """Draws a sentence whose words carry ``lexical_class``.

    Arguments
    ---------
    rng : numpy.random.Generator
        Random generator.
    lexical_class : str
        ``neutral``, ``positive``, ``anger``, ``sadness`` or ``negative``
        (words that angry and sad speech share).

    Returns
    -------
    str
        A lower-case sentence without punctuation.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> s = make_sentence(rng, "positive")
    >>> any(w in s for w in POSITIVE_ADJ + POSITIVE_VERBS + POSITIVE_PHRASES)
    True
    """
    if lexical_class == "neutral":
        return _neutral_sentence(rng)
    if lexical_class == "positive":
        return _valenced_sentence(
            rng, POSITIVE_ADJ, POSITIVE_VERBS, POSITIVE_PHRASES
        )
    if lexical_class == "anger":
        return _valenced_sentence(rng, ANGER_ADJ, ANGER_VERBS, ANGER_PHRASES)
    if lexical_class == "sadness":
        return _valenced_sentence(rng, SAD_ADJ, SAD_VERBS, SAD_PHRASES)
    if lexical_class == "negative":
        return _valenced_sentence(
            rng, NEGATIVE_ADJ, ["hate", "miss"], ["this is terrible"]
        )
    raise ValueError(f"unknown lexical class {lexical_class!r}")


def _lexical_class(rng, emotion):
    """Which words an utterance of ``emotion`` uses."""
    if emotion not in LEXICAL_SHARE or rng.random() >= LEXICAL_SHARE[emotion]:
        return "neutral"
    if emotion == "hap":
        return "positive"
    if rng.random() < SHARED_NEGATIVE_SHARE:
        return "negative"
    return "anger" if emotion == "ang" else "sadness"


def _script_pool(n_per_class=25):
    """Fixed sentences that scripted dialogs share across all speakers."""
    rng = np.random.default_rng(20240521)
    classes = ["neutral", "positive", "anger", "sadness", "negative"]
    return {
        c: [make_sentence(rng, c) for _ in range(n_per_class)] for c in classes
    }


def _prosody_for(rng, emotion, speaker_offset):
    from speechbrain_ext.synthetic.espeak import Prosody

    base_emotion = {"exc": "hap", "fru": "ang", "xxx": "neu"}.get(
        emotion, emotion
    )
    mean = EMOTION_PROSODY[base_emotion]
    values = {
        k: mean[k]
        + speaker_offset.get(k, 0.0)
        + rng.normal(0, PROSODY_JITTER[k])
        for k in mean
    }
    return Prosody(
        rate=int(np.clip(values["rate"], 100, 260)),
        pitch=int(np.clip(values["pitch"], 5, 95)),
        pitch_range=int(np.clip(values["pitch_range"], 0, 99)),
        volume=int(np.clip(values["volume"], 35, 190)),
    )


def _stable_seed(*parts):
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _synthesize(job):
    from speechbrain_ext.synthetic.espeak import EspeakSynthesizer

    return EspeakSynthesizer(SAMPLE_RATE).synthesize(
        job["text"], job["voice"], job["prosody"], seed=job["seed"] % 2**31
    )


def _synth_worker(job):
    """Synthesises one utterance job and writes its wav file."""
    speech = _synthesize(job)
    if "path" not in job:
        return speech
    rng = np.random.default_rng(job["seed"])
    lead = int(rng.uniform(0.05, 0.35) * SAMPLE_RATE)
    min_len = int(job["min_seconds"] * SAMPLE_RATE)
    total = max(lead + len(speech) + int(0.1 * SAMPLE_RATE), min_len)
    wav = np.zeros(total, dtype=np.float32)
    wav[lead : lead + len(speech)] = speech
    wav += rng.normal(0, job["noise_floor"], total).astype(np.float32)
    wav = np.clip(wav, -1.0, 1.0)
    os.makedirs(os.path.dirname(job["path"]), exist_ok=True)
    sf.write(job["path"], wav, SAMPLE_RATE, subtype="PCM_16")
    return job["path"], total / SAMPLE_RATE


def _fork_per_job(jobs, num_workers, result_path):
    """Runs every job in a child process of its own, forked from this one."""
    from speechbrain_ext.synthetic.espeak import EspeakSynthesizer

    # Initialised once here (with the English dictionary loaded), before any
    # synthesis: every child inherits the same pristine library state
    # without paying for its initialisation.
    EspeakSynthesizer(SAMPLE_RATE).select_voice(
        jobs[0]["voice"] if jobs else "en"
    )
    results = [None] * len(jobs)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        running = {}

        def reap():
            """Waits for one child and collects its utterance."""
            pid, status = os.wait()
            index = running.pop(pid)
            path = os.path.join(tmp, f"{index}.pkl")
            if status != 0 or not os.path.exists(path):
                failures.append(index)
                return
            with open(path, "rb") as f:
                outcome, value = pickle.load(f)
            if outcome == "ok":
                results[index] = value
            else:
                failures.append(value)

        for index, job in enumerate(jobs):
            while len(running) >= num_workers:
                reap()
            pid = os.fork()
            if pid == 0:  # child
                try:
                    outcome = ("ok", _synth_worker(job))
                except BaseException:
                    outcome = ("error", traceback.format_exc())
                with open(os.path.join(tmp, f"{index}.pkl"), "wb") as f:
                    pickle.dump(outcome, f)
                os._exit(0)
            running[pid] = index
        while running:
            reap()
    if failures:
        result = ("error", f"{len(failures)} jobs failed; first: {failures[0]}")
    else:
        result = ("ok", results)
    with open(result_path, "wb") as f:
        pickle.dump(result, f)


def _run_jobs(jobs, num_workers):
    """Synthesises jobs, each from the library's initial state.

    eSpeak NG keeps internal state from one utterance to the next (the same
    call twice gives slightly different audio), so every job runs in a
    process of its own, forked from a fresh, light interpreter that has
    never synthesised anything. The output depends only on the job, not on
    the order, the number of workers or what the calling process did before.
    """
    with tempfile.TemporaryDirectory() as tmp:
        jobs_path = os.path.join(tmp, "jobs.pkl")
        result_path = os.path.join(tmp, "result.pkl")
        with open(jobs_path, "wb") as f:
            pickle.dump((jobs, max(1, num_workers)), f)
        code = (
            "import pickle, sys; "
            "from speechbrain_ext.synthetic.synthemo import _fork_per_job; "
            "jobs, workers = pickle.load(open(sys.argv[1], 'rb')); "
            "_fork_per_job(jobs, workers, sys.argv[2])"
        )
        process = subprocess.run(
            [sys.executable, "-c", code, jobs_path, result_path],
            capture_output=True,
            text=True,
        )
        if not os.path.exists(result_path):
            raise RuntimeError(
                "speech synthesis process failed (exit code "
                f"{process.returncode}):\n{process.stderr[-3000:]}"
            )
        with open(result_path, "rb") as f:
            status, result = pickle.load(f)
    if status != "ok":
        raise RuntimeError(f"speech synthesis failed:\n{result}")
    return result


def _format_transcript(rng, text, emotion):
    """Adds punctuation, capitals and the occasional IEMOCAP-style tag."""
    sentence = text[0].upper() + text[1:]
    sentence = sentence.replace(" i ", " I ").replace(" i'", " I'")
    end = (
        "!" if emotion in ("ang", "hap", "exc") and rng.random() < 0.6 else "."
    )
    if sentence.split(" ")[0].lower() in ("did", "what"):
        end = "?"
    out = sentence + end
    roll = rng.random()
    if emotion in ("hap", "exc") and roll < 0.15:
        out = out + " [LAUGHTER]"
    elif roll < 0.06:
        out = "[BREATHING] " + out
    elif roll < 0.08:
        out = out + " [GARBAGE]"
    return out


N_SESSIONS = 5
MIN_NOISE_FILES = 2
"""SynthNoise files per category that ``prepare_musan`` needs: one for the
train pool and one for the disjoint test pool."""


def _plan_labels(n_utterances, seed, dialogs_per_session):
    """The dialogs, speakers and labels of a corpus, before any synthesis.

    Returns the random generator (in the state that the rest of the
    generation continues from), the ``(session, dialog, kind)`` list, the
    prosody offset of every speaker, the labels in order and the label
    indices of every dialog.
    """
    rng = np.random.default_rng(seed)
    dialogs = []
    for session in range(1, N_SESSIONS + 1):
        for d in range(dialogs_per_session):
            kind = "impro" if d % 2 == 0 else "script"
            number = d // 2 + 1
            lead = "F" if (d // 2) % 2 == 0 else "M"
            name = (
                f"Ses{session:02d}{lead}_impro{number:02d}"
                if kind == "impro"
                else f"Ses{session:02d}{lead}_script{number:02d}_1"
            )
            dialogs.append((session, name, kind))
    speaker_offsets = {}
    for session in range(1, N_SESSIONS + 1):
        for gender in "FM":
            speaker_offsets[(session, gender)] = {
                "rate": rng.normal(0, 8),
                "pitch": rng.normal(0, 5),
                "volume": rng.normal(0, 8),
            }
    targets = list(TARGET_PRIORS)
    priors = np.array([TARGET_PRIORS[t] for t in targets])
    n_non_target = int(round(n_utterances * NON_TARGET_SHARE))
    labels = list(rng.choice(targets, size=n_utterances, p=priors))
    labels += list(rng.choice(["fru", "xxx"], size=n_non_target))
    order = rng.permutation(len(labels))
    labels = [str(labels[i]) for i in order]
    per_dialog = np.array_split(np.arange(len(labels)), len(dialogs))
    return rng, dialogs, speaker_offsets, labels, per_dialog


def speakers_without_target(n_utterances, seed=1234, dialogs_per_session=8):
    """The speakers that a corpus gives no utterance of the target classes.

    The IEMOCAP preparation needs one utterance of the four target classes
    (neu, hap/exc, sad, ang) from every speaker: otherwise a fold of the
    speaker or session protocol has an empty split. This function draws
    the labels of the corpus (as :func:`generate_synthemo` does, without
    synthesising anything) and lists the speakers left without one.

    Arguments
    ---------
    n_utterances : int
        Target utterances of the corpus (at least 1).
    seed : int
        Random seed of the corpus.
    dialogs_per_session : int
        Dialogs per session.

    Returns
    -------
    list of str
        Speaker ids (``Ses01F`` ... ``Ses05M``), empty when every speaker
        has one.

    Example
    -------
    >>> speakers_without_target(2000)
    []
    >>> speakers_without_target(12)[:3]
    ['Ses01M', 'Ses02M', 'Ses03F']
    """
    _, dialogs, _, labels, per_dialog = _plan_labels(
        n_utterances, seed, dialogs_per_session
    )
    covered = set()
    for (session, _, _), idx in zip(dialogs, per_dialog):
        for i, k in enumerate(idx):
            if labels[k] in TARGET_PRIORS:
                covered.add(f"Ses{session:02d}{'FM'[i % 2]}")
    return [
        f"Ses{session:02d}{gender}"
        for session in range(1, N_SESSIONS + 1)
        for gender in "FM"
        if f"Ses{session:02d}{gender}" not in covered
    ]


def _check_integer(name, value, minimum=None):
    """Raises a ValueError naming ``name`` unless ``value`` is an integer.

    With ``minimum``, the integer must also be at least ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def check_synthemo_options(
    n_utterances, seed=1234, dialogs_per_session=8, n_noise_files=None
):
    """Fails on options that give a corpus the preparations reject.

    Nothing is read or written. Every one of the 10 speakers needs an
    utterance of the four target classes (see
    :func:`speakers_without_target`); which ones get one depends on the
    seed, so the message gives the next ``n_utterances`` that gives every
    speaker one with that seed (65 or 66 for most seeds). SynthNoise needs
    :data:`MIN_NOISE_FILES` files per category for the disjoint train and
    test pools of ``prepare_musan``.

    Arguments
    ---------
    n_utterances : int
        Target utterances of SynthEmo.
    seed : int
        Random seed (a non-negative integer).
    dialogs_per_session : int
        Dialogs per session (at least 1).
    n_noise_files : int, optional
        Files per SynthNoise category, when SynthNoise is generated too.

    Example
    -------
    >>> check_synthemo_options(2000, n_noise_files=30)
    >>> check_synthemo_options(2000, n_noise_files=1)
    Traceback (most recent call last):
    ...
    ValueError: n_noise_files must be at least 2, got 1 ...
    >>> check_synthemo_options(-5)
    Traceback (most recent call last):
    ...
    ValueError: n_utterances=-5 is too small ... n_utterances=65 is the next ...
    """
    _check_integer("seed", seed, 0)
    _check_integer("dialogs_per_session", dialogs_per_session, 1)
    if n_noise_files is not None:
        try:
            _check_integer("n_noise_files", n_noise_files, MIN_NOISE_FILES)
        except ValueError as error:
            raise ValueError(
                f"{error} (prepare_musan needs {MIN_NOISE_FILES} files per "
                "category: disjoint train and test pools)"
            ) from None
    _check_integer("n_utterances", n_utterances)
    n_speakers = 2 * N_SESSIONS
    missing = (
        speakers_without_target(n_utterances, seed, dialogs_per_session)
        if n_utterances >= n_speakers
        else None
    )
    if missing == []:
        return
    candidate = max(n_utterances + 1, n_speakers)
    while speakers_without_target(candidate, seed, dialogs_per_session):
        candidate += 1
    detail = (
        f"fewer than {n_speakers} cannot give one to each"
        if missing is None
        else f"{', '.join(missing)} would get none"
    )
    raise ValueError(
        f"n_utterances={n_utterances} is too small for the IEMOCAP "
        "preparation, which needs an utterance of the four target classes "
        f"(neu, hap/exc, sad, ang) from each of the {n_speakers} speakers: "
        f"{detail}. With seed {seed}, n_utterances={candidate} is the next "
        "value that gives every speaker one."
    )


def generate_synthemo(
    output_folder,
    n_utterances=2000,
    seed=1234,
    num_workers=2,
    dialogs_per_session=8,
    noise_floor=3e-4,
):
    """Writes SynthEmo in the ``IEMOCAP_full_release`` layout.

    Arguments
    ---------
    output_folder : str
        Where to write; the corpus root gets ``Session1`` ... ``Session5``.
    n_utterances : int
        Number of utterances of the four target classes (neu, hap/exc, sad,
        ang), at least 1. About ``NON_TARGET_SHARE`` more non-target rows
        (fru, xxx) are written on top. Every fold of the IEMOCAP
        preparation needs more (about 65, depending on the seed):
        :func:`ensure_synthemo` checks it with
        :func:`check_synthemo_options`.
    seed : int
        Random seed (non-negative): the same seed gives byte-identical
        files.
    num_workers : int
        Synthesis processes.
    dialogs_per_session : int
        Dialogs per session, half improvised and half scripted.
    noise_floor : float
        Standard deviation of the background noise added to each file.

    Returns
    -------
    dict
        Summary: ``n_utterances`` (all rows), ``n_target``, ``seconds`` (audio
        duration), ``counts`` per label, ``elapsed`` (wall time).

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> info = generate_synthemo(out, n_utterances=40, num_workers=1)
    >>> info["n_target"]
    40
    >>> sorted(os.listdir(out))[:2]
    ['Session1', 'Session2']
    """
    _check_integer("n_utterances", n_utterances, 1)
    _check_integer("seed", seed, 0)
    _check_integer("dialogs_per_session", dialogs_per_session, 1)
    start = time.time()
    pool = _script_pool()
    rng, dialogs, speaker_offsets, labels, per_dialog = _plan_labels(
        n_utterances, seed, dialogs_per_session
    )
    jobs, rows_by_dialog = [], {}
    for (session, dialog, kind), idx in zip(dialogs, per_dialog):
        folder = os.path.join(output_folder, f"Session{session}")
        counters = {"F": 0, "M": 0}
        clock = float(rng.uniform(1.0, 5.0))
        rows = []
        for i, k in enumerate(idx):
            gender = "FM"[i % 2]
            label = labels[k]
            if label == "hap" and rng.random() < EXCITED_SHARE:
                label = "exc"
            lexical = _lexical_class(
                rng,
                {"exc": "hap", "fru": "ang", "xxx": "neu"}.get(label, label),
            )
            if kind == "script":
                text = _pick(rng, pool[lexical])
            else:
                text = make_sentence(rng, lexical)
            utt_id = f"{dialog}_{gender}{counters[gender]:03d}"
            counters[gender] += 1
            voice = SPEAKER_VOICES[gender][session - 1]
            prosody = _prosody_for(
                rng, label, speaker_offsets[(session, gender)]
            )
            words = len(text.split())
            est = 0.45 + words * 60.0 / prosody.rate
            if est > 4.6:
                prosody = type(prosody)(
                    rate=int(min(260, words * 60.0 / 4.1) + 1),
                    pitch=prosody.pitch,
                    pitch_range=prosody.pitch_range,
                    volume=prosody.volume,
                )
            path = os.path.join(
                folder, "sentences", "wav", dialog, f"{utt_id}.wav"
            )
            jobs.append(
                {
                    "path": path,
                    "text": text,
                    "voice": voice,
                    "prosody": prosody,
                    "seed": _stable_seed(seed, utt_id),
                    "min_seconds": 1.5,
                    "noise_floor": noise_floor,
                }
            )
            rows.append(
                {
                    "utt_id": utt_id,
                    "label": label,
                    "transcript": _format_transcript(rng, text, label),
                    "path": path,
                }
            )
        rows_by_dialog[(session, dialog)] = (rows, clock)

    durations = dict(_run_jobs(jobs, num_workers))

    counts, seconds = {}, 0.0
    for (session, dialog), (rows, clock) in rows_by_dialog.items():
        folder = os.path.join(output_folder, f"Session{session}", "dialog")
        emo_lines = [
            "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]",
            "",
        ]
        trans_lines = []
        for n, row in enumerate(rows):
            dur = durations[row["path"]]
            seconds += dur
            t0, t1 = clock, clock + dur
            clock = t1 + float(rng.uniform(0.2, 1.5))
            label = row["label"]
            counts[label] = counts.get(label, 0) + 1
            v, a, d = (x + 0.5 * int(rng.integers(-1, 2)) for x in VAD[label])
            emo_lines.append(
                f"[{t0:.4f} - {t1:.4f}]\t{row['utt_id']}\t{label}\t"
                f"[{v:.4f}, {a:.4f}, {d:.4f}]"
            )
            for annotator in ("C-E1", "C-E2", "C-E3"):
                emo_lines.append(f"{annotator}:\t{ANNOTATOR_NAMES[label]};\t()")
            emo_lines.append(
                f"A-E1:\tval {round(v)}; act {round(a)}; dom  {round(d)};\t()"
            )
            emo_lines.append("")
            trans_lines.append(
                f"{row['utt_id']} [{t0:08.4f}-{t1:08.4f}]: {row['transcript']}"
            )
            if n % 9 == 4:
                # Lines that are not utterances, as IEMOCAP's files have.
                speaker = row["utt_id"].rsplit("_", 1)[1][0]
                trans_lines.append(
                    f"{dialog}_{speaker}XX{n % 10} "
                    f"[{t1:08.4f}-{t1 + 0.2:08.4f}]: [BREATHING]"
                )
                trans_lines.append(f"{speaker}: [LAUGHTER]")
        for sub, lines in (
            ("EmoEvaluation", emo_lines),
            ("transcriptions", trans_lines),
        ):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
            with open(
                os.path.join(folder, sub, f"{dialog}.txt"), "w", newline="\n"
            ) as f:
                f.write("\n".join(lines) + "\n")

    n_target = sum(
        counts.get(k, 0) for k in ("neu", "hap", "exc", "sad", "ang")
    )
    return {
        "n_utterances": sum(counts.values()),
        "n_target": n_target,
        "seconds": round(seconds, 2),
        "counts": dict(sorted(counts.items())),
        "elapsed": round(time.time() - start, 2),
    }


def _coloured_noise(rng, n, exponent):
    """Noise whose power spectrum falls as 1/f**exponent."""
    spectrum = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
    spectrum /= freqs ** (exponent / 2)
    x = np.fft.irfft(spectrum, n)
    return x / (np.abs(x).max() + 1e-9)


def _noise_clip(rng, n):
    kind = int(rng.integers(4))
    if kind == 0:
        x = _coloured_noise(rng, n, float(rng.choice([0.0, 1.0, 2.0])))
    elif kind == 1:
        t = np.arange(n) / SAMPLE_RATE
        f0 = float(rng.choice([50.0, 60.0, 100.0, 120.0]))
        x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
        x = x + 0.2 * _coloured_noise(rng, n, 1.0)
    elif kind == 2:
        x = np.zeros(n)
        rate = rng.uniform(2, 20)
        clicks = rng.integers(0, n - 200, size=int(rate * n / SAMPLE_RATE))
        for c in clicks:
            x[c : c + 200] += rng.normal(size=200) * np.exp(
                -np.arange(200) / 30
            )
        x = x + 0.05 * _coloured_noise(rng, n, 0.0)
    else:
        carrier = _coloured_noise(rng, n, 1.0)
        t = np.arange(n) / SAMPLE_RATE
        x = carrier * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 2) * t))
    return x / (np.abs(x).max() + 1e-9)


def _music_clip(rng, n):
    t_note = rng.uniform(0.15, 0.5)
    note_len = int(t_note * SAMPLE_RATE)
    root = rng.uniform(110, 330)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    out = np.zeros(n)
    chords = rng.random() < 0.5
    env = np.exp(-np.arange(note_len) / (0.4 * note_len))
    t = np.arange(note_len) / SAMPLE_RATE
    for start in range(0, n - note_len, note_len):
        degree = int(rng.integers(len(scale)))
        steps = [0, 4, 7] if chords else [0]
        for s in steps:
            f = root * 2 ** ((scale[degree] + s) / 12)
            tone = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)
            out[start : start + note_len] += env * tone
    return out / (np.abs(out).max() + 1e-9)


def generate_synthnoise(output_folder, n_per_category=30, seed=1234):
    """Writes SynthNoise in the MUSAN layout (``noise``, ``music``, ``speech``).

    Arguments
    ---------
    output_folder : str
        The ``musan`` folder to write.
    n_per_category : int
        Files per category, each 3 to 10 seconds long; at least 1
        (``prepare_musan`` needs :data:`MIN_NOISE_FILES`).
    seed : int
        Random seed: the same seed gives byte-identical files.

    Returns
    -------
    dict
        Files written per category and total ``seconds``.

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> info = generate_synthnoise(out, n_per_category=2)
    >>> info["files"]
    {'noise': 2, 'music': 2, 'speech': 2}
    """
    from speechbrain_ext.synthetic.espeak import Prosody

    _check_integer("n_per_category", n_per_category, 1)
    _check_integer("seed", seed, 0)
    rng = np.random.default_rng(seed)
    sources = {"noise": "free-sound", "music": "fma", "speech": "librivox"}
    clips, talkers = [], []
    for category, source in sources.items():
        for i in range(n_per_category):
            n = int(rng.uniform(3.0, 10.0) * SAMPLE_RATE)
            path = os.path.join(
                output_folder,
                category,
                source,
                f"{category}-{source}-{i:04d}.wav",
            )
            if category == "noise":
                clips.append((path, _noise_clip(rng, n), []))
            elif category == "music":
                clips.append((path, _music_clip(rng, n), []))
            else:
                jobs = []
                for _ in range(int(rng.integers(1, 4))):
                    text = " ".join(
                        make_sentence(rng, "neutral") for _ in range(6)
                    )
                    jobs.append(
                        {
                            "text": text,
                            "voice": _pick(rng, BABBLE_VOICES),
                            "seed": int(rng.integers(2**31)),
                            "prosody": Prosody(
                                rate=int(rng.uniform(150, 200)),
                                pitch=int(rng.uniform(30, 70)),
                                pitch_range=int(rng.uniform(30, 70)),
                            ),
                        }
                    )
                clips.append(
                    (
                        path,
                        np.zeros(n),
                        list(range(len(talkers), len(talkers) + len(jobs))),
                    )
                )
                talkers += jobs
    voices = _run_jobs(talkers, num_workers=2) if talkers else []
    seconds = 0.0
    for path, x, talker_ids in clips:
        for t in talker_ids:
            speech = voices[t][: len(x)]
            x[: len(speech)] += speech
        x = (0.5 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path, x, SAMPLE_RATE, subtype="PCM_16")
        seconds += len(x) / SAMPLE_RATE
    files = {c: n_per_category for c in sources}
    return {"files": files, "seconds": round(seconds, 2)}


def ensure_synthnoise(output_folder, n_per_category=30, seed=1234):
    """Generates SynthNoise alone unless it already exists.

    The noise corpus of a recipe whose corpus has none (e.g. the Emo-DB
    demo on SynthEmoDB), without generating SynthEmo: ``output_folder``
    receives ``musan`` (the files of :func:`generate_synthnoise`) and a
    small ``synthnoise.json`` that records the options, with the
    guarantees of :func:`ensure_synthemo`: written to
    ``synthnoise.partial`` and moved into place when complete, returned at
    once by a second call with the same options, an error with other
    options, and never written over a ``musan`` folder it did not write
    (see :func:`~speechbrain_ext.synthetic.staging.generate_once`).

    Arguments
    ---------
    output_folder : str
        Folder that receives ``musan``.
    n_per_category : int
        Files per category (at least :data:`MIN_NOISE_FILES`: one for
        each of the disjoint train and test pools of ``prepare_musan``).
    seed : int
        Random seed: the same seed gives byte-identical files.

    Returns
    -------
    dict
        The generation summary (read back from ``synthnoise.json`` when
        the corpus already existed).

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> first = ensure_synthnoise(out, n_per_category=2)
    >>> first["files"]
    {'noise': 2, 'music': 2, 'speech': 2}
    >>> ensure_synthnoise(out, n_per_category=2) == first
    True
    >>> sorted(os.listdir(out))
    ['musan', 'synthnoise.json']
    """
    from speechbrain_ext.synthetic.staging import generate_once

    _check_integer("n_per_category", n_per_category, MIN_NOISE_FILES)
    _check_integer("seed", seed, 0)
    options = {"n_per_category": n_per_category, "seed": seed}

    def generate(staging):
        """Writes SynthNoise into the staging folder; its summary."""
        logger.info("Generating SynthNoise in %s", output_folder)
        return generate_synthnoise(
            os.path.join(staging, "musan"),
            n_per_category=n_per_category,
            seed=seed,
        )

    return generate_once(
        output_folder, "synthnoise", ["musan"], options, generate
    )


def ensure_synthemo(
    output_folder, n_utterances=2000, seed=1234, n_noise_files=30
):
    """Generates SynthEmo and SynthNoise unless they already exist.

    ``output_folder`` receives ``IEMOCAP_full_release`` and ``musan``, and a
    small ``synthemo.json`` that records the options. Both corpora are
    written to ``synthemo.partial`` and moved into place when complete
    (see :func:`~speechbrain_ext.synthetic.staging.generate_once`): a
    second call with the same options returns at once; other options are
    an error. Nothing that this function did not write is changed: a
    non-empty ``IEMOCAP_full_release`` or ``musan`` folder without the
    record (a real corpus, say), or a ``synthemo.partial`` folder without
    the generator's mark, is an error naming the folder. The options are
    checked first (:func:`check_synthemo_options`).

    Arguments
    ---------
    output_folder : str
        Folder that receives both corpora.
    n_utterances : int
        Target utterances of SynthEmo (about 65 at least, see
        :func:`check_synthemo_options`).
    seed : int
        Random seed of both generators.
    n_noise_files : int
        Files per SynthNoise category (at least :data:`MIN_NOISE_FILES`).

    Returns
    -------
    dict
        The generation summary (read back from ``synthemo.json`` when the
        corpus already existed).

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> first = ensure_synthemo(out, n_utterances=65, n_noise_files=2)
    >>> ensure_synthemo(out, n_utterances=65, n_noise_files=2) == first
    True
    >>> sorted(os.listdir(out))
    ['IEMOCAP_full_release', 'musan', 'synthemo.json']
    """
    from speechbrain_ext.synthetic.staging import generate_once

    check_synthemo_options(n_utterances, seed, n_noise_files=n_noise_files)
    options = {
        "n_utterances": n_utterances,
        "seed": seed,
        "n_noise_files": n_noise_files,
    }

    def generate(staging):
        """Writes both corpora into the staging folder; their summary."""
        logger.info("Generating SynthEmo and SynthNoise in %s", output_folder)
        summary = generate_synthemo(
            os.path.join(staging, "IEMOCAP_full_release"),
            n_utterances=n_utterances,
            seed=seed,
        )
        summary["noise"] = generate_synthnoise(
            os.path.join(staging, "musan"),
            n_per_category=n_noise_files,
            seed=seed,
        )
        return summary

    return generate_once(
        output_folder,
        "synthemo",
        ["IEMOCAP_full_release", "musan"],
        options,
        generate,
    )


def main(argv=None):
    """Command line: writes SynthEmo and SynthNoise under one folder.

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

    Example
    -------
    >>> main(["--output_folder", "unused", "--n_noise_files", "1"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--n_utterances", type=int, default=2000)
    parser.add_argument("--n_noise_files", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    try:
        check_synthemo_options(
            args.n_utterances, args.seed, n_noise_files=args.n_noise_files
        )
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO)
    try:
        info = ensure_synthemo(
            args.output_folder,
            n_utterances=args.n_utterances,
            seed=args.seed,
            n_noise_files=args.n_noise_files,
        )
    except FileExistsError as error:
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    print(json.dumps(info, indent=2))
    return info


if __name__ == "__main__":
    main()
