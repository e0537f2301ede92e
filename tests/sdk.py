"""A strict walk of a JSON body over the oci SDK's own models (swagger_types,
attribute_map, the discriminators' get_subtype): what the service's API
would refuse to deserialise, named by its JSON path."""

from __future__ import annotations

from types import ModuleType
from typing import Any

SCALARS: dict[str, Any] = {"str": str, "int": int, "float": (int, float), "bool": bool, "object": object,
                           "datetime": str}


def required_members(model: type) -> set[str]:
    """The attributes the SDK documents as **[Required]** (its property docstrings)."""
    return {attr for attr in model().swagger_types
            if "**[Required]**" in (getattr(model, attr).__doc__ or "")}


def sdk_problems(value: Any, type_name: str, models: ModuleType, path: str = "$",
                 check_required: bool = False) -> list[str]:
    """Every member the SDK model does not know, or of the wrong type, and an unknown discriminator value; with
    ``check_required``, every **[Required]** member that is missing too."""

    def walk(value: Any, type_name: str, path: str) -> list[str]:
        if type_name.startswith("list["):
            if not isinstance(value, list):
                return [f"{path}: not a list"]
            return [p for i, item in enumerate(value) for p in walk(item, type_name[5:-1], f"{path}[{i}]")]
        if type_name.startswith("dict(str, "):
            if not isinstance(value, dict):
                return [f"{path}: not an object"]
            return [p for k, v in value.items() for p in walk(v, type_name[10:-1], f"{path}.{k}")]
        if type_name in SCALARS:
            ok = isinstance(value, SCALARS[type_name]) and not (type_name in ("int", "float")
                                                               and isinstance(value, bool))
            return [] if ok else [f"{path}: not {type_name}"]
        model = getattr(models, type_name)
        if not isinstance(value, dict):
            return [f"{path}: not an object ({type_name})"]
        problems = []
        if hasattr(model, "get_subtype"):
            try:
                subtype = model.get_subtype(value)
            except KeyError as missing:
                return [f"{path}: no discriminator {missing} for {type_name}"]
            if subtype == type_name:  # get_subtype's fallback: a value it does not know
                problems.append(f"{path}: no subtype of {type_name} for {value}")
            model = getattr(models, subtype)
        instance = model()
        by_json = {json_name: attr for attr, json_name in instance.attribute_map.items()}
        problems += [f"{path}.{key}: unknown to {model.__name__}" for key in value if key not in by_json]
        if check_required:
            problems += [f"{path}.{instance.attribute_map[attr]}: required by {model.__name__}"
                         for attr in sorted(required_members(model)) if instance.attribute_map[attr] not in value]
        for key, member in value.items():
            if key in by_json:
                problems += walk(member, instance.swagger_types[by_json[key]], f"{path}.{key}")
        return problems

    return walk(value, type_name, path)
