"""Training and inference throughput of the full-size recipes on one device.

Builds the joint, ASR-only and SER-only systems from ``joint.yaml``,
``asr_baseline.yaml`` and ``ser_baseline.yaml`` with randomly initialised
models of the real dimensions (wav2vec2-large-960h-lv60-self, BERT-base;
``--preset tiny`` for a CPU check), then times the recipes' own
``fit_batch`` on IEMOCAP-like batches and the inference forward pass (the
function the inference interface runs). Prints one JSON object.

The batches are random audio whose durations follow IEMOCAP's (log-normal,
mean 4.5 s, 0.6-30 s), grouped like the recipes' dynamic batches (sorted
durations packed up to ``--batch_seconds`` of padded audio, in random
order) or in fixed ``--batch_size`` groups. ``--noise`` trains as the
noise-trained recipe does: every batch also gets a noisy copy (SpeechBrain's
``AddNoise`` from a synthetic pool), so that the audio seconds processed
per step double. A random CTC head would emit a character almost every
frame; by default BERT reads the reference words (the length of a trained
model's hypothesis) in training, ``--bert_reads hypothesis`` makes it read
the (truncated) greedy hypotheses instead.

    python bench/gpu_throughput.py --device cuda --precision fp32 bf16 \
        --batch_seconds 120 --noise
    python bench/gpu_throughput.py --device cpu --preset tiny --steps 2

Model FLOPs are counted with ``torch.utils.flop_counter`` on one training
step; utilisation is reported against the measured bf16 (or float32 on a
CPU) matrix-product rate of the device.
"""

import argparse
import gc
import json
import math
import os
import random
import resource
import sys
import tempfile
import time

import torch
from common import RECIPE, build_brain, load_recipe

SYSTEMS = {
    "joint": "joint.yaml",
    "asr": "asr_baseline.yaml",
    "ser": "ser_baseline.yaml",
}
PRESETS = {  # wav2vec2 preset, BERT preset, encoder_dim, bert_dim
    "full": ("large", "base", 1024, 768),
    "tiny": ("tiny", "tiny", 96, 64),
}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ' "
WORDS = (
    "I DON'T KNOW WHAT YOU MEAN THAT IS NOT FAIR WE WERE GOING TO THE BEACH "
    "TOMORROW OH MY GOD THIS IS WONDERFUL WHY WOULD YOU SAY SOMETHING LIKE "
    "THAT LEAVE ME ALONE I AM SO HAPPY FOR YOU YEAH OKAY WELL"
).split()
SAMPLE_RATE = 16000


def iemocap_durations(n, rng):
    """``n`` utterance durations (s) distributed like IEMOCAP's."""
    sigma = 0.6
    mu = math.log(4.5) - sigma**2 / 2
    return [
        min(30.0, max(0.6, rng.lognormvariate(mu, sigma))) for _ in range(n)
    ]


def group_batches(durations, batch_seconds, batch_size, rng):
    """Lists of durations: dynamic (padded seconds) or fixed-size batches."""
    if batch_seconds:
        batches, current = [], []
        for dur in sorted(durations):
            if current and dur * (len(current) + 1) > batch_seconds:
                batches.append(current)
                current = []
            current.append(dur)
        batches.append(current)
    else:
        batches = [
            durations[i : i + batch_size]
            for i in range(0, len(durations), batch_size)
        ]
    rng.shuffle(batches)
    return batches


def make_batch(durations, tokenizer, rng, n_emotions):
    """A ``PaddedBatch`` with the keys the recipe reads."""
    from speechbrain.dataio.batch import PaddedBatch

    items = []
    for i, dur in enumerate(durations):
        n_words = max(1, round(dur * 2.7))  # conversational rate
        wrd = " ".join(rng.choice(WORDS) for _ in range(n_words))
        gen = torch.Generator().manual_seed(rng.randrange(2**31))
        sig = 0.05 * torch.randn(int(dur * SAMPLE_RATE), generator=gen)
        items.append(
            {
                "id": f"utt{i}",
                "sig": sig,
                "wrd": wrd,
                "tokens": torch.LongTensor(tokenizer.encode_sequence(wrd)),
                "emo_encoded": torch.LongTensor([rng.randrange(n_emotions)]),
            }
        )
    return PaddedBatch(items)


