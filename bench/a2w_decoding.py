"""Chooses the A2W beam search's bounds on validation data, under noise.

Loads the best checkpoint of finished runs of
``recipes/IEMOCAP/ASR_SER/A2W_attention`` (``--run``, one or more output
folders), mixes the **validation** utterances with noise, music and babble
of the **training** pools at 15 and 5 dB (the test utterances and the test
pools stay unseen; the mixing is the test conditions' ``ConditionMixer``,
seeded) and decodes them with SpeechBrain's ``S2SRNNBeamSearcher`` under
every setting of a grid:

* ``max_words_per_second``: the bound on the hypothesis length
  (``max_decode_ratio`` = words per second x seconds per encoder frame);
  ``none`` is the former ``max_decode_ratio: 1.0``, one word per frame;
* ``eos_threshold`` (``none``: ``using_eos_threshold: False``): eos may
  end a hypothesis when its log-probability exceeds ``eos_threshold``
  times the best token's;
* ``length_normalization``;
* ``length_weight``: a per-word score (``LengthScorer``; negative: a
  length penalty).

Prints one JSON object: the training set's words per second (maximum and
the utterance), and for each run and setting the WER with substitutions,
deletions and insertions per condition, their mean and maximum over the
conditions.

    python bench/a2w_decoding.py --run <output_folder> [<output_folder>...]
"""

import argparse
import itertools
import json
import os
import sys
import time

import jiwer
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.decoders import S2SRNNBeamSearcher
from speechbrain.decoders.scorer import LengthScorer, ScorerBuilder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from speechbrain_ext.augment.conditions import (  # noqa: E402
    ConditionMixer,
    conditions_of_set,
)
from speechbrain_ext.augment.noise_pools import pool_csv  # noqa: E402
from speechbrain_ext.lobes.models.a2w_ser import (  # noqa: E402
    load_a2w_vocabulary,
    words_per_second,
)
from speechbrain_ext.recipe.data import add_audio, load_datasets  # noqa: E402
from speechbrain_ext.utils.metrics import normalize_text  # noqa: E402


def parse_values(text):
    """``"none,1.5,2"`` -> ``[None, 1.5, 2.0]``; ``"true,false"`` -> bools."""
    values = []
    for item in text.split(","):
        item = item.strip().lower()
        if item == "none":
            values.append(None)
        elif item in ("true", "false"):
            values.append(item == "true")
        else:
            values.append(float(item))
    return values


def load_run(run):
    """The run's hyperparameters, its best checkpoint loaded, in eval mode."""
    with open(os.path.join(run, "hyperparams.yaml"), encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f)
    checkpoint = hparams["checkpointer"].recover_if_possible(min_key="error")
    if checkpoint is None:
        sys.exit(f"{run}: no checkpoint to load")
    for module in hparams["modules"].values():
        module.eval()
    vocabulary = load_a2w_vocabulary(
        os.path.join(hparams["save_folder"], "vocabulary.txt"),
        hparams["output_neurons"],
    )
    return hparams, vocabulary, str(checkpoint.path)


def searcher_for(hparams, setting):
    """A beam searcher of the yaml's modules with the setting's bounds."""
    wps, eos, norm, length = setting
    frame_s = hparams["n_stack"] / 100  # 10 ms filterbank hop, stacked
    scorer = None
    if length:
        scorer = ScorerBuilder(
            full_scorers=[LengthScorer(vocab_size=hparams["output_neurons"])],
            weights={"length": length},
        )
    return S2SRNNBeamSearcher(
        embedding=hparams["emb"],
        decoder=hparams["dec"],
        linear=hparams["seq_lin"],
        bos_index=hparams["bos_index"],
        eos_index=hparams["eos_index"],
        min_decode_ratio=0.0,
        max_decode_ratio=1.0 if wps is None else wps * frame_s,
        beam_size=hparams["beam_size"],
        scorer=scorer,
        using_eos_threshold=eos is not None,
        eos_threshold=1.5 if eos is None else eos,
        length_normalization=norm,
        using_max_attn_shift=False,
    )


