"""SynthLibri: a licence-free stand-in for LibriSpeech.

Writes ``LibriSpeech/{train-clean-100,dev-clean,test-clean}`` in the layout
of the real corpus (``<spk>/<chapter>/<spk>-<chapter>-<utt>.flac``, 16 kHz,
with one ``<spk>-<chapter>.trans.txt`` per chapter of upper-case
transcripts without punctuation), so that
:func:`speechbrain_ext.dataio.librispeech_prepare.prepare_librispeech` runs
on it unchanged. It is the pre-training corpus of the A2W ASR demo, whose
model is then fine-tuned on SynthEmo:

* **read speech with neutral prosody**: every speaker has its own speaking
  rate, pitch, pitch range and loudness (:data:`SPEAKER_SPREAD`), and every
  utterance only a small jitter around them (:data:`PROSODY_JITTER`);
* **speakers that SynthEmo does not have**: each speaker is an eSpeak NG
  accent with a voice variant that neither a SynthEmo speaker
  (:data:`~speechbrain_ext.synthetic.synthemo.SPEAKER_VOICES`, variants
  ``f1``-``f5`` and ``m1``-``m5``) nor the SynthNoise babble
  (:data:`~speechbrain_ext.synthetic.synthemo.BABBLE_VOICES`) uses. The
  splits have disjoint speakers (32, 6 and 6: :data:`SPEAKERS_PER_SPLIT`),
  and dev-clean and test-clean even have variants of their own
  (:data:`VOICE_VARIANTS`);
* **a vocabulary that contains SynthEmo's**: the sentence grammar
  (:class:`ReadSentenceGenerator`: everyday sentences, opinions, lines of
  dialogue and narrative) extends SynthEmo's word lists with about 440
  words of its own, and fills a slot from SynthEmo's list more often than
  from its own, dealing SynthEmo's items like cards so that each comes up
  about equally often. The default ``train-clean-100`` (2000 utterances,
  about 17 000 words) has about 610 distinct words, three times
  SynthEmo's 190, and every word SynthEmo can produce occurs at least
  :data:`MIN_SYNTHEMO_COUNT` (15) times and ranks among its
  :data:`SYNTHEMO_TOP_N` (250) most frequent words (the bound holds from
  1500 training utterances on). A word vocabulary of the top ``N >= 250``
  training words (the A2W demo uses ``vocab_top_n`` of about 1000 or less)
  therefore never maps a SynthEmo word to ``<unk>``;
  ``tests/integration/test_synthlibri.py`` checks this from the two
  generators.

The generator is deterministic: the same seed and sizes give byte-identical
files (every utterance is synthesised in a fresh process, as in
:mod:`speechbrain_ext.synthetic.synthemo`).

Example command line::

    python -m speechbrain_ext.synthetic.synthlibri --output_folder data/libri

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import json
import logging
import os
import time

import numpy as np

from speechbrain_ext.synthetic import synthemo
from speechbrain_ext.synthetic.staging import generate_once
from speechbrain_ext.synthetic.synthemo import (
    _check_integer,
    _run_jobs,
    _stable_seed,
)

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SPLITS = ("train-clean-100", "dev-clean", "test-clean")
GENERATOR_VERSION = 1
"""Recorded by :func:`ensure_synthlibri`: bump it when the output changes."""

SYNTHEMO_TOP_N = 250
"""With the default sizes, every SynthEmo word ranks among this many most
frequent words of ``train-clean-100``."""
MIN_SYNTHEMO_COUNT = 15
"""With the default sizes, every SynthEmo word occurs at least this often in
``train-clean-100``."""

# eSpeak NG accents; every speaker is one accent with one voice variant.
ACCENTS = [
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-029",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
]
# Voice variants per split and gender: none of SynthEmo's speakers (f1-f5,
# m1-m5) or babble talkers (m6-m8, linda, belinda, aunty), nor the
# robotic, whispering or echoing ones; dev and test variants are held out
# of training.
VOICE_VARIANTS = {
    "train-clean-100": {
        "F": ["Alicia", "Andrea", "anika", "shelby", "steph", "steph2"],
        "M": [
            "Andy",
            "Denis",
            "Diogo",
            "Gene",
            "Henrique",
            "Jacky",
            "Mario",
            "Mike",
            "antonio",
            "boris",
            "david",
            "edward",
            "iven",
            "john",
            "marcelo",
            "max",
            "michel",
            "miguel",
            "norbert",
            "pablo",
            "pedro",
            "robert",
            "sandro",
            "travis",
            "victor",
        ],
    },  # fmt: skip
    "dev-clean": {"F": ["Annie"], "M": ["gustave", "rob"]},
    "test-clean": {"F": ["grandma"], "M": ["paul", "quincy"]},
}
SPEAKERS_PER_SPLIT = {"train-clean-100": 32, "dev-clean": 6, "test-clean": 6}
"""Speakers per split, half female and half male (fewer when a split has
fewer utterances)."""
# Mean read-speech prosody (eSpeak NG units), the spread of the speakers
# around it and the (small) jitter of each utterance around its speaker.
READ_PROSODY = dict(rate=162, pitch=48, pitch_range=45, volume=90)
SPEAKER_SPREAD = dict(rate=12.0, pitch=7.0, pitch_range=8.0, volume=10.0)
PROSODY_JITTER = dict(rate=5.0, pitch=2.5, pitch_range=5.0, volume=5.0)
_LIMITS = dict(rate=(120, 220), pitch=(15, 85), pitch_range=(15, 80))
_LIMITS["volume"] = (60, 120)
_CHAPTER_IDS = (10000, 200000)
MAX_UTTERANCES = _CHAPTER_IDS[1] - _CHAPTER_IDS[0]
"""Utterances of all splits together, at most (chapter ids are drawn from
``_CHAPTER_IDS`` without replacement)."""
_SIZE_OPTIONS = ("n_train", "n_dev", "n_test")
CHAPTER_SIZE = (20, 60)
"""Range of the number of utterances per chapter (the last one of a
speaker may be smaller)."""

# Probability that a slot is filled from SynthEmo's list rather than from
# this module's larger one: SynthEmo's words must be frequent.
SYNTHEMO_SHARE = 0.7
VALENCE_SHARE = 0.95

# Words of our own, on top of SynthEmo's lists.
SUBJECTS = [
    "the old man", "the young woman", "the captain", "his mother",
    "her father", "the children", "the farmer", "the stranger", "my uncle",
    "our guest", "the little girl", "the boy", "the king", "the soldier",
    "the servant", "the priest", "the judge", "the sailor", "his wife",
    "her husband", "the merchant", "the nurse", "the baker", "the gardener",
    "the lawyer", "the master", "the queen", "the hunter",
]  # fmt: skip
NOUNS = [
    "river", "forest", "mountain", "horse", "ship", "road", "bridge",
    "village", "city", "church", "school", "market", "field", "hill",
    "lake", "island", "castle", "tower", "wall", "gate", "fire", "lamp",
    "candle", "bread", "cheese", "apple", "basket", "bottle", "glass",
    "cup", "plate", "knife", "coat", "hat", "boots", "shirt", "bag", "key",
    "clock", "bell", "map", "pen", "desk", "bed", "blanket", "pillow",
    "mirror", "carpet", "stairs", "roof", "fence", "barn", "cart", "boat",
    "wagon", "sword", "flag", "rope", "ladder", "hammer", "stone", "tree",
    "flower", "grass", "bird", "dog", "cat", "cow", "sheep", "fish",
    "rabbit", "wolf", "bear", "fox", "newspaper", "story", "song", "poem",
    "lesson", "question", "answer", "message", "secret", "promise", "gift",
    "coin", "ring", "jacket", "umbrella", "piano", "violin", "drum",
    "painting", "photograph", "camera", "engine", "wheel", "tent",
    "cottage", "palace", "prison", "hospital", "library", "museum",
    "theatre", "harbour", "valley", "ocean", "beach", "cloud", "bucket",
    "jar", "spoon", "kettle", "oven", "soup", "tea", "coffee", "milk",
    "sugar", "salt", "cake", "letters", "horses", "flowers", "apples",
    "candles", "stones", "boxes", "windows",
]  # fmt: skip
# (past, base) pairs
VERB_PAIRS = [
    ("watched", "watch"), ("followed", "follow"), ("washed", "wash"),
    ("built", "build"), ("brought", "bring"), ("kept", "keep"),
    ("held", "hold"), ("pulled", "pull"), ("pushed", "push"),
    ("lifted", "lift"), ("dropped", "drop"), ("counted", "count"),
    ("covered", "cover"), ("filled", "fill"), ("locked", "lock"),
    ("turned", "turn"), ("touched", "touch"), ("borrowed", "borrow"),
    ("returned", "return"), ("measured", "measure"), ("wrapped", "wrap"),
    ("burned", "burn"), ("hid", "hide"), ("showed", "show"),
    ("sent", "send"), ("wrote", "write"), ("drew", "draw"),
    ("packed", "pack"), ("repaired", "repair"), ("prepared", "prepare"),
    ("searched", "search"), ("described", "describe"),
    ("explained", "explain"), ("noticed", "notice"),
    ("remembered", "remember"), ("forgot", "forget"), ("signed", "sign"),
    ("delivered", "deliver"), ("collected", "collect"),
    ("gathered", "gather"), ("raised", "raise"), ("shook", "shake"),
    ("folded", "fold"), ("tied", "tie"), ("planted", "plant"),
    ("tested", "test"), ("weighed", "weigh"), ("offered", "offer"),
    ("admired", "admire"), ("guarded", "guard"),
    ("emptied", "empty"), ("heated", "heat"), ("sharpened", "sharpen"),
]  # fmt: skip
INTRANSITIVE_VERBS = [
    "walked", "waited", "stayed", "sat", "stood", "slept", "worked",
    "lived", "arrived", "rested", "remained", "played", "danced", "sang",
    "laughed", "smiled", "listened", "wandered", "prayed", "spoke",
]  # fmt: skip
TIMES = [
    "in the morning", "at midnight", "before dawn", "after dinner",
    "on sunday", "on tuesday", "on wednesday", "on thursday",
    "on saturday", "last night", "at dusk", "in the spring",
    "in the summer", "in the autumn", "in the winter", "a long time ago",
    "the next day", "at once", "every day", "once again",
]  # fmt: skip
PLACES = [
    "in the village", "by the river", "on the hill", "in the forest",
    "near the bridge", "at the market", "in the church", "under the tree",
    "behind the house", "across the road", "at the harbour", "in the hall",
    "upon the shelf", "beside the fire", "in the cellar", "on the ship",
    "at the gate", "in the valley", "along the wall", "over the fence",
]  # fmt: skip
ADJECTIVES = [
    "old", "new", "small", "large", "quiet", "dark", "bright", "cold",
    "warm", "heavy", "narrow", "wide", "green", "red", "white", "black",
    "blue", "yellow", "brown", "grey", "golden", "silver", "wooden",
    "round", "square", "long", "short", "tall", "thin", "thick", "soft",
    "hard", "smooth", "rough", "dry", "wet", "strange", "simple", "pale",
    "deep", "high", "low", "sharp", "fresh", "ancient", "full", "famous",
    "gentle", "careful", "silent", "distant", "ordinary", "curious",
    "plain", "broken", "hidden", "common", "proper", "rich", "poor",
]  # fmt: skip
ATTITUDE_VERBS = [
    "like", "need", "remember", "prefer", "know", "understand", "admire",
    "fear", "trust", "want",
]  # fmt: skip
PHRASES = [
    "come in and sit down", "where have you been all day",
    "it is getting late", "look at the sky", "we should go home now",
    "tell me the whole story", "do you hear that sound",
    "i think it will rain", "let us wait a little longer",
    "how much does it cost", "the door was not locked",
    "nobody knows the answer", "he has not come back yet",
    "she looked out of the window", "what time is it",
    "i have never seen such a thing", "we must find the way back",
    "they walked home in silence", "it was a long and quiet night",
    "the sun was already high", "there is no time to lose",
    "who told you about it", "keep the fire burning",
    "follow me through the gate", "listen to the wind",
]  # fmt: skip
SPEECH_VERBS = [
    "said", "answered", "replied", "asked", "whispered", "cried",
    "shouted", "added", "repeated",
]  # fmt: skip

# SynthEmo's word lists (every word SynthEmo can produce is in one of them
# or in its sentence templates, which ReadSentenceGenerator also uses).
SYNTHEMO_WORD_LISTS = (
    "SUBJECTS", "NOUNS", "PAST_VERBS", "BASE_VERBS", "TIMES", "PLACES",
    "POSITIVE_ADJ", "POSITIVE_VERBS", "POSITIVE_PHRASES", "NEGATIVE_ADJ",
    "ANGER_ADJ", "ANGER_VERBS", "ANGER_PHRASES", "SAD_ADJ", "SAD_VERBS",
    "SAD_PHRASES",
)  # fmt: skip
_SYNTHEMO_CLASSES = ("neutral", "positive", "anger", "sadness", "negative")


def synthemo_vocabulary(n_samples=2000, seed=0):
    """The words that SynthEmo's transcripts can hold, upper-case.

    The union of the words of SynthEmo's word lists
    (:data:`SYNTHEMO_WORD_LISTS`) and of ``n_samples`` sentences per
    lexical class drawn from its grammar (which adds the words of its
    templates, such as ``PLEASE`` or ``WILL``).

    Arguments
    ---------
    n_samples : int
        Sentences drawn per lexical class.
    seed : int
        Seed of the draws.

    Returns
    -------
    set of str
        Upper-case words, as the IEMOCAP preparation writes them.

    Example
    -------
    >>> words = synthemo_vocabulary(n_samples=50)
    >>> {"PLEASE", "NEIGHBOUR", "CAN'T"} <= words
    True
    """
    words = set()
    for name in SYNTHEMO_WORD_LISTS:
        for item in getattr(synthemo, name):
            words.update(item.upper().split())
    rng = np.random.default_rng(seed)
    for lexical_class in _SYNTHEMO_CLASSES:
        for _ in range(n_samples):
            sentence = synthemo.make_sentence(rng, lexical_class)
            words.update(sentence.upper().split())
    return words


def _with_article(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


_VALENCE_ADJ = (
    synthemo.POSITIVE_ADJ
    + synthemo.NEGATIVE_ADJ
    + synthemo.ANGER_ADJ
    + synthemo.SAD_ADJ
)
_VALENCE_VERBS = (
    synthemo.POSITIVE_VERBS + synthemo.ANGER_VERBS + synthemo.SAD_VERBS
)
_VALENCE_PHRASES = (
    synthemo.POSITIVE_PHRASES
    + synthemo.ANGER_PHRASES
    + synthemo.SAD_PHRASES
    + ["this is terrible"]
)
# Adjectives that fit before a noun (single words, no "the worst").
_ATTRIBUTIVE = [a for a in _VALENCE_ADJ if " " not in a]
# Slot -> (this module's list, SynthEmo's list, share of SynthEmo's)
_SLOTS = {
    "subject": (SUBJECTS, synthemo.SUBJECTS, SYNTHEMO_SHARE),
    "noun": (NOUNS, synthemo.NOUNS, SYNTHEMO_SHARE),
    "past": ([p for p, _ in VERB_PAIRS], synthemo.PAST_VERBS, SYNTHEMO_SHARE),
    "base": ([b for _, b in VERB_PAIRS], synthemo.BASE_VERBS, SYNTHEMO_SHARE),
    "time": (TIMES, synthemo.TIMES, SYNTHEMO_SHARE),
    "place": (PLACES, synthemo.PLACES, SYNTHEMO_SHARE),
    "adjective": (ADJECTIVES, _VALENCE_ADJ, SYNTHEMO_SHARE),
    "attributive": (ADJECTIVES, _ATTRIBUTIVE, 0.3),
    # a valenced phrase, verb or adjective: one deck for the three
    "valence": (
        [("phrase", x) for x in PHRASES]
        + [("verb", x) for x in ATTITUDE_VERBS]
        + [("adjective", x) for x in ADJECTIVES],
        [("phrase", x) for x in _VALENCE_PHRASES]
        + [("verb", x) for x in _VALENCE_VERBS]
        + [("adjective", x) for x in _VALENCE_ADJ],
        VALENCE_SHARE,
    ),
    "intransitive": (INTRANSITIVE_VERBS, [], 0.0),
    "speech_verb": (SPEECH_VERBS, [], 0.0),
}


class ReadSentenceGenerator:
    """Draws sentences of SynthLibri's read-speech grammar.

    Every slot of a sentence form (subject, noun, verb, time, place,
    adjective, phrase) is filled from SynthEmo's list for that slot with a
    fixed probability (:data:`SYNTHEMO_SHARE`, or :data:`VALENCE_SHARE` for
    the valenced phrases, verbs and adjectives), otherwise from this
    module's larger list. SynthEmo's items are dealt like cards from a
    shuffled deck, so that each of them comes up about equally often even
    in a small corpus; this module's items are drawn independently.

    Arguments
    ---------
    rng : numpy.random.Generator
        Random generator.

    Example
    -------
    >>> grammar = ReadSentenceGenerator(np.random.default_rng(0))
    >>> sentences = [grammar() for _ in range(100)]
    >>> all(s == s.lower() and 2 <= len(s.split()) <= 16 for s in sentences)
    True
    """

    def __init__(self, rng):
        self.rng = rng
        self._decks = {}

    def __call__(self):
        """Returns one lower-case sentence without punctuation."""
        kinds = list(SENTENCE_KINDS)
        shares = np.array([SENTENCE_KINDS[k] for k in kinds])
        while True:
            kind = kinds[
                int(self.rng.choice(len(kinds), p=shares / shares.sum()))
            ]
            sentence = getattr(self, kind)()
            if len(sentence.split()) <= MAX_WORDS:
                return sentence

    def pick(self, slot):
        """Fills one slot (a key of ``_SLOTS``)."""
        own, theirs, share = _SLOTS[slot]
        if theirs and self.rng.random() < share:
            deck = self._decks.setdefault(slot, [])
            if not deck:
                deck.extend(self.rng.permutation(len(theirs)).tolist())
            return theirs[deck.pop()]
        return own[int(self.rng.integers(len(own)))]

    def everyday(self):
        """SynthEmo's neutral sentence forms, with the larger word lists."""
        p = self.pick
        form = int(self.rng.integers(5))
        if form == 0:
            return f"{p('subject')} {p('past')} the {p('noun')} {p('time')}"
        if form == 1:
            return f"the {p('noun')} is {p('place')}"
        if form == 2:
            return (
                f"{p('subject')} will {p('base')} the {p('noun')} {p('time')}"
            )
        if form == 3:
            return f"did you {p('base')} the {p('noun')} {p('time')}"
        return f"please {p('base')} the {p('noun')} {p('place')}"

    def valenced_clause(self):
        """A clause around a valenced phrase, verb or adjective.

        SynthEmo's come up about equally often, ours now and then.
        """
        p = self.pick
        kind, word = p("valence")
        if kind == "phrase":
            return word
        if kind == "verb":
            if self.rng.random() < 0.5:
                return f"i {word} this {p('noun')}"
            return f"i {word} the {p('noun')} {p('place')}"
        if self.rng.random() < 0.5:
            return f"the {p('noun')} is {word}"
        return f"{p('subject')} {p('past')} the {p('noun')} and it was {word}"

    def opinion(self):
        """SynthEmo's valenced sentence forms, alone or joined."""
        form = int(self.rng.integers(3))
        if form == 0:
            return self.valenced_clause()
        if form == 1:
            return f"{self.valenced_clause()} {self.pick('time')}"
        return f"{self.valenced_clause()} but {self.valenced_clause()}"

    def dialogue(self):
        """A line of dialogue, as novels have them."""
        p, clause = self.pick, self.valenced_clause()
        form = int(self.rng.integers(4))
        if form == 0:
            return f"{clause} and {self.valenced_clause()}"
        if form == 1:
            return f"{clause} {p('subject')} {p('speech_verb')}"
        if form == 2:
            return f"{p('subject')} {p('speech_verb')} {clause}"
        return (
            f"{clause} {p('speech_verb')} {p('subject')} "
            f"{self.valenced_clause()}"
        )

    def narrative(self):
        """Read-speech narrative, mostly with this module's words."""
        p = self.pick
        form = int(self.rng.integers(6))
        if form == 0:
            return (
                f"{p('subject')} {p('past')} the {p('attributive')} "
                f"{p('noun')} {p('place')}"
            )
        if form == 1:
            return (
                f"there was {_with_article(p('attributive'))} {p('noun')} "
                f"{p('place')}"
            )
        if form == 2:
            return (
                f"when {p('subject')} {p('past')} the {p('noun')} "
                f"{p('subject')} {p('past')} the {p('noun')}"
            )
        if form == 3:
            return (
                f"{p('subject')} {p('intransitive')} {p('place')} {p('time')}"
            )
        if form == 4:
            return (
                f"the {p('noun')} was {p('adjective')} and the {p('noun')} "
                f"was {p('adjective')}"
            )
        return (
            f"{p('subject')} could not {p('base')} the {p('noun')} because "
            f"it was {p('adjective')}"
        )


