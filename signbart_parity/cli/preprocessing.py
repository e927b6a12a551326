"""``signbart-parity golden check-preprocessing``: an app's preprocessing against the vectors
``golden create`` wrote beside the golden file (format: docs/preprocessing.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from signbart_parity.checks.app_preprocessing import check_app_output, load_app_output
from signbart_parity.checks.vectors import TOLERANCE, load_vectors
from signbart_parity.cli import common

SHOWN_DIFFERENCES = 10


def add_check_preprocessing(actions) -> None:
    check = actions.add_parser(
        "check-preprocessing",
        help="compare an app's preprocessing of the raw clips with the preprocessing vectors",
    )
    check.add_argument(
        "--golden",
        type=Path,
        required=True,
        metavar="G",
        help="the golden .npz (its vectors are G's name with .vectors.json) or the vectors file",
    )
    check.add_argument(
        "--app-output",
        type=Path,
        required=True,
        metavar="OUT",
        help="the JSON the app's device test wrote for the raw clips",
    )
    common.add_output_options(check)
    check.set_defaults(handler=check_preprocessing_command)


def check_preprocessing_command(args: argparse.Namespace) -> int:
    """Exit 0: every clip matches; 1: a clip differs (the first and its step named)."""
    vectors = load_vectors(args.golden)
    app = load_app_output(args.app_output, vectors)
    differences = check_app_output(vectors, app)
    buckets = ", ".join(vectors.metadata["signatures"])
    print(
        f"preprocessing check of {args.app_output} against {vectors.path} "
        f"({len(vectors.clips)} clips, buckets {buckets}):"
    )
    if not differences:
        print(
            f"  preprocessing matches: every bucket choice and mask exact, "
            f"every value within {TOLERANCE:g}"
        )
        return 0
    first = differences[0]
    print(f"  PREPROCESSING DIFFERS in {len(differences)} of {len(vectors.clips)} clips")
    print(f"  first: {first.line()}")
    print(f"  most likely step: {first.step} ({first.reason})")
    for other in differences[1:SHOWN_DIFFERENCES]:
        print(f"  also: {other.line()} [{other.step}]")
    return 1