def error_counts(refs, hyps):
    """WER (%) and its substitutions, deletions and insertions (jiwer)."""
    refs = [normalize_text(r) for r in refs]
    hyps = [normalize_text(h) for h in hyps]
    out = jiwer.process_words(refs, hyps)
    n = out.substitutions + out.deletions + out.hits
    return {
        "WER": round(100 * out.wer, 2),
        "S": out.substitutions,
        "D": out.deletions,
        "I": out.insertions,
        "N": n,
    }


def decode_run(run, settings, conditions, args):
    """WER of every setting and condition on the run's validation set."""
    hparams, vocabulary, checkpoint = load_run(run)
    datasets = load_datasets(
        {"valid": hparams["valid_annotation"]}, hparams["data_folder"]
    )
    add_audio(datasets)
    sb.dataio.dataset.set_output_keys([datasets["valid"]], ["id", "sig", "wrd"])
    loader = torch.utils.data.DataLoader(
        datasets["valid"], batch_size=args.batch_size, collate_fn=PaddedBatch
    )
    categories = sorted({c.category for c in conditions if not c.is_clean})
    mixer = ConditionMixer(
        {c: pool_csv(hparams["noise_folder"], c, "train") for c in categories},
        seed=args.seed,
    )
    searchers = [searcher_for(hparams, s) for s in settings]
    refs = []
    hyps = {(i, c.name): [] for i in range(len(settings)) for c in conditions}
    modules = hparams["modules"]
    with torch.no_grad():
        for batch in loader:
            wavs, lens = batch.sig
            refs += list(batch.wrd)
            for condition in conditions:
                noisy = wavs
                if not condition.is_clean:
                    noisy = mixer(wavs, lens, list(batch.id), condition)
                feats = hparams["compute_features"](noisy)
                feats = modules["normalize"](feats, lens)
                enc = modules["enc"](feats, lens)
                for i, searcher in enumerate(searchers):
                    for ids in searcher(enc, lens)[0]:
                        words = vocabulary.decode_ndim(ids)
                        hyps[(i, condition.name)].append(" ".join(words))
    results = []
    for i, setting in enumerate(settings):
        per_condition = {
            c.name: error_counts(refs, hyps[(i, c.name)]) for c in conditions
        }
        wers = [m["WER"] for m in per_condition.values()]
        results.append(
            {
                "max_words_per_second": setting[0],
                "eos_threshold": setting[1],
                "length_normalization": setting[2],
                "length_weight": setting[3],
                "mean_WER": round(sum(wers) / len(wers), 2),
                "max_WER": max(wers),
                "conditions": per_condition,
            }
        )
    results.sort(key=lambda r: r["mean_WER"])
    return {"checkpoint": checkpoint, "utterances": len(refs), "grid": results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", nargs="+", required=True)
    parser.add_argument("--conditions", default="paper7")
    parser.add_argument("--seed", type=int, default=1986)
    parser.add_argument("--batch_size", type=int, default=20)
    parser.add_argument("--margin", type=float, default=1.1)
    parser.add_argument("--words_per_second", default="none,data")
    parser.add_argument("--eos_threshold", default="1.5,2,3,none")
    parser.add_argument("--length_normalization", default="true,false")
    parser.add_argument("--length_weight", default="0")
    args = parser.parse_args(argv)
    start = time.time()
    with open(os.path.join(args.run[0], "hyperparams.yaml")) as f:
        train_json = load_hyperpyyaml(f)["train_annotation"]
    rates = words_per_second(train_json)
    fastest = max(rates, key=rates.get)
    data_bound = round(rates[fastest] * args.margin, 2)
    bounds = [
        data_bound if v == "data" else (None if v == "none" else float(v))
        for v in args.words_per_second.split(",")
    ]
    settings = list(
        itertools.product(
            bounds,
            parse_values(args.eos_threshold),
            parse_values(args.length_normalization),
            parse_values(args.length_weight),
        )
    )
    conditions = conditions_of_set(args.conditions)
    report = {
        "train_annotation": train_json,
        "max_words_per_second": round(rates[fastest], 3),
        "fastest_utterance": fastest,
        "mean_words_per_second": round(sum(rates.values()) / len(rates), 3),
        "margin": args.margin,
        "runs": {
            run: decode_run(run, settings, conditions, args) for run in args.run
        },
        "seconds": round(time.time() - start, 1),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
