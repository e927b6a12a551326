"""signbart-parity: prove a SignBart .tflite computes what its PyTorch checkpoint computes.

Importing the package is light: torch, litert-torch and TFLite load only when used.
"""

from signbart_parity.checkpoint import load_signbart_model
from signbart_parity.config import SignBartConfig, load_config

__all__ = ["SignBartConfig", "load_config", "load_signbart_model"]
__version__ = "0.1.0"
