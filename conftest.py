"""Root conftest. The hypothesis profiles (dev, ci, release) are registered by the
``signbart_parity`` plugin itself (see ``signbart_parity/profiles.py``), so the gate has
them in any repo; choose one with ``--hypothesis-profile NAME`` or
``SIGNBART_PARITY_PROFILE=NAME``."""

pytest_plugins = ["pytester"]
