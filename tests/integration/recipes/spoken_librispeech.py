"""A small spoken corpus in the LibriSpeech layout, for the A2W recipe tests.

Random sentences of 3 to 7 words from a fixed word list, spoken by eSpeak NG
voices at varied rates and pitches; the train, dev and test splits have
disjoint speakers (voices). The real ``prepare_librispeech`` reads it.

    python -m tests.integration.recipes.spoken_librispeech OUT --n_train 900
"""

import argparse
import os
import random

import soundfile as sf

from speechbrain_ext.synthetic.espeak import EspeakSynthesizer, Prosody

WORDS = """
the a of and to in is was he she it that for on with as his her they at be
this from have or by one had not but what all were when we there can an
your which their said if do will each about how up out them then many some
so these would other into has more two like him see time could no make than
first been its who now people my made over did down only way find use may
water long little very after words called just where most know get through
back much before go good new write our used me man too any day same right
look think also around another came come work three word must because does
part even place well such here take why things help put years different
away again off went old number great tell men say small every found still
between name should home big give air line set own under read last never us
left end along while might next sound below saw something thought both few
those always looked show large often together asked house world going want
school important until form food keep children feet land side without boy
once animals life enough took sometimes four head above kind began almost
live page got earth need far hand high year mother light parts country
father let night following picture being study second eyes soon times story
""".split()

VOICES = {
    "train-clean-100": [
        ("103", "en-us+m3"),
        ("118", "en-us+f2"),
        ("125", "en+m4"),
        ("163", "en+f4"),
        ("196", "en-gb-x-rp+m1"),
        ("201", "en-gb-x-rp+f1"),
    ],
    "dev-clean": [("84", "en-us+m5"), ("174", "en+f3")],
    "test-clean": [("61", "en-us+m2"), ("121", "en-gb-x-rp+f5")],
}


def make_spoken_librispeech(root, n_per_split, n_words=len(WORDS), seed=0):
    """Writes ``root/LibriSpeech/<split>/<spk>/<chapter>/*.flac``.

    Arguments
    ---------
    root : str
        Output folder.
    n_per_split : dict
        ``{split: number of utterances}`` (splits of :data:`VOICES`).
    n_words : int
        Sentences draw from the first ``n_words`` words of :data:`WORDS`.
    seed : int
        Seed of the sentences and prosody.

    Returns
    -------
    str
        The ``LibriSpeech`` folder.
    """
    rng = random.Random(seed)
    tts = EspeakSynthesizer(16000)
    words = WORDS[:n_words]
    data_folder = os.path.join(str(root), "LibriSpeech")
    for split, n_utts in n_per_split.items():
        speakers = VOICES[split]
        lines = {}
        for i in range(n_utts):
            spk, voice = speakers[i % len(speakers)]
            chapter = "1000"
            utt_id = f"{spk}-{chapter}-{i:04d}"
            text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 7)))
            prosody = Prosody(
                rate=rng.randint(140, 200),
                pitch=rng.randint(30, 70),
                pitch_range=rng.randint(30, 70),
            )
            folder = os.path.join(data_folder, split, spk, chapter)
            os.makedirs(folder, exist_ok=True)
            wav = tts.synthesize(text, voice, prosody, seed=i)
            sf.write(os.path.join(folder, utt_id + ".flac"), wav, 16000)
            lines.setdefault(folder, []).append(f"{utt_id} {text.upper()}")
        for folder, trans in lines.items():
            spk, chapter = folder.split(os.sep)[-2:]
            path = os.path.join(folder, f"{spk}-{chapter}.trans.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(trans) + "\n")
    return data_folder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--n_train", type=int, default=900)
    parser.add_argument("--n_dev", type=int, default=100)
    parser.add_argument("--n_test", type=int, default=100)
    parser.add_argument("--n_words", type=int, default=len(WORDS))
    args = parser.parse_args()
    print(
        make_spoken_librispeech(
            args.root,
            {
                "train-clean-100": args.n_train,
                "dev-clean": args.n_dev,
                "test-clean": args.n_test,
            },
            n_words=args.n_words,
        )
    )
