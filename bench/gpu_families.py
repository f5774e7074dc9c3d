"""Every family's full-size recipe on one device: throughput and memory.

Runs each family's main full-size yaml through its own ``train.py``, with
the debug flags of its row in ``tests/recipes/<Dataset>.csv`` (SpeechBrain's
sample utterances, no corpus needed), except that:

* the training manifest repeats the samples ``--copies`` times, so that an
  epoch is long enough to time;
* the models are randomly initialised at the real dimensions
  (wav2vec2-large or -base, BERT-base, the A2W export of
  ``A2W_attention/hparams/train.yaml``), built offline;
* ``--device``, ``--precision``, ``--number_of_epochs`` and the data-loading
  workers are set here;
* with ``--noise_prob 1.0``, every batch also gets a noisy copy (the
  recipes' noise training), from SynthNoise pools in the MUSAN layout
  generated and prepared once into ``--work``.

The throughput is the core's own count (``RecipeBrain.epoch_throughput``,
logged in ``train_log.txt`` after every epoch): audio seconds that reached
the model per second of training, augmented and noisy copies included, and
the peak memory. The last epoch's figures are reported (the first one pays
for warm-up). Minutes per fold follow from them and from each paper's
protocol (training audio of a fold, copies per utterance, epochs).
Prints one JSON object.

    python bench/gpu_families.py --device cuda --precision bf16
    python bench/gpu_families.py --device cpu --families residual --copies 2
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "tests", "samples", "annotation")

# A fold's training audio. IEMOCAP's 4-class set: 5531 utterances of 4.5 s
# on average; a leave-one-speaker-out fold trains on 8 of 10 speakers
# (about 4,400 utterances, 19,800 s). Emo-DB: 535 utterances, 24.8 min;
# leave-one-speaker-out trains on 8 of 10 speakers. LibriSpeech
# train-clean-100: 100.6 h.
IEMOCAP_FOLD_TRAIN_S = 4400 * 4.5
FAMILIES = {
    "joint": (
        "IEMOCAP.csv",
        "recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT/hparams/joint.yaml",
        IEMOCAP_FOLD_TRAIN_S,
    ),
    "fusion": (
        "IEMOCAP.csv",
        "recipes/IEMOCAP/ASR_SER/hierarchical_coattention/hparams/train.yaml",
        IEMOCAP_FOLD_TRAIN_S,
    ),
    "a2w_ser": (
        "IEMOCAP.csv",
        "recipes/IEMOCAP/ASR_SER/A2W_attention/hparams/train.yaml",
        IEMOCAP_FOLD_TRAIN_S,
    ),
    "a2w_librispeech": (
        "LibriSpeech.csv",
        "recipes/LibriSpeech/ASR/A2W/hparams/train.yaml",
        100.6 * 3600,
    ),
    "residual": (
        "IEMOCAP.csv",
        "recipes/IEMOCAP/emotion_recognition/residual_BLSTM_Etransformer/"
        "hparams/train.yaml",
        IEMOCAP_FOLD_TRAIN_S,
    ),
    "emodb_lstm": (
        "EmoDB.csv",
        "recipes/EmoDB/emotion_recognition/LSTM/hparams/lstm.yaml",
        0.8 * 24.8 * 60,
    ),
}


def csv_flags(table, hparams_file):
    """The ``test_debug_flags`` of one row of the recipe tables."""
    with open(os.path.join(ROOT, "tests", "recipes", table)) as f:
        for row in csv.DictReader(f):
            if row["Hparam_file"] == hparams_file:
                return row["Script_file"], row["test_debug_flags"].split()
    raise KeyError(f"{hparams_file} is not listed in tests/recipes/{table}")


def repeated_manifest(path, copies):
    """The sample training manifest, each utterance ``copies`` times."""
    with open(os.path.join(SAMPLES, "ASR_train.json")) as f:
        samples = json.load(f)
    manifest = {
        f"{uid}_c{k}": entry
        for k in range(copies)
        for uid, entry in samples.items()
    }
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
    return sum(float(e["duration"]) for e in manifest.values())


def build_models(work, families):
    """Full-size random models, built once into ``work``."""
    from speechbrain_ext.synthetic.offline_models import (
        build_bert,
        build_wav2vec2,
    )

    models = {}
    if "joint" in families:
        models["w2v_large"] = build_wav2vec2(
            os.path.join(work, "wav2vec2_large"), preset="large"
        )
    if "fusion" in families:
        models["w2v_base"] = build_wav2vec2(
            os.path.join(work, "wav2vec2_base"), preset="base"
        )
    if {"joint", "fusion"} & set(families):
        models["bert"] = build_bert(
            os.path.join(work, "bert_base"), preset="base"
        )
    if "a2w_ser" in families:
        models["a2w"] = os.path.join(work, "a2w_full")
        if not os.path.isdir(models["a2w"]):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "speechbrain_ext.synthetic.random_a2w",
                    "--hparams",
                    FAMILIES["a2w_ser"][1],
                    "--output",
                    models["a2w"],
                    "--words_from",
                    SAMPLES,
                ],
                cwd=ROOT,
                check=True,
            )
    return models


def noise_pools(work):
    """SynthNoise in the MUSAN layout and its prepared pools, made once."""
    from speechbrain_ext.dataio.musan_prepare import prepare_musan
    from speechbrain_ext.synthetic.synthemo import generate_synthnoise

    musan = os.path.join(work, "musan")
    pools = os.path.join(work, "noise_pools")
    if not os.path.isdir(musan):
        generate_synthnoise(musan, n_per_category=12)
    prepare_musan(musan, pools)
    return musan, pools


def family_flags(name, flags, models, args, train_json, output):
    """The csv row's flags with the bench's data, models and device."""
    drop = ("--encoder_dim=", "--bert_dim=", "--num_workers=")
    out = []
    for flag in flags:
        if flag.startswith(drop):
            continue
        if flag.startswith("--train_annotation="):
            flag = f"--train_annotation={train_json}"
        elif flag.startswith("--number_of_epochs="):
            flag = f"--number_of_epochs={args.epochs}"
        elif flag.startswith("--wav2vec2_hub="):
            key = "w2v_large" if name == "joint" else "w2v_base"
            flag = f"--wav2vec2_hub={models[key]}"
        elif flag.startswith("--bert_source="):
            flag = f"--bert_source={models['bert']}"
        elif flag.startswith("--pretrained_path="):
            flag = f"--pretrained_path={models['a2w']}"
        out.append(flag)
    out += [
        f"--output_folder={output}",
        f"--device={args.device}",
        f"--precision={args.precision}",
    ]
    if args.noise_prob > 0:
        musan, pools = models["noise"]
        out = [f for f in out if not f.startswith(NOISE_FLAGS)]
        out += [
            f"--noise_prob={args.noise_prob}",
            f"--musan_folder={musan}",
            f"--noise_folder={pools}",
        ]
    with open(os.path.join(ROOT, FAMILIES[name][1])) as f:
        if re.search(r"^num_workers:", f.read(), re.M):
            out.append(f"--num_workers={args.num_workers}")
    return out


NOISE_FLAGS = ("--noise_prob=", "--musan_folder=", "--noise_folder=")


def last_epoch_stats(train_log):
    """The training figures of the last epoch in ``train_log.txt``."""
    stats = {}
    with open(train_log) as f:
        for line in f:
            if not line.startswith("epoch"):
                continue
            found = dict(
                re.findall(r"train (\w+): ([-+.\deE]+)", line.split(" - ")[1])
            )
            stats = {k: float(v) for k, v in found.items()}
    return stats


def run_family(name, args, models, work):
    """Trains one family for ``--epochs`` epochs; its figures."""
    table, hparams_file, fold_train_s = FAMILIES[name]
    script, flags = csv_flags(table, hparams_file)
    output = os.path.join(work, "runs", name)
    train_json = os.path.join(work, f"train_{name}.json")
    manifest_s = repeated_manifest(train_json, args.copies)
    cmd = [sys.executable, script, hparams_file] + family_flags(
        name, flags, models, args, train_json, output
    )
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    result = {"yaml": hparams_file, "wall_s": wall, "rc": proc.returncode}
    log = os.path.join(output, "train_log.txt")
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).replace("\r", "\n").splitlines()
        lines = [line for line in lines if "it/s" not in line]
        result["error"] = "\n".join(lines)[-3000:]
    if not os.path.exists(log):
        return result
    # training figures stand even when a later stage failed
    stats = last_epoch_stats(log)
    result.update(stats)
    with open(hparams_file) as f:
        epochs = int(re.search(r"^number_of_epochs: (\d+)", f.read(), re.M)[1])
    result["paper_epochs"] = epochs
    if stats.get("audio_s_per_s"):
        copies = stats["audio_s"] / manifest_s
        result["copies_per_utterance"] = copies
        result["minutes_per_fold"] = (
            epochs * fold_train_s * copies / stats["audio_s_per_s"] / 60
        )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--num_workers", type=int, default=4)
    parser.add_argument("--work", default=None)
    parser.add_argument(
        "--noise_prob",
        type=float,
        default=0.0,
        help="share of batches that also get a noisy copy (1.0: all)",
    )
    args = parser.parse_args()
    unknown = set(args.families) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)}: {list(FAMILIES)}")
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="families_"))
    os.makedirs(work, exist_ok=True)
    sys.path.insert(0, ROOT)
    models = build_models(work, args.families)
    if args.noise_prob > 0:
        models["noise"] = noise_pools(work)
    report = {
        "device": args.device,
        "precision": args.precision,
        "copies": args.copies,
        "epochs": args.epochs,
        "noise_prob": args.noise_prob,
        "families": {},
    }
    if args.device.startswith("cuda"):
        import torch

        report["device"] = torch.cuda.get_device_name()
    for name in args.families:
        result = run_family(name, args, models, work)
        report["families"][name] = result
        print(name, json.dumps(result), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
