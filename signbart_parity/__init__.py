"""signbart-parity: prove a SignBart .tflite computes what its PyTorch checkpoint computes.

The package is laid out as the pipeline it runs, one subpackage per stage:
``model`` -> ``inputs`` -> ``export`` -> ``runtime`` -> ``checks`` -> ``reports``, with two
front doors onto the same flow: the pytest gate (``gate``) and the command line (``cli``).

Importing the package is light: torch, litert-torch and TFLite load only when used.
"""

from signbart_parity.export.convert import convert
from signbart_parity.model.checkpoint import load_signbart_model
from signbart_parity.model.config import SignBartConfig, load_config

__all__ = ["SignBartConfig", "convert", "load_config", "load_signbart_model"]
__version__ = "0.1.0"