SENTENCE_KINDS = {
    "everyday": 0.28,
    "opinion": 0.22,
    "dialogue": 0.30,
    "narrative": 0.20,
}
"""Sentence kind (a method of :class:`ReadSentenceGenerator`) -> share."""
MAX_WORDS = 16
"""Longer sentences are drawn again (about 6 s at the mean speaking rate)."""


def _speakers(seed):
    """Speakers of every split: id, gender, voice and prosody offsets."""
    rng = np.random.default_rng(_stable_seed(seed, "speakers"))
    total = sum(SPEAKERS_PER_SPLIT.values())
    ids = rng.choice(np.arange(100, 9000), size=total, replace=False)
    speakers, k = {}, 0
    for split in SPLITS:
        speakers[split] = []
        for i in range(SPEAKERS_PER_SPLIT[split]):
            gender = "FM"[i % 2]
            variants = VOICE_VARIANTS[split][gender]
            n = i // 2
            variant = variants[n % len(variants)]
            accent = ACCENTS[(n + 2 * SPLITS.index(split)) % len(ACCENTS)]
            speakers[split].append(
                {
                    "spk_id": str(int(ids[k])),
                    "gender": gender,
                    "voice": f"{accent}+{variant}",
                    "offset": {
                        key: float(rng.normal(0, spread))
                        for key, spread in SPEAKER_SPREAD.items()
                    },
                }
            )
            k += 1
    return speakers


