import hashlib
import json
import os

import jiwer
import pytest
import torch

from speechbrain_ext.augment.conditions import NoiseCondition
from speechbrain_ext.utils.evaluation import evaluate_conditions
from speechbrain_ext.utils.metrics import (
    WORD_COUNT_BINS,
    compute_metrics,
    normalize_text,
    wer_breakdown,
)
from speechbrain_ext.utils.report import (
    condition_set_folder,
    markdown_table,
    plot_conditions,
    plot_confusion,
    read_predictions_csv,
    wer_breakdown_markdown,
    write_condition_report,
    write_predictions_csv,
    write_run_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LABELS = ["neu", "hap", "ang", "sad"]

# (ref, hyp, true emotion, predicted emotion); the word edits after
# normalisation are given per line, characters count spaces.
RECORDS = [
    ("I am fine.", "i am fine", "neu", "neu"),  # 3 words, 0 | 9 chars, 0
    ("Don't go!", "dont go", "neu", "neu"),  # 2 words, 1 sub | 8, 1
    ("", "", "neu", "hap"),  # 0 words, 0 | 0, 0
    ("that's great news", "That's great", "hap", "hap"),  # 3, 1 | 17, 5
    ("yes", "yes yes", "hap", "neu"),  # 1, 1 ins | 3, 4
    ("Stop it, now", "stop it now", "ang", "ang"),  # 3, 0 | 11, 0
    ("", "what", "ang", "ang"),  # 0, 1 ins | 0, 4
    ("okay", "", "sad", "neu"),  # 1, 1 del | 4, 4
]


def make_records(with_text=True, with_emotion=True):
    records = []
    for i, (ref, hyp, emo, pred) in enumerate(RECORDS):
        record = {"id": f"utt{i}"}
        if with_text:
            record.update(ref=ref, hyp=hyp)
        if with_emotion:
            record.update(emo=emo, pred=pred)
        records.append(record)
    return records


def assert_png(path):
    assert os.path.isfile(path)
    with open(path, "rb") as fin:
        data = fin.read()
    assert len(data) > 1000
    assert data[:8] == PNG_MAGIC


def test_normalize_text():
    assert normalize_text("  Hello,   World! ") == "HELLO WORLD"
    assert normalize_text("I don’t know...") == "I DON'T KNOW"
    assert normalize_text("well-known (sort of)") == "WELL KNOWN SORT OF"
    assert normalize_text("") == ""
    assert normalize_text("?!") == ""


def test_compute_metrics_hand_computed():
    m = compute_metrics(make_records(), LABELS)
    assert m["n"] == 8
    assert m["labels"] == LABELS
    # rows true, columns predicted, in LABELS order
    assert m["confusion"] == [
        [2, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 2, 0],
        [1, 0, 0, 0],
    ]
    assert m["WA"] == pytest.approx(100 * 5 / 8)
    # recalls: neu 2/3, hap 1/2, ang 2/2, sad 0/1
    assert m["UA"] == pytest.approx(100 * (2 / 3 + 1 / 2 + 1 + 0) / 4)
    # F1 = 2TP / (support + predicted): neu 4/7, hap 2/4, ang 4/4, sad 0
    assert m["macro_F1"] == pytest.approx(100 * (4 / 7 + 0.5 + 1 + 0) / 4)
    # corpus WER: 5 edits over 13 reference words (not a mean of rates)
    assert m["WER"] == pytest.approx(100 * 5 / 13)
    # corpus CER: 18 edits over 52 reference characters
    assert m["CER"] == pytest.approx(100 * 18 / 52)
    assert m["WER_by_emotion"] == pytest.approx(
        {
            "neu": 100 * 1 / 5,
            "hap": 100 * 2 / 4,
            "ang": 100 * 1 / 3,
            "sad": 100.0,
        }
    )


def test_compute_metrics_default_labels_and_unused_label():
    m = compute_metrics(make_records(with_text=False))
    assert m["labels"] == ["ang", "hap", "neu", "sad"]
    # A label that is neither true nor predicted is left out of UA and F1.
    with_extra = compute_metrics(
        make_records(with_text=False), LABELS + ["fea"]
    )
    assert with_extra["UA"] == pytest.approx(m["UA"])
    assert with_extra["macro_F1"] == pytest.approx(m["macro_F1"])
    assert with_extra["confusion"][4] == [0, 0, 0, 0, 0]


def test_compute_metrics_ser_only_and_asr_only():
    ser = compute_metrics(make_records(with_text=False), LABELS)
    assert "WER" not in ser and "CER" not in ser
    assert "WER_by_emotion" not in ser
    assert ser["WA"] == pytest.approx(62.5)
    asr = compute_metrics(make_records(with_emotion=False))
    assert set(asr) == {"n", "WER", "CER"}
    assert asr["WER"] == pytest.approx(100 * 5 / 13)


def test_compute_metrics_empty_references():
    only_empty = [{"id": "a", "ref": "", "hyp": ""}]
    assert compute_metrics(only_empty)["WER"] == 0.0
    inserted = [{"id": "a", "ref": "...", "hyp": "uh"}]
    assert compute_metrics(inserted)["WER"] == 100.0
    perfect = [
        {"id": "a", "ref": "Hi!", "hyp": "hi"},
        {"id": "b", "ref": "", "hyp": ""},
    ]
    assert compute_metrics(perfect)["WER"] == 0.0


def test_compute_metrics_errors():
    with pytest.raises(ValueError, match="not in labels"):
        compute_metrics(make_records(), ["neu", "hap", "ang"])
    records = make_records()
    del records[3]["hyp"]
    with pytest.raises(ValueError, match="utt3"):
        compute_metrics(records, LABELS)
    with pytest.raises(ValueError, match="at least one"):
        compute_metrics([], LABELS)
    with pytest.raises(ValueError, match="nothing to score"):
        compute_metrics([{"id": "a"}])


def test_markdown_table():
    results = {
        "clean": {
            "WER": 12.346,
            "CER": 5.0,
            "WA": 70.0,
            "UA": 66.666,
            "macro_F1": 65.4321,
        },
        "noise_5dB": {"WER": 40.0, "WA": 55.557, "UA": 50.0},
    }
    table = markdown_table(results)
    assert table.splitlines() == [
        "| Condition | WER | CER | WA | UA | macro-F1 |",
        "|---|---:|---:|---:|---:|---:|",
        "| clean | 12.35 | 5.00 | 70.00 | 66.67 | 65.43 |",
        "| noise_5dB | 40.00 | - | 55.56 | 50.00 | - |",
    ]
    ser_only = markdown_table({"clean": {"WA": 1.0, "UA": 2.0}})
    assert ser_only.splitlines()[0] == "| Condition | WA | UA |"
    chosen = markdown_table(results, columns=["UA", "WER"])
    assert chosen.splitlines()[2] == "| clean | 66.67 | 12.35 |"


def test_predictions_csv_roundtrip(tmp_path):
    records = make_records()
    records[0]["ref"] = 'comma, and "quotes"'
    for i, record in enumerate(records):
        record["probs"] = torch.tensor([0.5, 0.25, 0.125, 0.125])
    path = str(tmp_path / "sub" / "predictions.csv")
    write_predictions_csv(records, path, labels=LABELS)
    with open(path) as fin:
        header = fin.readline().strip()
    assert header == ("id,ref,hyp,emo,pred,prob_neu,prob_hap,prob_ang,prob_sad")
    back = read_predictions_csv(path)
    assert len(back) == len(records)
    for original, read in zip(records, back):
        for key in ("id", "ref", "hyp", "emo", "pred"):
            assert read[key] == original[key]
        assert read["probs"] == {
            "neu": 0.5,
            "hap": 0.25,
            "ang": 0.125,
            "sad": 0.125,
        }
    # The records read back give the same metrics.
    assert compute_metrics(back, LABELS) == compute_metrics(records, LABELS)


def test_predictions_csv_ser_only(tmp_path):
    path = str(tmp_path / "p.csv")
    write_predictions_csv(make_records(with_text=False), path)
    back = read_predictions_csv(path)
    assert set(back[0]) == {"id", "emo", "pred"}


def test_window_accuracy_pools_the_windows(tmp_path):
    """window_WA counts every window once, also read back from the csv
    (as cross-validation pools the folds)."""
    records = [
        {"id": "a", "emo": "ang", "pred": "ang", "n_windows": 3},
        {"id": "b", "emo": "hap", "pred": "ang", "n_windows": 1},
    ]
    records[0]["windows_correct"], records[1]["windows_correct"] = 2, 0
    metrics = compute_metrics(records, LABELS)
    assert metrics["WA"] == 50.0
    assert metrics["window_WA"] == 50.0  # 2 of 4 windows, not (2/3 + 0) / 2
    assert metrics["n_windows"] == 4
    path = str(tmp_path / "p.csv")
    write_predictions_csv(records, path)
    back = read_predictions_csv(path)
    assert set(back[0]) == {"id", "emo", "pred", "n_windows", "windows_correct"}
    assert compute_metrics(back, LABELS) == metrics
    # Utterance-level records have no window counts, and no window_WA
    assert "window_WA" not in compute_metrics(make_records(), LABELS)
    del records[1]["windows_correct"]
    with pytest.raises(ValueError, match="record 'b' lacks them"):
        compute_metrics(records, LABELS)


def test_plots(tmp_path):
    path = plot_confusion(
        [[2, 1], [0, 3]], ["neu", "ang"], str(tmp_path / "c.png"), "t"
    )
    assert_png(path)
    with pytest.raises(ValueError, match="shape"):
        plot_confusion([[1, 2]], ["a", "b"], str(tmp_path / "x.png"))
    results = {
        "clean": {"WER": 20.0, "CER": 9.0, "WA": 70.0, "UA": 68.0},
        "speech_5dB": {"WER": 45.0, "CER": 25.0, "WA": 52.0, "UA": 50.0},
    }
    assert_png(plot_conditions(results, str(tmp_path / "both.png")))
    ser_only = {
        name: {"WA": m["WA"], "UA": m["UA"]} for name, m in results.items()
    }
    assert_png(plot_conditions(ser_only, str(tmp_path / "ser.png")))


def test_condition_and_run_reports(tmp_path):
    out_dir = str(tmp_path / "results")
    results = {}
    for name, records in (
        ("clean", make_records()),
        ("noise_5dB", make_records()[:5]),
    ):
        results[name] = write_condition_report(out_dir, name, records, LABELS)
        folder = os.path.join(out_dir, name)
        assert sorted(os.listdir(folder)) == [
            "confusion.png",
            "metrics.json",
            "predictions.csv",
            "wer_breakdown.json",
            "wer_breakdown.md",
        ]
        assert_png(os.path.join(folder, "confusion.png"))
        with open(os.path.join(folder, "metrics.json")) as fin:
            assert json.load(fin) == results[name]
        assert len(
            read_predictions_csv(os.path.join(folder, "predictions.csv"))
        ) == len(records)
    assert results["noise_5dB"]["WA"] == pytest.approx(100 * 3 / 5)

    table = write_run_report(out_dir, results, title="Joint model")
    assert "| clean | 38.46 | 34.62 | 62.50 | 54.17 | 51.79 |" in table
    with open(os.path.join(out_dir, "results.md")) as fin:
        markdown = fin.read()
    assert markdown.startswith("# Joint model\n")
    assert table in markdown
    with open(os.path.join(out_dir, "metrics.json")) as fin:
        assert json.load(fin) == results
    assert_png(os.path.join(out_dir, "conditions.png"))


def test_condition_report_asr_only_and_bad_name(tmp_path):
    metrics = write_condition_report(
        str(tmp_path), "clean", make_records(with_emotion=False)
    )
    assert "WA" not in metrics
    assert sorted(os.listdir(tmp_path / "clean")) == [
        "metrics.json",
        "predictions.csv",
        "wer_breakdown.json",
        "wer_breakdown.md",
    ]
    # No emotion at all: only the table by length.
    markdown = (tmp_path / "clean" / "wer_breakdown.md").read_text()
    assert "## By emotion" not in markdown
    assert "## By reference length" in markdown
    write_run_report(str(tmp_path), {"clean": metrics})
    assert_png(str(tmp_path / "conditions.png"))
    with pytest.raises(ValueError, match="Invalid condition name"):
        write_condition_report(str(tmp_path), "../up", make_records())


def words(n, stem="w"):
    return " ".join(f"{stem}{i}" for i in range(n))


BREAKDOWN_LABELS = ["neu", "hap", "ang", "sad", "fea"]

# (ref, hyp, emotion): word count of the normalised reference | word edits.
BREAKDOWN_RECORDS = [
    # "!" is no word: 10 words, bin <=10 | 1 sub
    (words(10) + " !", words(9) + " x", "neu"),
    # 11 words, bin 11-20 | 2 del
    (words(11), words(9), "neu"),
    # 4 words | DON'T->DONT sub, NOW ins: 2
    ("Well, I don't - know...", "well i dont know now", "hap"),
    # 31 words, bin >30 | 1 ins
    (words(31), words(31) + " extra", "ang"),
    # 0 words, bin <=10 | 1 ins
    ("", "uh", "sad"),
    # 20 words, bin 11-20 | 4 sub
    (words(20), words(16) + " " + words(4, stem="v"), "hap"),
]


def make_breakdown_records(with_emotion=True, with_pred=False):
    records = []
    for i, (ref, hyp, emo) in enumerate(BREAKDOWN_RECORDS):
        record = {"id": f"b{i}", "ref": ref, "hyp": hyp}
        if with_emotion:
            record["emo"] = emo
        if with_pred:
            record["pred"] = "neu"
        records.append(record)
    return records


def row(n_utterances, n_words, errors, wer):
    return {
        "n_utterances": n_utterances,
        "n_words": n_words,
        "errors": errors,
        "WER": wer,
    }


def test_wer_breakdown_hand_computed():
    out = wer_breakdown(make_breakdown_records(), BREAKDOWN_LABELS)
    assert out["all"] == row(6, 76, 11, pytest.approx(100 * 11 / 76))
    # in labels order, an absent label reported empty
    assert list(out["by_emotion"]) == BREAKDOWN_LABELS
    assert out["by_emotion"] == {
        # corpus-level: 3 / 21, not the mean of 10% and 18.2%
        "neu": row(2, 21, 3, pytest.approx(100 * 3 / 21)),
        "hap": row(2, 24, 6, pytest.approx(25.0)),
        "ang": row(1, 31, 1, pytest.approx(100 / 31)),
        # only an empty reference with an insertion, as compute_metrics
        "sad": row(1, 0, 1, 100.0),
        "fea": row(0, 0, 0, None),
    }
    assert list(out["by_length"]) == ["<=10", "11-20", "21-30", ">30"]
    # each length bin split by emotion, in labels order (Table 2)
    crossed = out["by_length_and_emotion"]
    assert list(crossed) == list(out["by_length"])
    assert all(list(cells) == BREAKDOWN_LABELS for cells in crossed.values())
    assert crossed["<=10"]["neu"] == row(1, 10, 1, pytest.approx(10.0))
    assert crossed["<=10"]["hap"] == row(1, 4, 2, pytest.approx(50.0))
    assert crossed["<=10"]["sad"] == row(1, 0, 1, 100.0)
    assert crossed["11-20"]["neu"] == row(1, 11, 2, pytest.approx(200 / 11))
    assert crossed["11-20"]["hap"] == row(1, 20, 4, pytest.approx(20.0))
    assert crossed[">30"]["ang"] == row(1, 31, 1, pytest.approx(100 / 31))
    assert crossed["21-30"]["neu"] == row(0, 0, 0, None)
    by_length = out["by_length"]
    # 10 words (after normalisation) in <=10, 11 words in 11-20
    assert by_length["<=10"] == {
        "min_words": 0,
        "max_words": 10,
        **row(3, 14, 4, pytest.approx(100 * 4 / 14)),
    }
    assert by_length["11-20"] == {
        "min_words": 11,
        "max_words": 20,
        **row(2, 31, 6, pytest.approx(100 * 6 / 31)),
    }
    assert by_length["21-30"] == {
        "min_words": 21,
        "max_words": 30,
        **row(0, 0, 0, None),
    }
    assert by_length[">30"] == {
        "min_words": 31,
        "max_words": None,
        **row(1, 31, 1, pytest.approx(100 / 31)),
    }


def test_wer_breakdown_agrees_with_jiwer_and_compute_metrics():
    records = make_breakdown_records()
    out = wer_breakdown(records, BREAKDOWN_LABELS)
    hap = [r for r in records if r["emo"] == "hap"]
    expected = 100 * jiwer.wer(
        [normalize_text(r["ref"]) for r in hap],
        [normalize_text(r["hyp"]) for r in hap],
    )
    assert out["by_emotion"]["hap"]["WER"] == pytest.approx(expected)
    assert out["all"]["WER"] == pytest.approx(compute_metrics(records)["WER"])
    assert out["by_emotion"]["neu"]["WER"] == pytest.approx(
        compute_metrics(records[:2])["WER"]
    )


def test_wer_breakdown_defaults_and_missing_parts():
    records = make_breakdown_records()
    out = wer_breakdown(records)
    assert list(out["by_emotion"]) == ["ang", "hap", "neu", "sad"]
    assert out == wer_breakdown(records, labels=None, bins=WORD_COUNT_BINS)
    # ASR-only records: lengths only
    asr = wer_breakdown(make_breakdown_records(with_emotion=False))
    assert asr["by_emotion"] is None
    assert asr["by_length_and_emotion"] is None
    assert asr["by_length"] == out["by_length"]
    # SER-only records or no record: no breakdown
    assert wer_breakdown(make_records(with_text=False), LABELS) is None
    assert wer_breakdown([]) is None
    with pytest.raises(ValueError, match="not in labels"):
        wer_breakdown(records, ["neu", "hap"])
    partial = make_breakdown_records()
    del partial[2]["hyp"]
    with pytest.raises(ValueError, match="b2"):
        wer_breakdown(partial)


def test_wer_breakdown_custom_bins():
    out = wer_breakdown(
        make_breakdown_records(), bins=[(1, 10), (11, 11), (31, 40)]
    )
    by_length = out["by_length"]
    assert list(by_length) == ["1-10", "11", "31-40"]
    # The empty reference and the 20-word one fall in no bin.
    assert [r["n_utterances"] for r in by_length.values()] == [2, 1, 1]
    assert by_length["1-10"]["WER"] == pytest.approx(100 * 3 / 14)
    for bad in ([(0, 10), (10, 20)], [(5, 2)], [(0, None), (5, 9)], []):
        with pytest.raises(ValueError):
            wer_breakdown(make_breakdown_records(), bins=bad)


def test_wer_breakdown_markdown():
    out = wer_breakdown(make_breakdown_records(), BREAKDOWN_LABELS)
    lines = wer_breakdown_markdown(out, "WER breakdown: clean").splitlines()
    assert lines[0] == "# WER breakdown: clean"
    emotion = lines.index("## By emotion")
    assert lines[emotion + 2 : emotion + 10] == [
        "| Emotion | Utterances | Ref. words | WER |",
        "|---|---:|---:|---:|",
        "| neu | 2 | 21 | 14.29 |",
        "| hap | 2 | 24 | 25.00 |",
        "| ang | 1 | 31 | 3.23 |",
        "| sad | 1 | 0 | 100.00 |",
        "| fea | 0 | 0 | - |",
        "| All | 6 | 76 | 14.47 |",
    ]
    length = lines.index("## By reference length")
    assert lines[length + 2 : length + 10] == [
        "| Words | Utterances | Ref. words | WER |",
        "|---|---:|---:|---:|",
        "| <=10 | 3 | 14 | 28.57 |",
        "| 11-20 | 2 | 31 | 19.35 |",
        "| 21-30 | 0 | 0 | - |",
        "| >30 | 1 | 31 | 3.23 |",
        "| All | 6 | 76 | 14.47 |",
        "",
    ]
    # Table 2 of Li et al. (2022): lengths as rows, emotions as columns
    crossed = lines.index("## By reference length and emotion (WER)")
    assert lines[crossed + 2 :] == [
        "| Words | neu | hap | ang | sad | fea | All |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| <=10 | 10.00 | 50.00 | - | 100.00 | - | 28.57 |",
        "| 11-20 | 18.18 | 20.00 | - | - | - | 19.35 |",
        "| 21-30 | - | - | - | - | - | - |",
        "| >30 | - | - | 3.23 | - | - | 3.23 |",
        "| All | 14.29 | 25.00 | 3.23 | 100.00 | - | 14.47 |",
    ]
    # without emotions, no crossed table
    asr = wer_breakdown(make_breakdown_records(with_emotion=False))
    assert "and emotion" not in wer_breakdown_markdown(asr)


def test_condition_report_writes_wer_breakdown(tmp_path):
    # joint run (emotion and transcripts)
    records = make_breakdown_records(with_pred=True)
    write_condition_report(str(tmp_path), "clean", records, BREAKDOWN_LABELS)
    folder = tmp_path / "clean"
    with open(folder / "wer_breakdown.json") as fin:
        written = json.load(fin)
    assert written == wer_breakdown(records, BREAKDOWN_LABELS)
    assert written["by_length"]["21-30"]["WER"] is None
    markdown = (folder / "wer_breakdown.md").read_text()
    assert markdown == wer_breakdown_markdown(written, "WER breakdown: clean")
    # ASR head without emotion head: the true emotions still group the WER
    asr = make_breakdown_records()
    write_condition_report(str(tmp_path), "asr", asr, BREAKDOWN_LABELS)
    with open(tmp_path / "asr" / "wer_breakdown.json") as fin:
        assert list(json.load(fin)["by_emotion"]) == BREAKDOWN_LABELS
    # SER-only run: no breakdown file
    write_condition_report(
        str(tmp_path), "ser", make_records(with_text=False), LABELS
    )
    assert sorted(os.listdir(tmp_path / "ser")) == [
        "confusion.png",
        "metrics.json",
        "predictions.csv",
    ]


class EchoBrain:
    """Predicts every test label right, or always the first label."""

    test_condition, test_records = None, []

    def __init__(self, right=True):
        self.right = right

    def evaluate(self, data, **kwargs):
        self.test_records = [
            {"id": uid, "emo": emo, "pred": emo if self.right else "neu"}
            for uid, emo in data
        ]


def _sha256(path):
    with open(path, "rb") as fin:
        return hashlib.sha256(fin.read()).hexdigest()


def test_condition_sets_do_not_overwrite_each_other(tmp_path):
    out = str(tmp_path / "test_results")
    data = [("u1", "neu"), ("u2", "ang"), ("u3", "sad")]
    paper7 = [NoiseCondition("clean"), NoiseCondition("noise_5dB", "noise", 5)]
    first = evaluate_conditions(
        EchoBrain(), data, paper7, out, LABELS, condition_set="paper7"
    )
    run_files = ["results.md", "metrics.json", "clean/predictions.csv"]
    sums = {name: _sha256(os.path.join(out, name)) for name in run_files}
    with open(os.path.join(out, "metrics.json")) as fin:
        assert json.load(fin) == first

    # another set (same "clean" condition name, worse model) goes aside
    sweep = [NoiseCondition("clean"), NoiseCondition("noise_0dB", "noise", 0)]
    second = evaluate_conditions(
        EchoBrain(right=False),
        data,
        sweep,
        out,
        LABELS,
        condition_set="/somewhere/snr_sweep.yaml",
    )
    assert {n: _sha256(os.path.join(out, n)) for n in run_files} == sums
    aside = os.path.join(out, "condition_sets", "snr_sweep")
    with open(os.path.join(aside, "metrics.json")) as fin:
        assert json.load(fin) == second
    assert second["clean"]["WA"] < first["clean"]["WA"]
    with open(os.path.join(aside, "results.md")) as fin:
        assert "noise_0dB" in fin.read()
    assert os.path.isfile(os.path.join(aside, "noise_0dB", "predictions.csv"))
    assert not os.path.exists(os.path.join(out, "noise_0dB"))

    # the run's own set evaluated again writes where it wrote before
    evaluate_conditions(
        EchoBrain(right=False),
        data,
        paper7,
        out,
        LABELS,
        condition_set="paper7",
    )
    with open(os.path.join(out, "metrics.json")) as fin:
        assert json.load(fin)["clean"]["WA"] == second["clean"]["WA"]
    assert not os.path.exists(os.path.join(out, "condition_sets", "paper7"))

    # other conditions under a name already used: an error, nothing written
    renamed = [NoiseCondition("clean"), NoiseCondition("x", "music", 5)]
    before = _sha256(os.path.join(aside, "metrics.json"))
    with pytest.raises(FileExistsError, match=r"snr_sweep.*--results_folder"):
        condition_set_folder(out, "snr_sweep", [vars(c) for c in renamed])
    assert _sha256(os.path.join(aside, "metrics.json")) == before


def test_results_without_a_condition_set_record_are_kept(tmp_path):
    out = tmp_path / "test_results"
    out.mkdir()
    (out / "metrics.json").write_text('{"clean": {"WA": 50.0}}\n')
    before = _sha256(out / "metrics.json")
    folder = condition_set_folder(str(out), "clean", [{"name": "clean"}])
    assert folder == str(out / "condition_sets" / "clean")
    assert _sha256(out / "metrics.json") == before
    with pytest.raises(ValueError, match="Invalid condition set name"):
        condition_set_folder(str(out), "../x", [{"name": "clean"}])
