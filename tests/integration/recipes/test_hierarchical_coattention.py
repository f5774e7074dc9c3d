"""End-to-end checks of recipes/IEMOCAP/ASR_SER/hierarchical_coattention.

* the family's short noise-trained demo run (``family_fusion.train``,
  shared with the other recipe tests through the ``trained_fusion``
  fixture): its losses go down, the noisy copies reached training, and
  the reports of both test conditions hold every test utterance with
  values in range;
* the full-size yaml (wav2vec2-base and BERT-base dimensions, random
  weights, no download) builds and does one training step on a CPU;
* zero_shot_asr.yaml transcribes with the released CTC head of a wav2vec2
  ASR model (a tiny random one saved offline) and writes the WER by
  emotion and by length (Tables 1-2).
"""

import json
import os
import re

import jiwer
import pytest
import soundfile as sf
import torch
from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

from speechbrain_ext.synthetic.espeak import EspeakSynthesizer, Prosody
from speechbrain_ext.synthetic.offline_models import (
    build_bert,
    build_wav2vec2,
    build_wav2vec2_ctc,
)
from speechbrain_ext.utils.metrics import normalize_text
from tests.integration.recipes.family_fusion import run_fusion_recipe
from tests.integration.recipes.helpers import (
    ROOT,
    check_condition_reports,
    read_log_stats,
    run_test_manifest,
)

EMOTIONS = ["neu", "hap", "sad", "ang"]


@pytest.mark.slow
def test_noise_trained_demo_learns_and_reports_both_conditions(
    trained_fusion,
):
    """Losses go down, the noisy copies reach training, and both test
    conditions report every test utterance with the metrics of their rows.

    The CTC of this short run is still on its blank plateau (empty
    hypotheses, CER 100 under both conditions), so no order of the clean
    and noisy CER is asserted: only that noise changes the emotion
    probabilities."""
    out = trained_fusion
    epochs = read_log_stats(out / "train_log.txt")
    assert len(epochs) == 3
    first, last = epochs[0], epochs[-1]
    assert last["train loss"] < first["train loss"], epochs
    assert last["train loss_ctc"] < first["train loss_ctc"], epochs
    assert last["train loss_ser"] < first["train loss_ser"], epochs
    # noise_prob 1.0: each batch and its noisy copy, twice the audio
    train = json.loads((out / "prepared" / "train.json").read_text())
    audio = sum(entry["duration"] for entry in train.values())
    for epoch in epochs:
        assert epoch["train audio_s"] == pytest.approx(2 * audio, rel=0.01)
    reports = check_condition_reports(
        out / "test_results",
        ["clean", "noise_5dB"],
        manifest=run_test_manifest(out),
        labels=EMOTIONS,
    )
    # the emotion head is above chance (a quarter) on clean speech
    clean_rows, clean = reports["clean"]
    assert clean["UA"] > 25.0, clean
    # the noise reached the model: other probabilities at 5 dB
    noisy_rows, _ = reports["noise_5dB"]
    assert any(a["probs"] != b["probs"] for a, b in zip(clean_rows, noisy_rows))


def _two_utterances(tmp_path):
    tts = EspeakSynthesizer()
    manifest = {}
    for i, (text, emo) in enumerate(
        [("i love this garden", "hap"), ("leave me alone", "ang")]
    ):
        path = tmp_path / f"utt{i}.wav"
        sf.write(path, tts.synthesize(text, "en-us+f1", Prosody()), 16000)
        manifest[f"utt{i}"] = {
            "wav": str(path),
            "duration": sf.info(path).duration,
            "wrd": text.upper(),
            "emo": emo,
        }
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(manifest))
    return ann


