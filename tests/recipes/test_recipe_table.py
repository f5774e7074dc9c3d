"""Runs every row of tests/recipes/*.csv the way SpeechBrain's recipe tests do.

Each row names a script, a yaml file and debug flags that make the recipe run
on tiny data. The flags point to ``tests/samples/...``; these samples are
generated once per session in a temporary folder (a small SynthEmo corpus,
its prepared manifests and noise pools, tiny wav2vec2 and BERT folders), and
the prefix is rewritten to that folder.
"""

import csv
import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
LIBRARY_SOURCE = "\n".join(
    open(p, encoding="utf-8").read()
    for p in glob.glob(
        os.path.join(ROOT, "speechbrain_ext", "**", "*.py"), recursive=True
    )
)
ROWS = []
for table in sorted(glob.glob(os.path.join(ROOT, "tests", "recipes", "*.csv"))):
    with open(table, encoding="utf-8") as f:
        ROWS += list(csv.DictReader(f))


def _yaml_top_keys(path):
    with open(path, encoding="utf-8") as f:
        return [
            m.group(1)
            for m in (re.match(r"^([A-Za-z_][\w]*):", line) for line in f)
            if m
        ]


@pytest.mark.parametrize(
    "row", ROWS, ids=lambda r: os.path.basename(r["Hparam_file"])
)
def test_row_files_exist(row):
    for key in ("Script_file", "Hparam_file", "Data_prep_file", "Readme_file"):
        assert os.path.isfile(os.path.join(ROOT, row[key])), row[key]
    assert row["test_debug_flags"].strip(), "test_debug_flags must not be empty"


@pytest.mark.parametrize(
    "row", ROWS, ids=lambda r: os.path.basename(r["Hparam_file"])
)
def test_every_yaml_key_is_used(row):
    """Upstream rule: each top-level key is referenced by the yaml or script."""
    yaml_path = os.path.join(ROOT, row["Hparam_file"])
    with open(yaml_path, encoding="utf-8") as f:
        yaml_text = f.read()
    with open(os.path.join(ROOT, row["Script_file"]), encoding="utf-8") as f:
        script = f.read()
    from speechbrain.core import RunOptions

    run_options = set(RunOptions().as_dict())  # read by Brain from hparams
    unused = []
    for key in _yaml_top_keys(yaml_path):
        if key.startswith("__") or key in run_options:
            continue
        in_yaml = f"<{key}>" in yaml_text or re.search(
            rf"<{key}[\[.]", yaml_text
        )
        in_script = re.search(
            rf"""(\["{key}"\]|\.{key}\b|"{key}"|'{key}')""", script
        )
        # the shared forward pass reads hparams attributes too
        in_library = re.search(rf"hparams\.{key}\b", LIBRARY_SOURCE)
        prefixed = re.match(r"(model|pretrained)_opt_class$|lr_annealing_", key)
        if not (in_yaml or in_script or in_library or prefixed):
            unused.append(key)
    assert not unused, f"{row['Hparam_file']}: unused keys {unused}"


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    """The tiny data and models that the debug flags point to."""
    from speechbrain_ext.dataio.iemocap_prepare import prepare_iemocap
    from speechbrain_ext.dataio.musan_prepare import prepare_musan
    from speechbrain_ext.synthetic.synthemo import ensure_synthemo
    from speechbrain_ext.synthetic.offline_models import build_bert, build_wav2vec2

    root = tmp_path_factory.mktemp("samples")
    synth = os.path.join(root, "synthemo")
    ensure_synthemo(synth, n_utterances=120, seed=1234, n_noise_files=30)
    prepare_iemocap(
        os.path.join(synth, "IEMOCAP_full_release"),
        os.path.join(root, "annotation"),
        check_counts=False,
    )
    prepare_musan(
        os.path.join(synth, "musan"), os.path.join(root, "noise_pools")
    )
    build_wav2vec2(os.path.join(root, "models", "wav2vec2_tiny"), preset="tiny")
    build_bert(os.path.join(root, "models", "bert_tiny"), preset="tiny")
    return str(root)


@pytest.mark.slow
@pytest.mark.parametrize(
    "row", ROWS, ids=lambda r: os.path.basename(r["Hparam_file"])
)
def test_recipe_debug_run(row, samples, tmp_path):
    flags = row["test_debug_flags"].replace("tests/samples", samples).split()
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        os.path.join(ROOT, row["Script_file"]),
        os.path.join(ROOT, row["Hparam_file"]),
        f"--output_folder={out}",
        *flags,
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checks = row["test_debug_checks"]
    files = re.search(r"file_exists=\[(.*?)\]", checks)
    for name in files.group(1).split(":") if files else []:
        assert (out / name).is_file(), (
            f"{name} missing after {row['Hparam_file']}"
        )
