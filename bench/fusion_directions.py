"""The fusion family's directions on the demo, over seeds.

Trains the rows of Table 3 of Li, Bell and Lai (2022) that the paper's two
findings compare, with ``recipes/IEMOCAP/ASR_SER/hierarchical_coattention/
hparams/train_demo.yaml``, once per seed, and checks

* (a) acoustic + hidden + text output above acoustic + hidden and above
  acoustic + text output (co-attention);
* (b) hierarchical co-attention at or above co-attention, at or above
  concatenation (all three streams).

A difference is counted as a finding only where the difference of the
means over seeds is larger than the seed-to-seed range (max - min) of
either row. Writes ``directions.json`` and ``directions.md`` to ``--work``
and prints the JSON. A run whose results exist is not trained again, so an
interrupted comparison resumes. ``--jobs 2`` trains two runs at a time,
one thread each.

    python bench/fusion_directions.py --work results/fusion_directions \\
        --seeds 1986 1987 1988 --jobs 2
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "hierarchical_coattention"
)
ROWS = {
    "hidden_coattention": [
        "--streams=mfcc+hidden",
        "--fusion_method=coattention",
    ],
    "text_coattention": ["--streams=mfcc+text", "--fusion_method=coattention"],
    "all_coattention": ["--fusion_method=coattention"],
    "all_concat": ["--fusion_method=concat"],
    "all_hierarchical": ["--fusion_method=hierarchical"],
    "hidden_concat": ["--streams=mfcc+hidden", "--fusion_method=concat"],
    "text_concat": ["--streams=mfcc+text", "--fusion_method=concat"],
}
DEFAULT_ROWS = list(ROWS)[:5]
# (better, worse): the paper finds the first row at or above the second
DIRECTIONS = {
    "a": [
        ("all_coattention", "hidden_coattention"),
        ("all_coattention", "text_coattention"),
        ("all_concat", "hidden_concat"),
        ("all_concat", "text_concat"),
    ],
    "b": [
        ("all_hierarchical", "all_coattention"),
        ("all_coattention", "all_concat"),
    ],
}
METRICS = ("WA", "UA", "macro_F1", "WER")


def run_row(row, seed, args):
    """Trains and tests one row for one seed (unless done); its metrics."""
    out = os.path.join(args.work, row, str(seed))
    metrics_path = os.path.join(out, "test_results", "metrics.json")
    seconds = None
    if not os.path.exists(metrics_path):
        os.makedirs(out, exist_ok=True)
        cmd = [
            sys.executable,
            os.path.join(RECIPE, "train.py"),
            os.path.join(RECIPE, "hparams", "train_demo.yaml"),
            f"--output_folder={out}",
            f"--seed={seed}",
            "--test_conditions=clean",
            *ROWS[row],
            *args.overrides,
        ]
        if args.synthemo_folder:
            cmd.append(f"--synthemo_folder={args.synthemo_folder}")
        env = dict(os.environ)
        if args.jobs > 1:
            env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        start = time.time()
        with open(os.path.join(out, "stdout.log"), "w") as log:
            proc = subprocess.run(
                cmd, cwd=args.work, stdout=log, stderr=log, env=env
            )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{row} seed {seed} failed: see {out}/stdout.log"
            )
        seconds = round(time.time() - start, 1)
    with open(metrics_path) as fin:
        clean = json.load(fin)["clean"]
    result = {key: clean.get(key) for key in METRICS}
    result["train_seconds"] = seconds
    return result


def summarize(results, seeds):
    """Means and seed-to-seed ranges per row, and the directions."""
    rows = {}
    for row, per_seed in results.items():
        stats = {}
        for key in ("WA", "UA"):
            values = [per_seed[s][key] for s in seeds]
            stats[key] = {
                "mean": round(sum(values) / len(values), 2),
                "range": round(max(values) - min(values), 2),
                "values": values,
            }
        rows[row] = stats
    directions = {}
    for name, pairs in DIRECTIONS.items():
        checks = []
        for better, worse in pairs:
            if better not in rows or worse not in rows:
                continue
            for key in ("WA", "UA"):
                diff = rows[better][key]["mean"] - rows[worse][key]["mean"]
                spread = max(
                    rows[better][key]["range"], rows[worse][key]["range"]
                )
                checks.append(
                    {
                        "better": better,
                        "worse": worse,
                        "metric": key,
                        "difference": round(diff, 2),
                        "spread": spread,
                        "holds": diff > spread,
                        "reversed": -diff > spread,
                    }
                )
        directions[name] = checks
    return {"rows": rows, "directions": directions}


def markdown(summary, seeds):
    """The rows and the direction checks as markdown tables."""
    lines = [
        f"Seeds {', '.join(map(str, seeds))}; WA and UA in %, mean "
        "(range over seeds).",
        "",
        "| row | WA | UA |",
        "|---|---:|---:|",
    ]
    for row, stats in summary["rows"].items():
        cells = [
            f"{stats[k]['mean']:.1f} ({stats[k]['range']:.1f})"
            for k in ("WA", "UA")
        ]
        lines.append(f"| {row} | {' | '.join(cells)} |")
    lines += [
        "",
        "| direction | paper: above | paper: below | metric | difference "
        "| spread | verdict |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for name, checks in summary["directions"].items():
        for c in checks:
            verdict = (
                "holds"
                if c["holds"]
                else "reversed"
                if c["reversed"]
                else "within the spread"
            )
            lines.append(
                f"| ({name}) | {c['better']} | {c['worse']} | {c['metric']} "
                f"| {c['difference']:+.1f} | {c['spread']:.1f} | {verdict} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="folder for the runs")
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[1986, 1987, 1988]
    )
    parser.add_argument(
        "--rows", nargs="+", default=DEFAULT_ROWS, choices=list(ROWS)
    )
    parser.add_argument("--synthemo_folder", default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="extra --key=value")
    args = parser.parse_args(argv)
    args.work = os.path.abspath(args.work)
    os.makedirs(args.work, exist_ok=True)
    jobs = [(row, seed) for row in args.rows for seed in args.seeds]
    results = {row: {} for row in args.rows}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            pool.submit(run_row, row, seed, args): (row, seed)
            for row, seed in jobs
        }
        for future in concurrent.futures.as_completed(futures):
            row, seed = futures[future]
            results[row][seed] = future.result()
    summary = summarize(results, args.seeds)
    summary["runs"] = {
        row: {str(s): r for s, r in per_seed.items()}
        for row, per_seed in results.items()
    }
    with open(os.path.join(args.work, "directions.json"), "w") as fout:
        json.dump(summary, fout, indent=2)
    with open(os.path.join(args.work, "directions.md"), "w") as fout:
        fout.write(markdown(summary, args.seeds))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
