"""The contract, validated to plain dicts: the ingest API's hot path, with the same rules.

``EVENT`` builds a frozen model per event, which is what the stream workers want. The ingest
API only needs to know whether each event is valid, why not, and four of its fields; building
the models cost ~0.7 µs an event of a ~10 µs budget. ``fields_only`` derives a validator from
an adapter's own core schema: every field validator unchanged, under a typed dict instead of
each model, followed by the model's rule from the contract's ``CROSS_FIELD_RULES`` instead of
its model validator. So it accepts and rejects what the adapter does, with the same errors;
``tests/unit/ingest_api/test_fields_only.py`` holds it to that.

What it returns for a model is a dict of the fields the input set, validated; defaults are
not filled in and unknown fields are left out, so an output shorter than its input means the
input carried unknown fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from pydantic import BaseModel, TypeAdapter
from pydantic_core import SchemaValidator, core_schema

from ingest_api.contract import CROSS_FIELD_RULES

Rule = Callable[[dict[str, Any]], dict[str, Any]]
# The keys of a model's schema and of its fields that this module knows how to translate; any
# other (an alias, a custom __init__, a post-init hook) fails the derivation at import time.
_MODEL_KEYS = frozenset(
    {"type", "cls", "schema", "config", "ref", "metadata", "custom_init", "root_model"}
)
_FIELD_KEYS = frozenset({"type", "schema", "metadata"})


def fields_only(adapter: TypeAdapter[Any], models: tuple[type[BaseModel], ...]) -> SchemaValidator:
    """A validator for what ``adapter`` validates, with each instance of ``models`` (and of
    their subclasses) validated to a dict of the fields the input set, as described above."""
    flattened: set[int] = set()
    schema = _rewrite(adapter.core_schema, models, flattened)
    return SchemaValidator(schema)


def _rewrite(node: Any, models: tuple[type[BaseModel], ...], flattened: set[int]) -> Any:
    """A copy of ``node`` with the models flattened; the original is shared with pydantic."""
    if isinstance(node, list):
        return [_rewrite(n, models, flattened) for n in node]
    if not isinstance(node, dict):
        return node
    flat = _flatten(node, models, flattened)
    if flat is not None:
        flattened.add(id(flat))
        return flat
    out = {
        k: v if k in ("metadata", "default", "cls") else _rewrite(v, models, flattened)
        for k, v in node.items()
    }
    if str(out.get("type")).startswith("function-") and id(out.get("schema")) in flattened:
        # Anything else wrapped around a flattened model would get a dict instead of a model.
        raise TypeError(f"fields_only: a {out['type']!r} schema wraps a flattened model")
    return out


def _flatten(
    node: dict[str, Any], models: tuple[type[BaseModel], ...], flattened: set[int]
) -> core_schema.CoreSchema | None:
    """``node`` as a typed dict (and its rule) if it is one of ``models``, possibly wrapped in
    its model validator; None if it is anything else."""
    validated = node.get("type") == "function-after"
    model = node["schema"] if validated else node
    if not (
        isinstance(model, dict)
        and model.get("type") == "model"
        and issubclass(model["cls"], models)
    ):
        return None
    cls: type[BaseModel] = model["cls"]
    rule = _rule_of(cls)
    plain = not (set(model) - _MODEL_KEYS or model.get("custom_init") or model.get("root_model"))
    if validated != (rule is not None) or not plain:
        raise TypeError(
            f"fields_only: {cls.__name__} must be a plain model whose only model validator "
            "applies its rule in CROSS_FIELD_RULES"
        )
    if validated and "ref" in model:
        raise TypeError(f"fields_only: {cls.__name__} is referenced inside its validator")
    inner = model["schema"]
    if inner.get("type") != "model-fields" or inner.get("computed_fields"):
        raise TypeError(f"fields_only: {cls.__name__} has no plain model-fields schema")
    fields: dict[str, core_schema.TypedDictField] = {}
    for name, field in inner["fields"].items():
        schema = field["schema"]
        if set(field) - _FIELD_KEYS:
            raise TypeError(f"fields_only: {cls.__name__}.{name} has an alias or the like")
        optional = schema["type"] == "default"
        if optional:
            if schema.get("on_error", "raise") != "raise":
                raise TypeError(f"fields_only: {cls.__name__}.{name} defaults on error")
            schema = schema["schema"]
        fields[name] = core_schema.typed_dict_field(
            _rewrite(schema, models, flattened), required=not optional
        )
    # Unknown fields are ignored (see above); every other setting stays the model's.
    settings = {k: v for k, v in model.get("config", {}).items() if k != "extra_fields_behavior"}
    config = cast(core_schema.CoreConfig, settings)
    ref = node.get("ref")
    if rule is None:
        return core_schema.typed_dict_schema(
            fields, extra_behavior="ignore", config=config, ref=ref
        )
    flat = core_schema.typed_dict_schema(fields, extra_behavior="ignore", config=config)
    return core_schema.no_info_after_validator_function(rule, flat, ref=ref)


def _rule_of(cls: type[BaseModel]) -> Rule | None:
    return next((CROSS_FIELD_RULES[c] for c in cls.__mro__ if c in CROSS_FIELD_RULES), None)
