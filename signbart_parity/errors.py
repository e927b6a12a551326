"""Typed errors for problems a user can fix.

Each message is one sentence that names the file (or value) and says what to do.
The CLI turns every ``ParityInputError`` into exit code 2 without a traceback.
"""

from __future__ import annotations


class ParityInputError(Exception):
    """Bad input from the user: a file, a config, a checkpoint or an option value."""


class ConfigError(ParityInputError):
    """The YAML config is missing, unreadable or inconsistent."""


class CheckpointError(ParityInputError):
    """The checkpoint is missing, unreadable, unsafe or does not fit the config."""


class ConversionError(ParityInputError):
    """The requested conversion cannot be done (bad seq_len, unsupported quantization...)."""


class TFLiteFileError(ParityInputError):
    """A .tflite file is missing, unreadable, or not the model the caller expects."""


class DataError(ParityInputError):
    """A keypoint sample or dataset is missing, unreadable or malformed."""


class ReportError(ParityInputError):
    """A parity.json report is missing, not JSON, or not a report of this schema."""


class GoldenError(ParityInputError):
    """A golden .npz file is missing, unreadable, or does not fit the file checked against it."""
