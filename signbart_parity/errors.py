"""Typed errors, under one root and split by whose fault they are.

- ``ParityInputError``: the user's input (a file, a config, a checkpoint, an option value);
- ``SetupError``: this machine's setup (a runtime build's environment, an emulator) is
  missing or unfit; the message names the command or package that fixes it;
- ``ToolchainError``: the converter or quantizer failed on valid input;
- ``Finding``: a fact about a valid file on one runtime build (it crashed, hung or refused
  the file): the target fails with the runtime's message; not an error of the run.

Each message is one sentence that names the file (or value) and says what to do. The CLI
turns input and setup errors into exit code 2 without a traceback, a ``ToolchainError``
into 3 and a ``Finding`` outside ``verify``'s own handling into 1 (the check failed).
"""

from __future__ import annotations

from signbart_parity.versions import toolchain_versions


class SignbartParityError(Exception):
    """The root of every error this tool raises on purpose."""


class ParityInputError(SignbartParityError):
    """Bad input from the user: a file, a config, a checkpoint or an option value."""


class SetupError(SignbartParityError):
    """This machine lacks something a requested run needs (an environment, an emulator);
    the message names how to get it."""


class ConfigError(ParityInputError):
    """The YAML config is missing, unreadable or inconsistent."""


class CheckpointError(ParityInputError):
    """The checkpoint is missing, unreadable, unsafe or does not fit the config."""


class ConversionError(ParityInputError):
    """The requested conversion cannot be done (bad seq_len, unsupported quantization...)."""


class ToolchainError(SignbartParityError):
    """The converter or quantizer failed on a valid model: not the user's input to fix.

    The CLI exits 3 for it (bad input is 2); the message names the tool's own error and the
    toolchain versions, for a bug report or a different toolchain pin.
    """

    @classmethod
    def caused_by(cls, what: str, exc: Exception) -> ToolchainError:
        versions = ", ".join(f"{name} {version}" for name, version in toolchain_versions().items())
        lines = str(exc).strip().splitlines()
        return cls(
            f"{what}: {type(exc).__name__}: {lines[0] if lines else ''} ({versions}); the "
            "model and options are valid: report this upstream or pin another toolchain version."
        )


class TFLiteFileError(ParityInputError):
    """A .tflite file is missing, unreadable, or not the model the caller expects."""


class DataError(ParityInputError):
    """A keypoint sample or dataset is missing, unreadable or malformed."""


class ReportError(ParityInputError):
    """A parity.json report is missing, not JSON, or not a report of this schema."""


class GoldenError(ParityInputError):
    """A golden .npz file is missing, unreadable, or does not fit the file checked against it."""


class RuntimeEnvironmentError(SetupError):
    """A runtime build's isolated environment (a pinned release; an aarch64 Python with
    LiteRT and its emulator) is missing, cannot be made here, or is not trusted to compute
    correctly."""


class Finding(SignbartParityError):
    """What a runtime build did with a valid file: the target fails, with this message.
    ``label`` is how a table's cell names it (verify's line, repair's candidates)."""

    label = "FAILS TO LOAD"


class RuntimeCrashed(Finding):
    """A runtime build died (a signal, or its worker vanished) or hung loading or running a
    file."""

    label = "CRASHED"


class RuntimeRefused(Finding):
    """A pinned runtime build refused a file that passed the file checks (the build
    installed here loads it): that build cannot run it."""


class AcceleratorRefused(Finding):
    """LiteRT's GPU accelerator refused to load or run a file: a finding about the file on
    the GPU (with the accelerator's own message), not bad input."""

    label = "FAILS ON THE GPU"


class OutputPathError(ParityInputError):
    """An output path that cannot be written, or whose writing would destroy an input."""