def char_tokenizer():
    """The recipes' character CTC encoder over upper-case English."""
    from speechbrain.dataio.encoder import CTCTextEncoder

    tokenizer = CTCTextEncoder()
    tokenizer.update_from_iterable(ALPHABET)
    tokenizer.insert_blank(index=0)
    tokenizer.add_unk()
    tokenizer.ignore_len()
    return tokenizer


def write_noise_pool(folder, rng):
    """Synthetic noise, music and speech pools in MUSAN's csv format."""
    import soundfile as sf

    from speechbrain_ext.augment.noise_pools import pool_csv

    os.makedirs(folder, exist_ok=True)
    for category in ("noise", "music", "speech"):
        rows = ["ID,duration,wav,wav_format,wav_opts"]
        for k in range(4):
            dur = rng.uniform(2.0, 10.0)
            t = torch.arange(int(dur * SAMPLE_RATE)) / SAMPLE_RATE
            wav = 0.1 * torch.randn(t.shape) + 0.1 * torch.sin(
                2 * math.pi * rng.uniform(100, 800) * t
            )
            path = os.path.join(folder, f"{category}{k}.wav")
            sf.write(path, wav.numpy(), SAMPLE_RATE)
            rows.append(f"{category}{k},{dur:.2f},{path},wav,")
        with open(pool_csv(folder, category, "train"), "w") as f:
            f.write("\n".join(rows) + "\n")


def matmul_tflops(device):
    """Measured dense matrix-product rate (bf16 on CUDA, float32 on CPU)."""
    if device.startswith("cuda"):
        n, dtype, reps = 8192, torch.bfloat16, 20
    else:
        n, dtype, reps = 1024, torch.float32, 5
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e12


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_gib(device):
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def reset_memory(device):
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def build_hparams(system, args, folders, work):
    """The system's yaml with the bench's models, noise pool and options."""
    from hyperpyyaml import load_hyperpyyaml

    w2v_preset, bert_preset, encoder_dim, bert_dim = PRESETS[args.preset]
    overrides = {
        "output_folder": os.path.join(work, system),
        "data_folder": work,
        "musan_folder": work,
        "noise_folder": os.path.join(work, "noise"),
        "skip_prep": True,
        "wav2vec2_hub": folders["wav2vec2"],
        "encoder_dim": encoder_dim,
        "noise_prob": 1.0 if args.noise else 0.0,
        "cudnn_attention": bool(args.cudnn_attention),
        "fused_adam": bool(args.fused_adam),
    }
    if system != "ser":
        overrides["augment_prob"] = 1.0 if args.augment else 0.0
    if system == "joint":
        overrides.update(bert_source=folders["bert"], bert_dim=bert_dim)
    with open(os.path.join(RECIPE, "hparams", SYSTEMS[system])) as f:
        hparams = load_hyperpyyaml(f, overrides)
    return hparams


def calibrate_blank(modules, batches, device, tokenizer, target_cps):
    """Sets the random CTC head's blank bias so that greedy hypotheses have
    about ``target_cps`` characters per second of audio."""
    from speechbrain_ext.lobes.models.joint_asr_ser import (
        ctc_greedy_transcripts,
    )

    lin = modules["ctc_lin"].w
    low, high = -20.0, 40.0
    with torch.no_grad():
        feats = []
        for batch in batches[:2]:
            wavs, lens = batch.sig
            frames = modules["encoder"](wavs.to(device), lens.to(device))
            if "asr_enc" in modules:
                frames = modules["asr_enc"](frames)
            feats.append((frames, lens))
        base = lin.bias[0].item()
        for _ in range(12):
            mid = (low + high) / 2
            lin.bias[0] = base + mid
            chars = seconds = 0.0
            for (f, lens), batch in zip(feats, batches):
                logp = torch.log_softmax(lin(f), -1)
                hyps = ctc_greedy_transcripts(logp, lens.to(device), tokenizer)
                chars += sum(len(" ".join(h)) for h in hyps)
                seconds += (
                    float((batch.sig.lengths * batch.sig.data.shape[1]).sum())
                    / SAMPLE_RATE
                )
            if chars / seconds > target_cps:
                low = mid
            else:
                high = mid
        return chars / seconds


