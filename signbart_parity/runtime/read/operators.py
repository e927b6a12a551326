"""The operators of a .tflite file by name, read from its flatbuffer schema (no runtime)."""

from __future__ import annotations


def builtin_operator_names(schema) -> dict[int, str]:
    """Builtin operator code -> name, from ``ai_edge_litert.schema_py_generated``."""
    return {value: key for key, value in vars(schema.BuiltinOperator).items() if key.isupper()}


def operator_name(code, names: dict[int, str]) -> str:
    """The name of an ``OperatorCode``: files keep small codes in the deprecated field."""
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM" and code.CustomCode():
        return f"CUSTOM:{code.CustomCode().decode('utf-8', errors='replace')}"
    return name
