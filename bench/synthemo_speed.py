"""SynthEmo and SynthNoise generation speed (target: at least 100x real time).

python bench/synthemo_speed.py [--n_utterances 2000]
"""

import argparse
import json
import os
import tempfile
import time

from speechbrain_ext.synthetic.synthemo import (
    generate_synthemo,
    generate_synthnoise,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n_utterances", type=int, default=2000)
    parser.add_argument("--n_noise_files", type=int, default=30)
    parser.add_argument("--num_workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        speech = generate_synthemo(
            os.path.join(tmp, "IEMOCAP_full_release"),
            n_utterances=args.n_utterances,
            num_workers=args.num_workers,
        )
        start = time.time()
        noise = generate_synthnoise(
            os.path.join(tmp, "musan"), n_per_category=args.n_noise_files
        )
        noise_elapsed = time.time() - start
    seconds = speech["seconds"] + noise["seconds"]
    elapsed = speech["elapsed"] + noise_elapsed
    print(
        json.dumps(
            {
                "utterances": speech["n_utterances"],
                "speech_audio_seconds": speech["seconds"],
                "speech_elapsed_seconds": speech["elapsed"],
                "speech_x_real_time": round(
                    speech["seconds"] / speech["elapsed"], 1
                ),
                "noise_audio_seconds": noise["seconds"],
                "noise_elapsed_seconds": round(noise_elapsed, 2),
                "total_x_real_time": round(seconds / elapsed, 1),
                "target_x_real_time": 100,
                "workers": args.num_workers,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
