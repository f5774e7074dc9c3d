"""``fused_adam: True`` trains like the plain Adam of the full-size yamls."""

import os
import re

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

HPARAMS = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "recipes",
    "IEMOCAP",
    "ASR_SER",
    "wav2vec2_CTC_BERT",
    "hparams",
)
YAMLS = ["joint.yaml", "asr_baseline.yaml", "ser_baseline.yaml"]


def _adam_groups(yaml_name, fused):
    """The yaml's Adam optimizers, read from its param_groups section."""
    with open(os.path.join(HPARAMS, yaml_name)) as f:
        text = f.read()
    lrs = dict(re.findall(r"^(lr_\w+): ([\d.e-]+)$", text, re.M))
    section = text[text.index("\nparam_groups:") :]
    section = section[: section.index("\n\n")]
    snippet = "fused_adam: {}\n{}\n{}".format(
        fused, "\n".join(f"{k}: {v}" for k, v in lrs.items()), section
    )
    # the modules are the test's own; only the optimizers are built
    snippet = re.sub(r"modules: !ref <\w+>", "modules: null", snippet)
    snippet = re.sub(r"annealing: !new:[\s\S]*?(?=\n  \w|\Z)", "", snippet)
    groups = load_hyperpyyaml(snippet)["param_groups"]
    return [
        g["optimizer"]
        for g in groups.values()
        if g["optimizer"].func is torch.optim.Adam
    ]


def _losses(make_optimizer, steps=30):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)
    )
    opt = make_optimizer(net.parameters())
    data = torch.randn(64, 16)
    target = torch.randint(0, 4, (64,))
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(data), target)
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


@pytest.mark.parametrize("yaml_name", YAMLS)
def test_fused_adam_is_wired_and_gives_the_plain_losses(yaml_name):
    plain = _adam_groups(yaml_name, False)
    fused = _adam_groups(yaml_name, True)
    assert plain and len(plain) == len(fused)
    for p, f in zip(plain, fused):
        assert p.keywords["fused"] is False and f.keywords["fused"] is True
        a, b = _losses(p), _losses(f)
        assert a[-1] < a[0]  # it trains
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5
