"""Turn pydantic's JSON schema into a Kubernetes *structural* OpenAPI v3 schema.

The API server accepts only structural schemas: every node typed, no ``$ref``, no
``anyOf`` with null, no titles. This module does that conversion, purely, so the
models stay the only place where the shape of a resource is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DROP = {"title", "$defs", "discriminator"}


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return {key: _resolve(value, defs) for key, value in node.items()}


def _drop_null(node: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` → X: optional fields are simply absent in Kubernetes objects."""
    for key in ("anyOf", "oneOf"):
        variants = node.get(key)
        if not isinstance(variants, list):
            continue
        typed = [v for v in variants if v.get("type") != "null"]
        if len(typed) == 1 and len(typed) < len(variants):
            rest = {k: v for k, v in node.items() if k != key}
            return {**typed[0], **rest}
    return node


LOGIC = ("oneOf", "anyOf", "allOf", "not")


def structural(node: Any, *, in_logic: bool = False) -> Any:
    """Convert one node; inside oneOf/anyOf/allOf/not no types are added (Kubernetes forbids)."""
    if isinstance(node, list):
        return [structural(item, in_logic=in_logic) for item in node]
    if not isinstance(node, dict):
        return node
    node = _drop_null(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROP:
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "additionalProperties" and value is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
            continue
        if key == "properties":
            out[key] = {n: structural(v, in_logic=in_logic) for n, v in value.items()}
            continue
        out[key] = structural(value, in_logic=in_logic or key in LOGIC)
    if in_logic:
        return out
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out["type"] = "object"
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "default" in out and out["default"] is None:
        del out["default"]
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    if "items" in out and "type" not in out:
        out["type"] = "array"
    return out


def to_openapi(json_schema: Mapping[str, Any]) -> dict[str, Any]:
    defs = json_schema.get("$defs", {})
    result: dict[str, Any] = structural(_resolve(dict(json_schema), defs))
    return result


def untyped_nodes(schema: Any, path: str = "") -> list[str]:
    """Paths of schema nodes without a type (a structural schema has none)."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return problems
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string"):
        problems.append(path or "/")
    for name, child in (schema.get("properties") or {}).items():
        problems += untyped_nodes(child, f"{path}/{name}")
    if isinstance(schema.get("items"), dict):
        problems += untyped_nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += untyped_nodes(schema["additionalProperties"], f"{path}{{}}")
    return problems


def without_defaults(node: Any, *, keep_top: bool = False) -> Any:
    """Drop ``default`` everywhere (or below the top-level properties with ``keep_top``).

    Server-side defaults make sense for a handful of spec fields a user omits; in status,
    or deep inside optional objects, they would make the server invent values.
    """
    if isinstance(node, list):
        return [without_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: without_defaults(v) for k, v in node.items() if k != "default"}
    if keep_top and isinstance(node.get("properties"), dict):
        out["properties"] = {
            name: {
                **without_defaults(child),
                **({"default": child["default"]} if "default" in child else {}),
            }
            for name, child in node["properties"].items()
        }
    return out
