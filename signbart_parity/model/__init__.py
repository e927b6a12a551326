"""The model stage: the published config and checkpoint formats, the SignBart module, and the
embedded default model. Everything downstream starts from ``checkpoint.load_model``.

``SignBart`` is importable from here (``signbart_parity.model.SignBart``) without loading
torch until it is used.
"""


def __getattr__(name: str):
    if name == "SignBart":
        from signbart_parity.model.signbart import SignBart

        return SignBart
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
