"""``signbart-parity inspect``: what a .tflite file is, read from the file itself.

Its identity (the provenance stamp ``convert`` writes, or "no provenance recorded" for a
file made elsewhere), its contract, ``min_runtime_version``, operator versions, precision
and size (``runtime/read/identity.py``). Exit 0; a missing or unreadable file is exit 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from signbart_parity.cli import common
from signbart_parity.runtime.gpu import gpu_hazards
from signbart_parity.runtime.read.identity import identify


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "inspect", help="print a .tflite file's provenance, contract, operators and size"
    )
    parser.add_argument(
        "--tflite", type=Path, required=True, metavar="TFLITE", help="the file to inspect"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of text"
    )
    common.add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    identity = identify(args.tflite)
    hazards = gpu_hazards(identity.path)
    if args.json:
        print(json.dumps(identity.to_dict() | {"gpu_hazards": hazards}, indent=2))
    else:
        print("\n".join(identity.lines()))
        print(f"GPU hazards: {len(hazards) or 'none found'}")
        for hazard in hazards:
            print(f"  {hazard}")
    return 0
