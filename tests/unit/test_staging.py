"""generate_once: corpora are staged, moved into place when complete, and
never written over files that the generator did not write."""

import json
import os
import re
import shutil

import pytest

from speechbrain_ext.synthetic.staging import generate_once
from tests.file_checks import tree_hashes

CORPORA = ["speech", "noise"]
OPTIONS = {"n": 3, "seed": 1}


class Writer:
    """A generator that writes a small file per corpus and counts calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, staging):
        self.calls.append(staging)
        for corpus in CORPORA:
            os.makedirs(os.path.join(staging, corpus, "sub"))
            with open(os.path.join(staging, corpus, "sub", "a.txt"), "w") as f:
                f.write(corpus)
        return {"files": len(CORPORA)}


def write(path, text="user data"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_generates_into_empty_folder_then_reuses(tmp_path):
    writer = Writer()
    out = str(tmp_path / "out")
    assert generate_once(out, "gen", CORPORA, OPTIONS, writer) == {"files": 2}
    assert sorted(os.listdir(out)) == ["gen.json", "noise", "speech"]
    with open(tmp_path / "out" / "gen.json") as f:
        assert json.load(f) == {"options": OPTIONS, "summary": {"files": 2}}
    # the corpora were written in the staging folder, then moved
    assert writer.calls == [os.path.join(out, "gen.partial")]
    before = tree_hashes(out)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}
    assert generate_once(out, "gen", CORPORA, OPTIONS, writer) == {"files": 2}
    assert len(writer.calls) == 1
    assert tree_hashes(out) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    with pytest.raises(FileExistsError, match="other options"):
        generate_once(out, "gen", CORPORA, {"n": 4, "seed": 1}, writer)
    assert tree_hashes(out) == before


@pytest.mark.parametrize("foreign", ["speech", "noise"])
def test_refuses_non_empty_corpus_folder_it_did_not_write(tmp_path, foreign):
    write(str(tmp_path / foreign / "Session1" / "a.wav"))
    write(str(tmp_path / "notes.txt"))
    before = tree_hashes(tmp_path)
    writer = Writer()
    with pytest.raises(FileExistsError) as error:
        generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, writer)
    assert str(tmp_path / foreign) + " exists and is not empty" in str(
        error.value
    )
    assert writer.calls == []
    assert tree_hashes(tmp_path) == before
    assert sorted(os.listdir(tmp_path)) == sorted([foreign, "notes.txt"])


def test_refuses_staging_folder_without_its_mark(tmp_path):
    write(str(tmp_path / "gen.partial" / "speech" / "mine.txt"))
    before = tree_hashes(tmp_path)
    with pytest.raises(FileExistsError) as error:
        generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, Writer())
    assert str(tmp_path / "gen.partial") + " exists but was not written by" in (
        str(error.value)
    )
    assert tree_hashes(tmp_path) == before


def test_empty_target_folders_are_used(tmp_path):
    (tmp_path / "speech").mkdir()
    generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, Writer())
    assert (tmp_path / "speech" / "sub" / "a.txt").read_text() == "speech"


def test_interrupted_generation_is_removed_and_redone(tmp_path):
    staging = tmp_path / "gen.partial"
    write(str(staging / ".gen_partial"), "")
    write(str(staging / "speech" / "half.txt"))
    write(str(tmp_path / "user.txt"))
    writer = Writer()
    generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, writer)
    assert len(writer.calls) == 1
    assert sorted(os.listdir(tmp_path)) == [
        "gen.json",
        "noise",
        "speech",
        "user.txt",
    ]
    assert not (tmp_path / "speech" / "half.txt").exists()
    assert (tmp_path / "user.txt").read_text() == "user data"


def test_failed_generation_leaves_nothing(tmp_path):
    def fail(staging):
        os.makedirs(os.path.join(staging, "speech"))
        raise KeyboardInterrupt

    write(str(tmp_path / "user.txt"))
    with pytest.raises(KeyboardInterrupt):
        generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, fail)
    assert os.listdir(tmp_path) == ["user.txt"]
    # a folder that the call created is removed again
    with pytest.raises(KeyboardInterrupt):
        generate_once(str(tmp_path / "new"), "gen", CORPORA, OPTIONS, fail)
    assert os.listdir(tmp_path) == ["user.txt"]


def test_interrupted_moves_are_completed(tmp_path):
    """Killed after moving one corpus: the next call moves the rest."""
    writer = Writer()
    staging = tmp_path / "gen.partial"
    writer(str(staging))
    write(str(staging / ".gen_partial"), "")
    record = {"options": OPTIONS, "summary": {"files": 2}}
    write(str(staging / "gen.json"), json.dumps(record))
    os.rename(staging / "speech", tmp_path / "speech")
    assert generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, writer) == (
        {"files": 2}
    )
    assert len(writer.calls) == 1
    assert sorted(os.listdir(tmp_path)) == ["gen.json", "noise", "speech"]
    assert (tmp_path / "noise" / "sub" / "a.txt").read_text() == "noise"


def test_removed_corpus_is_generated_again_only_when_all_are_gone(tmp_path):
    writer = Writer()
    generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, writer)
    shutil.rmtree(tmp_path / "noise")
    before = tree_hashes(tmp_path)
    with pytest.raises(FileExistsError) as error:
        generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, writer)
    assert re.match(
        re.escape(str(tmp_path / "noise")) + " is missing", str(error.value)
    )
    assert tree_hashes(tmp_path) == before
    # with every corpus removed, the corpus is generated again
    shutil.rmtree(tmp_path / "speech")
    generate_once(str(tmp_path), "gen", CORPORA, OPTIONS, writer)
    assert len(writer.calls) == 2
    assert sorted(os.listdir(tmp_path)) == ["gen.json", "noise", "speech"]
