"""Root conftest: hypothesis profiles (dev, ci, release) for every test in this repo.

Pick one with ``--hypothesis-profile NAME`` or ``SIGNBART_PARITY_PROFILE=NAME``.
"""

from signbart_parity.profiles import load_default_profile

pytest_plugins = ["pytester"]

load_default_profile()