def _prosody(rng, offset):
    from speechbrain_ext.synthetic.espeak import Prosody

    values = {}
    for key, mean in READ_PROSODY.items():
        value = mean + offset[key] + rng.normal(0, PROSODY_JITTER[key])
        values[key] = int(np.clip(round(value), *_LIMITS[key]))
    return Prosody(**values)


def _check_sizes(n_train, n_dev, n_test):
    """Split -> number of utterances; a ValueError names a bad one."""
    sizes = dict(zip(SPLITS, (n_train, n_dev, n_test)))
    for (split, n), option in zip(sizes.items(), _SIZE_OPTIONS):
        integer = isinstance(n, (int, np.integer)) and not isinstance(n, bool)
        if not integer or n < 1:
            raise ValueError(
                f"the number of {split} utterances ({option}) must be a "
                f"positive integer, got {n!r}"
            )
    if sum(sizes.values()) > MAX_UTTERANCES:
        raise ValueError(
            f"n_train + n_dev + n_test = {sum(sizes.values())} is too large: "
            f"at most {MAX_UTTERANCES} (one chapter id per utterance)"
        )
    return sizes


def plan_synthlibri(n_train=2000, n_dev=150, n_test=150, seed=1234):
    """The utterances of a corpus, without synthesising anything.

    Every split's utterances are spread evenly over its speakers (at most
    :data:`SPEAKERS_PER_SPLIT`) and, per speaker, over chapters of
    :data:`CHAPTER_SIZE` utterances.

    Arguments
    ---------
    n_train : int
        Utterances of ``train-clean-100``.
    n_dev : int
        Utterances of ``dev-clean``.
    n_test : int
        Utterances of ``test-clean``.
    seed : int
        Random seed.

    Returns
    -------
    list of dict
        ``split``, ``utt_id``, ``spk_id``, ``chapter``, ``text``
        (lower-case), ``voice`` and ``prosody``, in file order.

    Example
    -------
    >>> plan = plan_synthlibri(n_train=10, n_dev=2, n_test=2)
    >>> len(plan), plan[0]["split"], plan[-1]["split"]
    (14, 'train-clean-100', 'test-clean')
    >>> spk, chapter, utt = plan[0]["utt_id"].split("-")
    >>> (spk, chapter) == (plan[0]["spk_id"], plan[0]["chapter"]), utt
    (True, '0000')
    """
    sizes = _check_sizes(n_train, n_dev, n_test)
    speakers = _speakers(seed)
    chapter_rng = np.random.default_rng(_stable_seed(seed, "chapters"))
    chapter_ids = chapter_rng.choice(
        np.arange(*_CHAPTER_IDS), size=sum(sizes.values()), replace=False
    )
    next_chapter = 0
    plan = []
    for split in SPLITS:
        rng = np.random.default_rng(_stable_seed(seed, split))
        grammar = ReadSentenceGenerator(rng)
        split_speakers = speakers[split][: sizes[split]]
        shares = np.array_split(np.arange(sizes[split]), len(split_speakers))
        for speaker, share in zip(split_speakers, shares):
            left = len(share)
            while left > 0:
                size = min(left, int(rng.integers(*CHAPTER_SIZE)))
                chapter = str(int(chapter_ids[next_chapter]))
                next_chapter += 1
                for u in range(size):
                    plan.append(
                        {
                            "split": split,
                            "utt_id": f"{speaker['spk_id']}-{chapter}-{u:04d}",
                            "spk_id": speaker["spk_id"],
                            "chapter": chapter,
                            "text": grammar(),
                            "voice": speaker["voice"],
                            "prosody": _prosody(rng, speaker["offset"]),
                        }
                    )
                left -= size
    return plan