@pytest.mark.slow
def test_train_yaml_full_size_training_step(tmp_path):
    """wav2vec2-base and BERT-base dimensions, one step on two utterances."""
    ann = _two_utterances(tmp_path)
    w2v = build_wav2vec2(str(tmp_path / "w2v_base"), preset="base")
    bert = build_bert(str(tmp_path / "bert_base"), preset="base")
    proc = run_fusion_recipe(
        "train.yaml",
        f"--output_folder={tmp_path / 'out'}",
        f"--data_folder={tmp_path}",
        f"--train_annotation={ann}",
        f"--valid_annotation={ann}",
        f"--test_annotation={ann}",
        "--skip_prep=True",
        f"--wav2vec2_hub={w2v}",
        f"--bert_source={bert}",
        f"--musan_folder={tmp_path}",
        "--test_conditions=clean",
        "--num_workers=0",
        "--emotions=[hap,ang]",  # the two classes of the manifest
        "--debug",
        "--debug_epochs=1",
        "--debug_batches=1",
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    counts = dict(re.findall(r"(model|pretrained): ([\d.]+)M trainable", log))
    # wav2vec2-base without its frozen convolutional front-end (~90M);
    # BERT-base is a frozen feature extractor
    assert 85 < float(counts["pretrained"]) < 95, counts
    # stream encoders, fusion, CTC and output layers trained from scratch
    assert 0.2 < float(counts["model"]) < 2, counts
    losses = re.findall(r"train loss: ([\d.e+-]+)", log)
    assert losses and all(float(x) == float(x) for x in losses), log[-3000:]
    # both utterances scored (one test batch), the metrics of the rows
    check_condition_reports(
        tmp_path / "out" / "test_results",
        ["clean"],
        manifest=run_test_manifest(tmp_path / "out"),
        labels=["hap", "ang"],
    )


# Sample wavs of SpeechBrain's tests/samples, one per emotion, and one whose
# transcript holds only a tag (empty once normalised)
ZERO_SHOT_UTTERANCES = {
    "spk1_snt1": ("neu", "THE BIRCH CANOE SLID ON THE SMOOTH PLANKS"),
    "spk1_snt2": ("hap", "GLUE THE SHEET TO THE DARK BLUE BACKGROUND"),
    "spk2_snt1": ("sad", "IT'S EASY TO TELL THE DEPTH OF A WELL"),
    "spk2_snt2": ("ang", "THESE DAYS A CHICKEN LEG IS A RARE DISH"),
    "spk2_snt3": ("sad", ""),
}


def _transformers_transcript(source, wav_path):
    """transformers' own greedy transcription of one file."""
    processor = Wav2Vec2Processor.from_pretrained(source)
    model = Wav2Vec2ForCTC.from_pretrained(source).eval()
    wav, rate = sf.read(wav_path, dtype="float32")
    with torch.no_grad():
        values = processor(wav, sampling_rate=rate, return_tensors="pt")
        ids = model(values.input_values).logits.argmax(-1)
    text = processor.batch_decode(ids)[0]
    return " ".join(re.sub(r"<s>|</s>|<unk>", "", text).split())


def test_zero_shot_asr_reports_the_wer_by_emotion_and_length(tmp_path):
    samples = os.path.join(ROOT, "tests", "samples", "ASR")
    manifest = {
        uid: {
            "wav": f"{{data_root}}/{uid}.wav",
            "duration": sf.info(os.path.join(samples, f"{uid}.wav")).duration,
            "emo": emo,
            "wrd": wrd,
        }
        for uid, (emo, wrd) in ZERO_SHOT_UTTERANCES.items()
    }
    ann = tmp_path / "all.json"
    ann.write_text(json.dumps(manifest))
    source = build_wav2vec2_ctc(str(tmp_path / "w2v_ctc"), seed=5)
    out = tmp_path / "zero_shot"
    proc = run_fusion_recipe(
        "zero_shot_asr.yaml",
        f"--output_folder={out}",
        f"--data_folder={samples}",
        f"--train_annotation={ann}",
        f"--valid_annotation={ann}",
        f"--test_annotation={ann}",
        "--skip_prep=True",
        f"--wav2vec2_hub={source}",
        f"--musan_folder={tmp_path}",
        "--test_conditions=clean",
        "--encoder_dim=96",
        "--num_workers=0",
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert "No checkpointer: evaluating the modules as built" in log
    results = out / "test_results"
    # every utterance with words, none without (drop_empty_transcripts),
    # transcripts only: no emotion prediction, no SER metric
    with_words = {uid: e for uid, e in manifest.items() if e["wrd"]}
    reports = check_condition_reports(results, ["clean"], manifest=with_words)
    records, metrics = reports["clean"]
    assert sorted(metrics) == ["CER", "WER", "n"]
    for record in records:
        uid = record["id"]
        emo, wrd = ZERO_SHOT_UTTERANCES[uid]
        assert (record["ref"], record["emo"]) == (wrd, emo)
        # the released head and vocabulary, as transformers transcribes
        expected = _transformers_transcript(
            source, os.path.join(samples, f"{uid}.wav")
        )
        assert record["hyp"] == expected
        assert set(record) == {"id", "ref", "hyp", "emo"}  # no SER
    assert any(record["hyp"] for record in records)

    def wer(rows):
        refs = [normalize_text(r["ref"]) for r in rows]
        hyps = [normalize_text(r["hyp"]) for r in rows]
        return 100 * jiwer.wer(refs, hyps)

    assert metrics["WER"] == pytest.approx(wer(records))
    breakdown = json.loads(
        (results / "clean" / "wer_breakdown.json").read_text()
    )
    # one row per emotion of the yaml, each with its utterances
    assert list(breakdown["by_emotion"]) == ["neu", "hap", "sad", "ang"]
    for emo, row in breakdown["by_emotion"].items():
        rows = [r for r in records if r["emo"] == emo]
        assert row["n_utterances"] == len(rows) == 1
        assert row["WER"] == pytest.approx(wer(rows))
    assert breakdown["by_length"]["<=10"]["n_utterances"] == 4
    assert breakdown["all"]["WER"] == pytest.approx(metrics["WER"])
    markdown = (results / "clean" / "wer_breakdown.md").read_text()
    for title in ("By emotion", "By reference length", "and emotion"):
        assert title in markdown
    # nothing trained, nothing saved but the label encoder
    assert sorted(os.listdir(out / "save")) == ["emo_encoder.txt"]
