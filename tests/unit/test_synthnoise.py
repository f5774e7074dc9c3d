"""SynthNoise generated alone (ensure_synthnoise): once, never over MUSAN."""

import os

import pytest

from speechbrain_ext.dataio.musan_prepare import prepare_musan
from speechbrain_ext.synthetic.synthemo import (
    ensure_synthnoise,
    generate_synthnoise,
)
from tests.fixtures_corpora import make_musan
from tests.unit.test_synthemodb import tree_hashes


def test_generates_synthnoise_once(tmp_path):
    folder = tmp_path / "noise"
    summary = ensure_synthnoise(str(folder), n_per_category=2, seed=3)
    assert summary["files"] == {"noise": 2, "music": 2, "speech": 2}
    assert sorted(os.listdir(folder)) == ["musan", "synthnoise.json"]
    # the files of the generator, with the same seed
    generate_synthnoise(str(tmp_path / "alone"), n_per_category=2, seed=3)
    assert tree_hashes(folder / "musan") == tree_hashes(tmp_path / "alone")
    # disjoint pools for noise training and the test conditions
    pools = prepare_musan(str(folder / "musan"), str(tmp_path / "pools"))
    for category in ("noise", "music", "speech"):
        for pool in ("train", "test"):
            with open(pools[category][pool], encoding="utf-8") as f:
                assert len(f.read().splitlines()) == 2
    # reused as it is; other options are refused
    before = tree_hashes(folder)
    mtimes = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert ensure_synthnoise(str(folder), n_per_category=2, seed=3) == summary
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    with pytest.raises(FileExistsError, match="other options"):
        ensure_synthnoise(str(folder), n_per_category=2, seed=4)
    assert tree_hashes(folder) == before


def test_never_writes_over_a_real_musan(tmp_path):
    make_musan(tmp_path)
    before = tree_hashes(tmp_path)
    with pytest.raises(FileExistsError) as error:
        ensure_synthnoise(str(tmp_path), n_per_category=2)
    assert str(error.value).startswith(
        f"{tmp_path / 'musan'} exists and is not empty"
    )
    assert tree_hashes(tmp_path) == before
    assert os.listdir(tmp_path) == ["musan"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_per_category": 1}, "n_per_category must be at least 2, got 1"),
        ({"seed": -1}, "seed must be at least 0, got -1"),
    ],
)
def test_bad_options_are_refused_before_writing(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        ensure_synthnoise(str(tmp_path / "noise"), **options)
    assert os.listdir(tmp_path) == []
