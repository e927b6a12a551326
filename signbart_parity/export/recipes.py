"""Quantizer recipes as data: which setting each op type gets in each stage of the model.

A ``Recipe`` is an ordered tuple of ``Rule``s (a later rule wins where two match, as in
ai-edge-quantizer); its ``text`` is how people, the provenance stamp and ``repair``'s table
name it, e.g. ``FULLY_CONNECTED dynamic-int8/tensor``. ``apply_recipe`` hands it to the
quantizer. ``repair`` (``checks/repair.py``) searches over these; ``candidates`` is its
search space, cheapest first.

Measured (issue 28): tflite-runtime 2.14's hybrid FULLY_CONNECTED kernel computes wrong
logits (top-1 agreement 12-52%) from per-channel int8 weights, the quantizer's default
granularity, and right ones from per-tensor weights; LiteRT 1.4 and 2.3 are right with both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Where a rule applies: a regex over an op's output tensor name. litert-torch names tensors
# by module path, ``<Class>_<attribute>`` (``Encoder_encoder``) in single files and bundles
# alike; the classifier head's ops are outside the three stage modules.
SCOPES = {
    "all": ".*",
    "projection": ".*Projection_projection.*",
    "encoder": ".*Encoder_encoder.*",
    "decoder": ".*Decoder_decoder.*",
    "head": "^(?!.*(Projection_projection|Encoder_encoder|Decoder_decoder)).*",
}
# What a rule does to the weights of the ops it matches.
SETTINGS = (
    "dynamic-int8/channel",  # int8 weights per output channel, int8 compute (the default)
    "dynamic-int8/tensor",  # one int8 scale per weight tensor, int8 compute
    "weight-only-int8/channel",  # int8 weights dequantized explicitly, float compute
    "weight-only-int8/tensor",
    "fp16",  # float16 weights dequantized explicitly
    "float",  # left as float32
)
# What one stage may fall back to where the mode asked for breaks, cheapest first.
FALLBACKS = ("weight-only-int8/channel", "fp16", "float")


@dataclass(frozen=True)
class Rule:
    setting: str
    op: str = "*"  # a TFLite op type, or * for every op the quantizer supports
    scope: str = "all"

    def text(self) -> str:
        where = "" if self.scope == "all" else f" in {self.scope}"
        what = "every op" if self.op == "*" else self.op
        return f"{what}{where} {self.setting}"


@dataclass(frozen=True)
class Recipe:
    """Rules in order, a later one overriding an earlier one where both match."""

    rules: tuple[Rule, ...]

    @property
    def text(self) -> str:
        return "; ".join(rule.text() for rule in self.rules)

    @classmethod
    def uniform(cls, setting: str, ops: Sequence[str] = ("*",)) -> Recipe:
        return cls(tuple(Rule(setting, op) for op in ops))

    def then(self, rule: Rule) -> Recipe:
        return Recipe((*self.rules, rule))


def default_recipe(quantization: str) -> Recipe:
    """What ``export/quantize.py`` does today for a weight-based mode (per-channel)."""
    setting = "fp16" if quantization == "fp16" else f"{quantization}/channel"
    return Recipe.uniform(setting)


def candidates(
    quantization: str, ops: Sequence[str], *, suspects: Iterable[str] = ()
) -> list[Recipe]:
    """The recipes repair tries for ``quantization`` (dynamic-int8 or weight-only-int8) on a
    file whose weighted op types are ``ops``: the mode per-channel (today's) and per-tensor,
    each op type per-tensor, then either granularity with one stage (``suspects`` first: the
    stages a failure points at) falling back to weight-only int8, fp16 or float. Every
    recipe keeps some of the file in the mode asked for, so it still reads as that
    precision."""
    base = default_recipe(quantization)
    tensorwise = Recipe.uniform(f"{quantization}/tensor")
    found = [base, tensorwise]
    if len(ops) > 1:  # granularity per op type
        found += [base.then(Rule(f"{quantization}/tensor", op)) for op in ops]
    stages = [s for s in suspects if s in SCOPES and s != "all"]
    stages += [s for s in SCOPES if s not in stages and s != "all"]
    fallbacks = [s for s in FALLBACKS if not s.startswith(quantization)]
    for start in (base, tensorwise):
        for stage in stages:
            found += [start.then(Rule(setting, scope=stage)) for setting in fallbacks]
    return list(dict.fromkeys(found))  # in order, each once


def apply_recipe(quantizer, recipe: Recipe) -> None:
    """Hand ``recipe`` to an ``ai_edge_quantizer.Quantizer``, rule by rule."""
    from ai_edge_quantizer import qtyping, recipe_manager

    manager = recipe_manager.RecipeManager()
    for rule in recipe.rules:
        config, algorithm = _op_config(rule.setting)
        manager.add_quantization_config(
            regex=SCOPES[rule.scope],
            operation_name=qtyping.TFLOperationName(rule.op),
            op_config=config,
            algorithm_key=algorithm,
        )
    quantizer.load_quantization_recipe(manager.get_quantization_recipe())


def _op_config(setting: str):
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    if setting == "float":
        return qtyping.OpQuantizationConfig(), AlgorithmName.NO_QUANTIZE
    if setting == "fp16":
        weights = qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT)
        return _weights_config(weights, explicit=True), AlgorithmName.FLOAT_CASTING
    mode, granularity = setting.split("/")
    weights = qtyping.TensorQuantizationConfig(
        num_bits=8,
        symmetric=True,
        granularity=qtyping.QuantGranularity[f"{granularity.upper()}WISE"],
    )
    return (
        _weights_config(weights, explicit=mode == "weight-only-int8"),
        AlgorithmName.MIN_MAX_UNIFORM_QUANT,
    )


def _weights_config(weights, *, explicit: bool):
    from ai_edge_quantizer import qtyping

    precision = qtyping.ComputePrecision.FLOAT if explicit else qtyping.ComputePrecision.INTEGER
    return qtyping.OpQuantizationConfig(
        weight_tensor_config=weights, compute_precision=precision, explicit_dequantize=explicit
    )
