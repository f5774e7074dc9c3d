"""``python -m speechbrain_ext.benchmark``: see :mod:`.cli`."""

from speechbrain_ext.benchmark.cli import main

main()
