"""In-process runners: a file run by a runtime kind installed beside this tool (``tflite.py``,
the backends it and the worker share in ``backends.py``), and latency (``timing.py``)."""