def time_training(brain, batches, args, device):
    """Seconds per step, audio seconds per second, FLOPs per step.

    The audio seconds are the core's count of the audio that reached the
    model (``RecipeBrain.epoch_throughput``): augmented and noisy copies
    included.
    """
    import speechbrain as sb

    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    brain.modules.train()
    for batch in batches[: args.warmup]:
        brain.fit_batch(batch)
    flops = None
    if args.count_flops:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        brain.on_stage_start(sb.Stage.TRAIN, 1)
        with counter:
            brain.fit_batch(batches[args.warmup])
        flops = counter.get_total_flops()
        flops_audio = brain.epoch_throughput()["audio_s"]
    timed = batches[args.warmup + 1 : args.warmup + 1 + args.steps]
    sync(device)
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    start = time.perf_counter()
    losses = [brain.fit_batch(batch) for batch in timed]
    sync(device)
    elapsed = time.perf_counter() - start
    counted = brain.epoch_throughput()
    losses = [float(loss) for loss in losses]
    seconds = counted["audio_s"]
    result = {
        "steps": len(timed),
        "seconds_per_step": elapsed / len(timed),
        "utterances_per_step": counted["utt_per_s"] / counted["steps_per_s"],
        "audio_seconds_per_second": seconds / elapsed,
        "peak_memory_gib": peak_memory_gib(device),
        "loss_first_last": [losses[0], losses[-1]],
    }
    if flops is not None:
        per_audio_second = flops / flops_audio
        result["model_tflop_per_audio_second"] = per_audio_second / 1e12
        result["achieved_tflops"] = per_audio_second * seconds / elapsed / 1e12
    return result


def time_inference(brain, batches, precision, device, profile=False):
    """Audio seconds per second of the inference forward pass."""
    from speechbrain_ext.lobes.models.joint_asr_ser import (
        joint_asr_ser_forward,
    )

    hp = brain.hparams
    brain.modules.eval()
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[
        precision
    ]
    words = []

    def run(batch):
        wavs, lens = batch.sig
        wavs = wavs.to(device, non_blocking=True)
        lens = lens.to(device, non_blocking=True)
        with (
            torch.no_grad(),
            torch.autocast(
                device.split(":")[0],
                dtype=dtype or torch.float32,
                enabled=dtype is not None,
            ),
        ):
            out = joint_asr_ser_forward(
                brain.modules,
                wavs,
                lens,
                log_softmax=hp.log_softmax,
                pooling=getattr(hp, "pooling", None),
                tokenizer=brain.tokenizer,
                blank_index=getattr(hp, "blank_index", 0),
            )
        if "p_emo" in out:
            out["p_emo"].exp().cpu()
        words.extend(len(h) for h in out.get("hyps", []))

    for batch in batches[:2]:
        run(batch)
    sync(device)
    words.clear()
    start = time.perf_counter()
    for batch in batches:
        run(batch)
    sync(device)
    elapsed = time.perf_counter() - start
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as prof_ctx

        activities = [ProfilerActivity.CPU]
        if device.startswith("cuda"):
            activities.append(ProfilerActivity.CUDA)
        with prof_ctx(activities=activities) as prof:
            for batch in batches[:4]:
                run(batch)
            sync(device)
        print(
            prof.key_averages().table(
                sort_by="self_cpu_time_total", row_limit=30
            ),
            file=sys.stderr,
        )
    return {
        "mean_hypothesis_words": sum(words) / max(1, len(words)),
        "files": sum(len(b.id) for b in batches),
        "audio_seconds_per_second": sum(audio_seconds(b) for b in batches)
        / elapsed,
        "seconds": elapsed,
    }


def audio_seconds(batch):
    return float((batch.sig.lengths * batch.sig.data.shape[1]).sum()) / (
        SAMPLE_RATE
    )