def generate_synthlibri(
    output_folder,
    n_train=2000,
    n_dev=150,
    n_test=150,
    seed=1234,
    num_workers=2,
    noise_floor=3e-4,
):
    """Writes a SynthLibri corpus in the LibriSpeech layout.

    Arguments
    ---------
    output_folder : str
        The ``LibriSpeech`` folder to write: it receives
        ``train-clean-100``, ``dev-clean`` and ``test-clean``.
    n_train : int
        Utterances of ``train-clean-100``.
    n_dev : int
        Utterances of ``dev-clean``.
    n_test : int
        Utterances of ``test-clean``.
    seed : int
        Random seed: the same seed and sizes give byte-identical files.
    num_workers : int
        Synthesis processes.
    noise_floor : float
        Standard deviation of the background noise added to each file.

    Returns
    -------
    dict
        Summary: per split ``utterances``, ``speakers``, ``chapters`` and
        ``seconds`` (audio), and ``vocabulary`` (distinct words of
        ``train-clean-100``), ``seconds`` and ``elapsed`` (wall time).

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> info = generate_synthlibri(out, n_train=4, n_dev=2, n_test=2,
    ...                            num_workers=1)
    >>> info["splits"]["dev-clean"]["utterances"], sorted(os.listdir(out))
    (2, ['dev-clean', 'test-clean', 'train-clean-100'])
    """
    start = time.time()
    plan = plan_synthlibri(n_train, n_dev, n_test, seed)
    jobs = []
    for utt in plan:
        folder = os.path.join(
            output_folder, utt["split"], utt["spk_id"], utt["chapter"]
        )
        jobs.append(
            {
                "path": os.path.join(folder, utt["utt_id"] + ".flac"),
                "text": utt["text"],
                "voice": utt["voice"],
                "prosody": utt["prosody"],
                "seed": _stable_seed(seed, utt["utt_id"]),
                "min_seconds": 1.0,
                "noise_floor": noise_floor,
            }
        )
    durations = dict(_run_jobs(jobs, num_workers))
    transcripts = {}
    for utt in plan:
        key = (utt["split"], utt["spk_id"], utt["chapter"])
        line = f"{utt['utt_id']} {utt['text'].upper()}"
        transcripts.setdefault(key, []).append(line)
    for (split, spk, chapter), lines in transcripts.items():
        path = os.path.join(
            output_folder, split, spk, chapter, f"{spk}-{chapter}.trans.txt"
        )
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
    splits = {}
    for split in SPLITS:
        rows = [(u, j) for u, j in zip(plan, jobs) if u["split"] == split]
        splits[split] = {
            "utterances": len(rows),
            "speakers": len({u["spk_id"] for u, _ in rows}),
            "chapters": len({u["chapter"] for u, _ in rows}),
            "seconds": round(sum(durations[j["path"]] for _, j in rows), 2),
        }
    vocabulary = {
        word
        for utt in plan
        if utt["split"] == SPLITS[0]
        for word in utt["text"].upper().split()
    }
    return {
        "splits": splits,
        "vocabulary": len(vocabulary),
        "seconds": round(sum(s["seconds"] for s in splits.values()), 2),
        "elapsed": round(time.time() - start, 2),
    }


