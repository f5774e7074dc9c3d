r"""``python -m speechbrain_ext.upstream``: export into a SpeechBrain checkout.

::

    python -m speechbrain_ext.upstream --speechbrain_folder ../speechbrain
    python -m speechbrain_ext.upstream --speechbrain_folder ../speechbrain \
        --dry_run

Prints the files written, the csv rows appended, what stays out and why,
and what a reviewer should know; exits with status 1 and the list of
conflicting files when the export would change a file of upstream's.

Authors
 * SpeechBrain joint ASR/SER recipe contributors
"""

import argparse
import sys

from speechbrain_ext.upstream.export import (
    ExportError,
    plan_export,
    write_export,
)


def main(argv=None):
    """Exports the collection into the checkout given on the command line.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when the export was refused (nothing written).

    Example
    -------
    >>> import tempfile
    >>> main(["--speechbrain_folder", tempfile.mkdtemp()])
    1
    """
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_ext.upstream",
        description="Write the collection into a SpeechBrain checkout as "
        "one pull request would.",
    )
    parser.add_argument(
        "--speechbrain_folder",
        required=True,
        help="a SpeechBrain checkout (speechbrain/, recipes/, tests/recipes/)",
    )
    parser.add_argument(
        "--dry_run",
        action="store_true",
        help="print what would be written, write nothing",
    )
    parser.add_argument(
        "--no_format",
        action="store_true",
        help="do not run ruff (import sorting, formatting) on the Python files",
    )
    args = parser.parse_args(argv)
    try:
        plan = plan_export(
            args.speechbrain_folder, format_code=not args.no_format
        )
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(plan.summary())
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    written = write_export(plan, args.speechbrain_folder)
    print(f"written into {args.speechbrain_folder}: {len(written)} paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
