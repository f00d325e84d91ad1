"""Run examples in the document: each type's test params and each sub-action's own example."""

from __future__ import annotations

import copy
from typing import Any

from app.api.openapi.components import safe_name, type_prefix
from app.types.kit import ConnectorType


def params_examples(ctype: ConnectorType) -> dict[str, dict[str, Any]]:
    """Named run params: the type's test params, and each sub-action's own example."""
    p = type_prefix(ctype)
    examples = {p: {"summary": f"{ctype.name}: test params", "value": copy.deepcopy(ctype.test_params)}}
    for sub_name, sub in ctype.sub_actions.items():
        if sub.example is not None:
            examples[f"{p}_{safe_name(sub_name)}"] = {
                "summary": f"{ctype.name}: {sub_name}",
                "value": {"subAction": sub_name, "subActionParams": copy.deepcopy(sub.example)},
            }
    return examples
