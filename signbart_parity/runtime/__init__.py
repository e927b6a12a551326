"""Running a .tflite file with real TFLite runtimes, in four jobs: ``run/`` in-process runners,
``read/`` file readers, ``worker/`` the out-of-process worker and its protocol, ``provision/``
the environments pinned and emulated builds run in. The runtime kinds themselves are the
registry in ``signbart_parity/runtime_specs.py``.
"""