def ensure_synthlibri(
    output_folder, n_train=2000, n_dev=150, n_test=150, seed=1234, num_workers=2
):
    """Generates SynthLibri in ``output_folder`` unless it exists already.

    The corpus goes to ``<output_folder>/LibriSpeech`` (the
    ``data_folder`` of ``prepare_librispeech``) and a small
    ``synthlibri.json`` records the options. A second call with the same
    options returns at once (or generates the corpus again if its folder
    was removed); other options are an error (choose another folder). The
    options are checked before anything is written. The corpus is written
    to ``synthlibri.partial`` and moved into place when complete, so an
    interrupted generation starts again (see
    :func:`~speechbrain_ext.synthetic.staging.generate_once`). Nothing that
    this function did not write is changed: a non-empty ``LibriSpeech``
    folder without the record, or a ``synthlibri.partial`` folder without
    this generator's mark, is an error naming the folder.

    Arguments
    ---------
    output_folder : str
        Folder receiving ``LibriSpeech`` and ``synthlibri.json``.
    n_train : int
        Utterances of ``train-clean-100``.
    n_dev : int
        Utterances of ``dev-clean``.
    n_test : int
        Utterances of ``test-clean``.
    seed : int
        Random seed.
    num_workers : int
        Synthesis processes (the files do not depend on it).

    Returns
    -------
    dict
        The generation summary (read back from ``synthlibri.json`` when
        the corpus existed).

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> first = ensure_synthlibri(out, n_train=4, n_dev=2, n_test=2)
    >>> ensure_synthlibri(out, n_train=4, n_dev=2, n_test=2) == first
    True
    >>> ensure_synthlibri(out, n_train=5, n_dev=2, n_test=2)
    Traceback (most recent call last):
    ...
    FileExistsError: ... generated with other options ...
    """
    check_synthlibri_options(n_train, n_dev, n_test, seed, num_workers)
    options = {
        "n_train": n_train,
        "n_dev": n_dev,
        "n_test": n_test,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
    }

    def generate(staging):
        """Writes the corpus into the staging folder; its summary."""
        corpus = os.path.join(staging, "LibriSpeech")
        logger.info("Generating SynthLibri in %s", output_folder)
        return generate_synthlibri(
            corpus, n_train, n_dev, n_test, seed, num_workers
        )

    summary = generate_once(
        output_folder, "synthlibri", ["LibriSpeech"], options, generate
    )
    logger.info(
        "SynthLibri: %d utterances (%.0f s of audio) in %.1f s",
        sum(s["utterances"] for s in summary["splits"].values()),
        summary["seconds"],
        summary["elapsed"],
    )
    return summary


