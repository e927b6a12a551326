"""Environment provisioning: the isolated environments pinned runtime builds run in
(``venvs.py``) and the emulated aarch64 CPU (``arm64.py``, ``emulator.py``, ``arm64_probe.py``)."""
