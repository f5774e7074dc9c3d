r"""Export of the collection into a SpeechBrain checkout, as one pull request.

::

    python -m speechbrain_ext.upstream --speechbrain_folder ../speechbrain

writes the modules under ``speechbrain/`` (``speechbrain_ext`` renamed
``speechbrain`` in every import, yaml tag and text, with the renames of
:data:`~speechbrain_ext.upstream.export.MODULE_MAP` where upstream already
has a module of the same name), the recipes under ``recipes/`` (with an
``extra_requirements.txt`` per recipe), their rows appended to
``tests/recipes/<Dataset>.csv`` and their setup scripts, and refuses to
change any file of upstream's own. What stays out, and why, is in
:data:`~speechbrain_ext.upstream.export.LEFT_OUT`.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

from speechbrain_ext.upstream.export import (
    LEFT_OUT,
    MODULE_MAP,
    ExportError,
    ExportPlan,
    plan_export,
    write_export,
)

__all__ = [
    "LEFT_OUT",
    "MODULE_MAP",
    "ExportError",
    "ExportPlan",
    "plan_export",
    "write_export",
]