def check_synthlibri_options(n_train, n_dev, n_test, seed, num_workers=1):
    """Fails, naming the option, on options that cannot give a corpus.

    Every split needs at least one utterance (``prepare_librispeech``
    refuses an empty split folder), all of them together at most
    :data:`MAX_UTTERANCES`; ``seed`` must be an integer and
    ``num_workers`` at least 1.

    Arguments
    ---------
    n_train : int
        Utterances of ``train-clean-100``.
    n_dev : int
        Utterances of ``dev-clean``.
    n_test : int
        Utterances of ``test-clean``.
    seed : int
        Random seed.
    num_workers : int
        Synthesis processes.

    Example
    -------
    >>> check_synthlibri_options(2000, 150, 150, seed=1)
    >>> check_synthlibri_options(2000, 0, 150, seed=1)
    Traceback (most recent call last):
    ...
    ValueError: the number of dev-clean utterances (n_dev) must be ...
    """
    _check_sizes(n_train, n_dev, n_test)
    _check_integer("seed", seed)
    _check_integer("num_workers", num_workers, 1)


def main(argv=None):
    """Command line: writes SynthLibri under ``--output_folder``.

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
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> info = main(["--output_folder", out, "--n_train", "2", "--n_dev",
    ...              "1", "--n_test", "1"])  # doctest: +ELLIPSIS
    {...}
    >>> os.listdir(os.path.join(out, "LibriSpeech", "test-clean"))[0].isdigit()
    True
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--n_train", type=int, default=2000)
    parser.add_argument("--n_dev", type=int, default=150)
    parser.add_argument("--n_test", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--num_workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        check_synthlibri_options(
            args.n_train, args.n_dev, args.n_test, args.seed, args.num_workers
        )
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO)
    try:
        info = ensure_synthlibri(
            args.output_folder,
            n_train=args.n_train,
            n_dev=args.n_dev,
            n_test=args.n_test,
            seed=args.seed,
            num_workers=args.num_workers,
        )
    except FileExistsError as error:
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    print(json.dumps(info, indent=2))
    return info


if __name__ == "__main__":
    main()
