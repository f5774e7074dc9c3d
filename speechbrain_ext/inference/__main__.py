"""``python -m speechbrain_ext.inference``: see :mod:`.cli`."""

from speechbrain_ext.inference.cli import main

main()
