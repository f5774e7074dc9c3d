"""The export into a SpeechBrain checkout (python -m speechbrain_ext.upstream).

CI cannot fetch SpeechBrain, so the checkout is built here from the
installed ``speechbrain`` package, SpeechBrain's tools vendored in
``tests/speechbrain_upstream/`` (at the paths they have upstream) and
upstream's samples in ``tests/samples/``. The fast tests check what the
export writes and what it refuses; ``test_checks_pass_in_the_export``
(slow) runs SpeechBrain's checks there: the consistency tests, check_yaml
for every exported row, check_docstrings, the doctests of the exported
``nnet`` modules and the recipe test of one row.
"""

import ast
import csv
import glob
import hashlib
import os
import re
import shutil

import pytest
import speechbrain

from speechbrain_ext.upstream import __main__ as cli
from speechbrain_ext.upstream.checks import (
    checkout_python,
    report,
    run_checks,
)
from speechbrain_ext.upstream.export import (
    ExportError,
    plan_export,
    write_export,
)

ROOT = os.path.abspath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
)
VENDORED = os.path.join(ROOT, "tests", "speechbrain_upstream")
HEADER = (
    "Task,Dataset,Script_file,Hparam_file,Data_prep_file,Readme_file,"
    "Result_url,HF_repo,test_debug_flags,test_debug_checks,performance"
)
UPSTREAM_ROW = (
    "Emotion_recognition,IEMOCAP,recipes/IEMOCAP/emotion_recognition/train.py,"
    "recipes/IEMOCAP/emotion_recognition/hparams/train.yaml,,"
    "recipes/IEMOCAP/README.md,,,--number_of_epochs=2,,Test-Accuracy=77.0%"
)


def build_checkout(folder):
    """A SpeechBrain checkout from the installed package and vendored tools.

    ``tests/recipes/IEMOCAP.csv`` holds upstream's header and one row of
    its own (without a final newline), as a table the export appends to.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(
        os.path.dirname(speechbrain.__file__),
        os.path.join(folder, "speechbrain"),
        ignore=ignore,
    )
    shutil.copytree(
        os.path.join(ROOT, "tests", "samples"),
        os.path.join(folder, "tests", "samples"),
    )
    for name, path in [
        ("check_yaml.py", "tests/utils/check_yaml.py"),
        ("check_docstrings.py", "tests/utils/check_docstrings.py"),
        ("recipe_tests.py", "tests/utils/recipe_tests.py"),
        ("test_recipe.py", "tests/consistency/test_recipe.py"),
    ]:
        os.makedirs(os.path.dirname(os.path.join(folder, path)), exist_ok=True)
        shutil.copy(os.path.join(VENDORED, name), os.path.join(folder, path))
    open(os.path.join(folder, "tests", "__init__.py"), "w").close()
    # upstream's own IEMOCAP recipe (the files its row names, and its
    # preparation script at recipes/IEMOCAP/) and its row
    recipe = os.path.join(folder, "recipes/IEMOCAP/emotion_recognition")
    os.makedirs(os.path.join(recipe, "hparams"))
    for name, text in [
        ("train.py", '"""Upstream recipe."""\n'),
        ("hparams/train.yaml", "number_of_epochs: 2\n"),
        ("../iemocap_prepare.py", '"""Upstream IEMOCAP preparation."""\n'),
    ]:
        with open(os.path.join(recipe, name), "w") as f:
            f.write(text)
    with open(os.path.join(folder, "recipes/IEMOCAP/README.md"), "w") as f:
        f.write("# IEMOCAP\n")
    os.makedirs(os.path.join(folder, "tests", "recipes"))
    with open(os.path.join(folder, "tests/recipes/IEMOCAP.csv"), "w") as f:
        f.write(HEADER + "\n" + UPSTREAM_ROW)
    return folder


def checksums(folder, paths=None):
    """sha256 of every file under ``folder`` (or of ``paths``)."""
    if paths is None:
        paths = [
            os.path.relpath(os.path.join(d, n), folder)
            for d, _, names in os.walk(folder)
            for n in names
        ]
    sums = {}
    for path in paths:
        with open(os.path.join(folder, path), "rb") as f:
            sums[path] = hashlib.sha256(f.read()).hexdigest()
    return sums


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A checkout with the export written, its files before, and the plan."""
    folder = build_checkout(str(tmp_path_factory.mktemp("sb") / "checkout"))
    before = checksums(folder)
    plan = plan_export(folder, format_code=False)
    write_export(plan, folder)
    return folder, before, plan


