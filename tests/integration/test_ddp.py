"""Multi-process training: torchrun with 2 gloo processes on the CPU.

The paper's recipe (joint.yaml: wav2vec2 fine-tuned with LayerDrop, BERT
fine-tuned on the hypotheses) runs on SpeechBrain's sample utterances with
tiny wav2vec2 and BERT models, once in a single process with batch 4 and
once in 2 DDP processes with batch 2 each (the same effective batch, and the
same batches: the training set is sorted, so DDP's sampler deals utterances
0, 2 / 1, 3 of each single-process batch to the two processes).

Training, evaluation under conditions and export must all finish in DDP:
the evaluation used to deadlock in a checkpointer barrier, and training
used to crash on parameters that never get a gradient.

The losses cannot be bit-identical: LayerDrop and dropout draw from each
process's own random stream, and a 2-utterance half-batch is padded to its
own longest utterance, not to the longest of the 4. Per-epoch train and
validation losses must agree within 5% (measured: under 1%).
"""

import os
import re
import subprocess
import sys

import pytest

from tests.integration.recipes.helpers import (
    check_condition_reports,
    run_test_manifest,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RECIPE = os.path.join(
    ROOT, "recipes", "IEMOCAP", "ASR_SER", "wav2vec2_CTC_BERT"
)
SAMPLES = os.path.join(ROOT, "tests", "samples")
TOLERANCE = 0.05
EMOTIONS = ["anger", "sadness", "happiness", "neutrality"]


def _losses(train_log):
    """{(epoch, 'train'|'valid'): loss} of a FileTrainLogger file."""
    losses = {}
    with open(train_log, encoding="utf-8") as f:
        for line in f:
            epoch = re.match(r"epoch: (\d+)", line)
            if not epoch:
                continue
            for stage in ("train", "valid"):
                value = re.search(rf"{stage} loss: ([\d.e+-]+)", line)
                losses[(int(epoch.group(1)), stage)] = float(value.group(1))
    return losses


@pytest.mark.slow
def test_ddp_matches_single_process(tmp_path):
    from speechbrain_ext.synthetic.offline_models import (
        build_bert,
        build_wav2vec2,
    )

    wav2vec2 = build_wav2vec2(str(tmp_path / "wav2vec2"), preset="tiny")
    bert = build_bert(str(tmp_path / "bert"), preset="tiny")
    flags = [
        f"--data_folder={SAMPLES}/ASR",
        f"--train_annotation={SAMPLES}/annotation/ASR_train.json",
        f"--valid_annotation={SAMPLES}/annotation/ASR_dev.json",
        f"--test_annotation={SAMPLES}/annotation/ASR_dev.json",
        "--musan_folder=",
        "--skip_prep=True",
        "--number_of_epochs=2",
        f"--emotions=[{','.join(EMOTIONS)}]",
        "--test_conditions=clean",
        f"--wav2vec2_hub={wav2vec2}",
        f"--bert_source={bert}",
        "--encoder_dim=96",
        "--bert_dim=64",
        "--augment_prob=0",
        "--device=cpu",
    ]
    script = [
        os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "joint.yaml"),
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    runs = {
        "single": [sys.executable, *script, *flags, "--batch_size=4"],
        "ddp": [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29571",
            *script,
            *flags,
            "--batch_size=2",
            "--distributed_backend=gloo",
        ],
    }
    for name, cmd in runs.items():
        out = tmp_path / name
        proc = subprocess.run(
            cmd + [f"--output_folder={out}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]

    ddp = tmp_path / "ddp"
    for name in ("inference.yaml", "custom_interface.py"):
        assert (ddp / name).is_file(), f"DDP run did not write {name}"
    # each process evaluates the whole test set; the main one reports it
    for name in runs:
        check_condition_reports(
            tmp_path / name / "test_results",
            ["clean"],
            manifest=run_test_manifest(tmp_path / name),
            labels=EMOTIONS,
        )
    single = _losses(tmp_path / "single" / "train_log.txt")
    multi = _losses(ddp / "train_log.txt")
    assert (
        sorted(single)
        == sorted(multi)
        == [
            (1, "train"),
            (1, "valid"),
            (2, "train"),
            (2, "valid"),
        ]
    )
    for key, value in single.items():
        assert abs(multi[key] - value) <= TOLERANCE * value, (
            key,
            single,
            multi,
        )
