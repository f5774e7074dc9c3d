"""SynthLibri generation speed at the demo's default sizes.

python bench/synthlibri_speed.py [--n_train 2000 --n_dev 150 --n_test 150]
"""

import argparse
import json
import os
import resource
import tempfile

from speechbrain_ext.synthetic.synthlibri import generate_synthlibri


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n_train", type=int, default=2000)
    parser.add_argument("--n_dev", type=int, default=150)
    parser.add_argument("--n_test", type=int, default=150)
    parser.add_argument("--num_workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    before = [
        resource.getrusage(who)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        info = generate_synthlibri(
            os.path.join(tmp, "LibriSpeech"),
            n_train=args.n_train,
            n_dev=args.n_dev,
            n_test=args.n_test,
            num_workers=args.num_workers,
        )
        size = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(tmp)
            for name in names
        )
    # CPU time of this process and of the synthesis processes: on a loaded
    # machine, cpu_seconds / workers estimates the wall time on idle cores
    cpu = sum(
        (after.ru_utime + after.ru_stime) - (b.ru_utime + b.ru_stime)
        for who, b in zip(
            (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN), before
        )
        for after in [resource.getrusage(who)]
    )
    print(
        json.dumps(
            {
                "utterances": {
                    split: s["utterances"]
                    for split, s in info["splits"].items()
                },
                "audio_seconds": info["seconds"],
                "audio_hours": round(info["seconds"] / 3600, 3),
                "elapsed_seconds": info["elapsed"],
                "x_real_time": round(info["seconds"] / info["elapsed"], 1),
                "cpu_seconds": round(cpu, 1),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "train_vocabulary": info["vocabulary"],
                "disk_mb": round(size / 2**20, 1),
                "workers": args.num_workers,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
