"""``python -m signbart_parity.cli``: the same as the ``signbart-parity`` command."""

import sys

from signbart_parity.cli.main import main

sys.exit(main())