def _rows(folder, table):
    with open(os.path.join(folder, table), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_upstream_files_unchanged(exported):
    folder, before, plan = exported
    table = "tests/recipes/IEMOCAP.csv"
    after = checksums(folder, [p for p in before if p != table])
    assert after == {p: s for p, s in before.items() if p != table}
    # the table keeps upstream's row first, then gets the collection's
    rows = _rows(folder, table)
    assert ",".join(rows[0].values()) == UPSTREAM_ROW
    assert all(r["Script_file"].startswith("recipes/IEMOCAP/") for r in rows)
    assert len(rows) == 1 + len(plan.exported_rows[table])


def test_modules_mirror_their_paths(exported):
    folder, _, plan = exported
    assert plan.exported["speechbrain/nnet/fusion.py"] == (
        "speechbrain_ext/nnet/fusion.py"
    )
    assert plan.exported["speechbrain/nnet/padded_rnn.py"] == (
        "speechbrain_ext/nnet/RNN.py"
    )
    assert plan.exported["speechbrain/inference/recipe/export.py"] == (
        "speechbrain_ext/inference/export.py"
    )
    assert plan.exported["speechbrain/hparams/condition_sets/paper7.yaml"] == (
        "hparams/condition_sets/paper7.yaml"
    )
    # upstream's own modules of the same names stay upstream's
    with open(os.path.join(folder, "speechbrain/nnet/RNN.py")) as f:
        assert "class PaddedBLSTM" not in f.read()


def test_no_collection_import_left(exported):
    folder, _, plan = exported
    for target in plan.exported:
        if not target.endswith(".py"):
            continue
        with open(os.path.join(folder, target), encoding="utf-8") as f:
            text = f.read()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("speechbrain_ext"), (
                    f"{target}: from {node.module} import"
                )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("speechbrain_ext"), target
        assert not re.search(r">>> (from|import) speechbrain_ext", text), target


def test_yaml_tags_renamed(exported):
    folder, _, plan = exported
    yamls = [t for t in plan.exported if t.endswith(".yaml")]
    assert yamls
    for target in yamls:
        with open(os.path.join(folder, target), encoding="utf-8") as f:
            text = f.read()
        assert not re.search(r"!(new|name|apply):speechbrain_ext", text), target
    path = "recipes/EmoDB/emotion_recognition/LSTM/hparams/lstm.yaml"
    with open(os.path.join(folder, path), encoding="utf-8") as f:
        assert "!new:speechbrain.utils.resumable_checkpoints." in f.read()


def test_synthetic_tooling_and_demos_stay_out(exported):
    folder, _, plan = exported
    assert not os.path.exists(os.path.join(folder, "speechbrain/synthetic"))
    assert not os.path.exists(os.path.join(folder, "speechbrain/benchmark"))
    demo = "recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT/hparams/joint_demo.yaml"
    assert demo in plan.left_out
    assert not os.path.exists(os.path.join(folder, demo))
    assert all(
        "_demo.yaml" not in r["Hparam_file"]
        for table in ("IEMOCAP.csv", "EmoDB.csv", "LibriSpeech.csv")
        for r in _rows(folder, f"tests/recipes/{table}")
    )
    readme = "recipes/IEMOCAP/ASR_SER/wav2vec2_CTC_BERT/README.md"
    with open(os.path.join(folder, readme), encoding="utf-8") as f:
        assert "`hparams/joint_demo.yaml`" in f.read().split("\n\n")[1]


def test_readme_links_resolve(exported):
    folder, _, plan = exported
    readmes = [t for t in plan.exported if t.endswith("README.md")]
    assert len(readmes) == len(glob.glob(f"{ROOT}/recipes/*/*/*/README.md"))
    for readme in readmes:
        with open(os.path.join(folder, readme), encoding="utf-8") as f:
            links = re.findall(r"\]\(([^)\s]+)\)", f.read())
        for link in links:
            if re.match(r"^[a-z]+:|^#", link):
                continue
            path = os.path.join(folder, os.path.dirname(readme), link)
            assert os.path.exists(path.split("#")[0]), f"{readme}: {link}"


def test_paths_named_in_the_export_exist(exported):
    """Every speechbrain/... path that an exported text names is there."""
    folder, _, plan = exported
    named = re.compile(r"(?<![\w/.-])speechbrain/[\w/]*\w(?:\.\w+)?")
    for target in plan.exported:
        if not target.endswith((".md", ".yaml", ".py")):
            continue
        with open(os.path.join(folder, target), encoding="utf-8") as f:
            for path in named.findall(f.read()):
                assert os.path.exists(os.path.join(folder, path)), (
                    f"{target}: {path}"
                )


def test_setup_scripts_and_requirements(exported):
    folder, _, plan = exported
    setup = [t for t in plan.exported if t.startswith("tests/recipes/setup/")]
    assert setup
    for script in setup:
        path = os.path.join(folder, script)
        assert os.access(path, os.X_OK), script
        with open(path, encoding="utf-8") as f:
            modules = re.findall(r"python -m ([\w.]+)", f.read())
        for module in modules:
            assert os.path.exists(
                os.path.join(folder, module.replace(".", "/") + ".py")
            ), f"{script}: {module}"
    for recipe in {
        os.path.dirname(r) for r in plan.exported if "train.py" in r
    }:
        path = os.path.join(folder, recipe, "extra_requirements.txt")
        with open(path, encoding="utf-8") as f:
            lines = f.read().split()
        names = {re.split(r"[<>=]", line)[0] for line in lines}
        assert {"jiwer", "scikit-learn"} <= names, recipe
        assert not names & {"torch", "torchaudio", "speechbrain"}, recipe


def test_symlinked_preparation_stays_a_link(exported):
    folder, _, plan = exported
    links = glob.glob(
        os.path.join(ROOT, "recipes", "**", "*_prepare.py"), recursive=True
    )
    links = [p for p in links if os.path.islink(p)]
    assert links  # the IEMOCAP recipes link one shared iemocap_prepare.py
    for source in links:
        target = os.path.join(folder, os.path.relpath(source, ROOT))
        assert os.path.islink(target), target
        assert os.readlink(target) == os.readlink(source)
        shared = os.path.relpath(os.path.realpath(source), ROOT)
        assert os.path.realpath(target) == os.path.realpath(
            os.path.join(folder, shared)
        )
        assert os.path.isfile(target)  # the link resolves in the checkout
    assert set(plan.links) == {
        os.path.relpath(p, ROOT).replace(os.sep, "/") for p in links
    }


def test_second_export_writes_nothing(exported):
    folder, _, _ = exported
    before = checksums(folder)
    plan = plan_export(folder, format_code=False)
    assert plan.files == {} and plan.links == {} and plan.rows == {}
    assert write_export(plan, folder) == []
    assert checksums(folder) == before


def _small_checkout(tmp_path):
    folder = tmp_path / "checkout"
    for sub in ("speechbrain/nnet", "recipes", "tests/recipes"):
        (folder / sub).mkdir(parents=True)
    (folder / "speechbrain" / "__init__.py").write_text("")
    return folder


def test_refuses_a_differing_file(tmp_path):
    folder = _small_checkout(tmp_path)
    (folder / "speechbrain" / "nnet" / "fusion.py").write_text("x = 1\n")
    before = checksums(str(folder))
    with pytest.raises(ExportError) as error:
        plan_export(str(folder), format_code=False)
    assert "speechbrain/nnet/fusion.py: exists in the SpeechBrain checkout" in (
        str(error.value)
    )
    assert "speechbrain_ext/nnet/fusion.py" in str(error.value)
    assert checksums(str(folder)) == before


def test_refuses_a_name_that_differs_only_in_case(tmp_path):
    folder = _small_checkout(tmp_path)
    (folder / "speechbrain" / "nnet" / "Fusion.py").write_text("x = 1\n")
    with pytest.raises(ExportError, match="speechbrain/nnet/fusion.py: up"):
        plan_export(str(folder), format_code=False)


def test_refuses_a_package_over_a_module(tmp_path):
    folder = _small_checkout(tmp_path)
    (folder / "speechbrain" / "hparams.py").write_text('"""Doc."""\n')
    with pytest.raises(ExportError) as error:
        plan_export(str(folder), format_code=False)
    assert "shadow upstream's module speechbrain/hparams.py" in str(error.value)


def test_refuses_a_table_with_another_header(tmp_path):
    folder = _small_checkout(tmp_path)
    table = folder / "tests" / "recipes" / "EmoDB.csv"
    table.write_text("Task,Dataset\n")
    with pytest.raises(ExportError, match="EmoDB.csv: its header differs"):
        plan_export(str(folder), format_code=False)
    assert table.read_text() == "Task,Dataset\n"


def test_cli_names_a_folder_that_is_no_checkout(tmp_path, capsys):
    assert cli.main(["--speechbrain_folder", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: not a SpeechBrain checkout" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_checks_pass_in_the_export(exported, tmp_path):
    """SpeechBrain's checks, run in the exported tree as its CI runs them."""
    folder, _, plan = exported
    python = checkout_python(folder, str(tmp_path / "venv"))
    # the recipe test of the first Emo-DB row (the LSTM recipe, the
    # quickest): test_speechbrain_checks.py runs every row in the
    # collection's own tree; this one shows the exported code runs as
    # upstream runs it
    rows = [plan.exported_rows["tests/recipes/EmoDB.csv"][0]]
    nnet = [
        t
        for t in plan.exported
        if t.startswith("speechbrain/nnet/") and t.endswith(".py")
    ]
    results = run_checks(
        folder,
        plan,
        python,
        rows=rows,
        doctest_files=nnet,
        timeout=300,
    )
    print(report(results))
    failed = [r for r in results if not r.passed]
    for result in failed:
        print(f"===== {result.name} =====\n{result.output}")
    assert not failed, report(results)
    names = [r.name for r in results]
    assert names == [
        "consistency",
        "check_yaml",
        "check_docstrings",
        "doctests",
        "recipe_tests",
    ]
    assert results[-1].summary == "1 of 1 rows passed"