def compare_precisions(args, folders, work, tokenizer, rng, device):
    """Training losses of the joint system in each precision, same start.

    Every precision starts from the same weights (the yaml loaded anew
    after seeding) and trains on the same fixed-size batches, without
    augmentation or noise. Returns the losses in windows of 20 steps and
    the largest relative difference of the window means.
    """
    import speechbrain as sb

    durations = iemocap_durations(args.compare_steps * args.batch_size, rng)
    batches = [
        make_batch(durations[i : i + args.batch_size], tokenizer, rng, 4)
        for i in range(0, len(durations), args.batch_size)
    ]
    recipe = load_recipe()
    curves = {}
    for precision in args.precision:
        sb.utils.seed_everything(args.seed)
        hparams = build_hparams("joint", args, folders, work)
        brain = build_brain(
            recipe,
            hparams,
            {"device": device, "precision": precision},
            tokenizer,
        )
        brain.bert_reads_words = True
        brain.on_fit_start()
        brain.on_stage_start(sb.Stage.TRAIN, 1)
        brain.modules.train()
        losses = [float(brain.fit_batch(b)) for b in batches]
        curves[precision] = [
            sum(losses[i : i + 20]) / len(losses[i : i + 20])
            for i in range(0, len(losses), 20)
        ]
        del brain, hparams
        reset_memory(device)
    result = {"steps": len(batches), "window_means": curves}
    if len(curves) == 2:
        a, b = curves.values()
        result["max_relative_difference"] = max(
            abs(x - y) / abs(x) for x, y in zip(a, b)
        )
        result["last_window_relative_difference"] = abs(a[-1] - b[-1]) / abs(
            a[-1]
        )
    return result


