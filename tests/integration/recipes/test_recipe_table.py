"""Checks every row of tests/recipes/*.csv: its files and its yaml keys.

SpeechBrain's own checks and the debug run of every row with the upstream
harness are in ``tests/consistency/test_speechbrain_checks.py``.
"""

import csv
import glob
import os
import re

import pytest

ROOT = os.path.abspath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir)
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
        if not (in_yaml or in_script):
            unused.append(key)
    assert not unused, f"{row['Hparam_file']}: unused keys {unused}"
