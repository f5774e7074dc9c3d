"""Test-session settings: models are loaded from local folders only."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser):
    """Adds ``--run-long``, which runs the tests marked ``long``."""
    parser.addoption(
        "--run-long",
        action="store_true",
        help="run the multi-seed experiments marked 'long' (hours on a CPU)",
    )


def pytest_collection_modifyitems(config, items):
    """Skips the tests marked ``long`` unless ``--run-long`` is given."""
    import pytest

    if config.getoption("--run-long"):
        return
    skip = pytest.mark.skip(reason="multi-seed experiment: needs --run-long")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