def profile_steps(brain, batches, device, rows):
    """Prints the profiler's tables of a few training steps."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for batch in batches:
            brain.fit_batch(batch)
        sync(device)
    events = prof.key_averages()
    if device.startswith("cuda"):
        try:
            table = events.table(
                sort_by="self_device_time_total", row_limit=rows
            )
        except (AttributeError, KeyError, ValueError):
            table = events.table(sort_by="self_cuda_time_total", row_limit=rows)
        print(table, file=sys.stderr)
    print(
        events.table(sort_by="self_cpu_time_total", row_limit=rows),
        file=sys.stderr,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--preset", default="full", choices=PRESETS)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--precision", nargs="+", default=["fp32"])
    parser.add_argument("--eval_precision", nargs="+", default=["fp32"])
    parser.add_argument("--batch_seconds", type=float, default=0.0)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--infer_batch_size", type=int, nargs="+", default=[8])
    parser.add_argument("--infer_files", type=int, default=80)
    parser.add_argument("--noise", action="store_true")
    parser.add_argument(
        "--augment",
        action="store_true",
        help="the ASR and joint yamls' time-domain SpecAugment copy",
    )
    parser.add_argument("--cudnn_benchmark", action="store_true")
    parser.add_argument(
        "--cudnn_attention", type=int, default=0, choices=[0, 1]
    )
    parser.add_argument(
        "--bert_reads", default="reference", choices=["reference", "hypothesis"]
    )
    parser.add_argument("--hyp_chars_per_second", type=float, default=14.0)
    parser.add_argument("--count_flops", action="store_true")
    parser.add_argument(
        "--compare_steps",
        type=int,
        default=0,
        help="compare the joint losses of --precision over so many steps",
    )
    parser.add_argument(
        "--fused_adam", action="store_true", help="the yamls' fused_adam: True"
    )
    parser.add_argument(
        "--compile",
        nargs="*",
        default=None,
        help="torch.compile these modules (dynamic shapes), e.g. encoder",
    )
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--profile_inference", action="store_true")
    parser.add_argument("--seed", type=int, default=1986)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = args.cudnn_benchmark

    from speechbrain_ext.synthetic.offline_models import (
        build_bert,
        build_wav2vec2,
    )

    work = args.work or tempfile.mkdtemp(prefix="gpu_throughput_")
    w2v_preset, bert_preset, _, _ = PRESETS[args.preset]
    folders = {
        "wav2vec2": os.path.join(work, f"wav2vec2_{w2v_preset}"),
        "bert": os.path.join(work, f"bert_{bert_preset}"),
    }
    if not os.path.isdir(folders["wav2vec2"]):
        build_wav2vec2(folders["wav2vec2"], preset=w2v_preset)
    if not os.path.isdir(folders["bert"]):
        build_bert(folders["bert"], preset=bert_preset)
    rng = random.Random(args.seed)
    if args.noise:
        write_noise_pool(os.path.join(work, "noise"), rng)

    tokenizer = char_tokenizer()
    if args.compare_steps:
        result = compare_precisions(args, folders, work, tokenizer, rng, device)
        print(json.dumps(result, indent=1))
        return
    n_train = args.warmup + 1 + args.steps + args.profile
    durations = iemocap_durations(4000, rng)
    train_durs = group_batches(
        durations, args.batch_seconds, args.batch_size, rng
    )[:n_train]
    if len(train_durs) < n_train:
        sys.exit(f"only {len(train_durs)} batches; lower --batch_seconds")
    train_batches = [make_batch(d, tokenizer, rng, 4) for d in train_durs]
    infer_durs = iemocap_durations(args.infer_files, rng)
    infer_batches = {
        size: [
            make_batch(infer_durs[i : i + size], tokenizer, rng, 4)
            for i in range(0, len(infer_durs), size)
        ]
        for size in args.infer_batch_size
    }
    recipe = load_recipe()
    report = {
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"cpu ({torch.get_num_threads()} threads)",
        "preset": args.preset,
        "torch": torch.__version__,
        "batching": f"dynamic {args.batch_seconds} s"
        if args.batch_seconds
        else f"fixed {args.batch_size}",
        "noise_training": args.noise,
        "augmentation": args.augment,
        "bert_reads": args.bert_reads,
        "cudnn_attention": bool(args.cudnn_attention),
        "mean_train_batch_seconds": sum(sum(d) for d in train_durs)
        / len(train_durs),
        "matmul_tflops": matmul_tflops(device),
        "train": {},
        "inference": {},
    }
    for system in args.systems:
        reset_memory(device)
        hparams = build_hparams(system, args, folders, work)
        for precision in args.precision:
            run_opts = {"device": device, "precision": precision}
            if args.compile:
                run_opts.update(
                    compile=True,
                    compile_module_keys=args.compile,
                    compile_using_dynamic_shape_tracing=True,
                )
            brain = build_brain(recipe, hparams, run_opts, tokenizer)
            brain.bert_reads_words = args.bert_reads == "reference"
            if "ctc_lin" in brain.modules:
                cps = calibrate_blank(
                    brain.modules,
                    train_batches,
                    device,
                    tokenizer,
                    args.hyp_chars_per_second,
                )
                report.setdefault("calibrated_cps", cps)
            if args.steps == 0:
                continue
            result = time_training(brain, train_batches, args, device)
            result["matmul_utilisation"] = (
                result.get("achieved_tflops", float("nan"))
                / report["matmul_tflops"]
            )
            report["train"][f"{system}_{precision}"] = result
            if args.profile and system == args.systems[0]:
                profile_steps(
                    brain, train_batches[-args.profile :], device, rows=25
                )
            print(system, precision, json.dumps(result), file=sys.stderr)
        for precision in args.eval_precision if args.infer_files else []:
            for size, batches in infer_batches.items():
                reset_memory(device)
                key = f"{system}_{precision}_batch{size}"
                report["inference"][key] = time_inference(
                    brain,
                    batches,
                    precision,
                    device,
                    profile=args.profile_inference and system == "joint",
                )
                report["inference"][key]["peak_memory_gib"] = peak_memory_gib(
                    device
                )
        del brain, hparams
    train, infer = report["train"], report["inference"]
    for precision in args.precision:
        joint, ser = (
            train.get(f"joint_{precision}"),
            train.get(f"ser_{precision}"),
        )
        if joint and ser:
            report[f"joint_over_ser_step_{precision}"] = (
                joint["seconds_per_step"] / ser["seconds_per_step"]
            )
    for key in [k for k in infer if k.startswith("joint_")]:
        rest = key[len("joint") :]
        if f"asr{rest}" in infer and f"ser{rest}" in infer:
            rate = {
                name: 1 / infer[f"{name}{rest}"]["audio_seconds_per_second"]
                for name in ("joint", "asr", "ser")
            }
            report[f"joint_over_asr_plus_ser_inference{rest}"] = rate[
                "joint"
            ] / (rate["asr"] + rate["ser"])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
