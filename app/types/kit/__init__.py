"""The type kit: everything a connector type module imports (DESIGN, "The shape of a type").

    from app.types.kit import ConnectorType, Context, Field, Result, Schema, Url, http, sub_action

See the README's "Adding a connector type" for a walk-through.
"""

from app.outbound import OutboundError, OutboundResponse
from app.types.kit import auth, http
from app.types.kit.cases import EXAMPLE_CASE, CaseView
from app.types.kit.context import Context
from app.types.kit.declaration import (
    ConnectorType,
    ExecuteReturn,
    InvalidSettings,
    ParamsError,
    SubAction,
    SubActionParams,
    lookup,
    sub_action,
)
from app.types.kit.elasticsearch import NOT_CONFIGURED as ELASTICSEARCH_NOT_CONFIGURED
from app.types.kit.elasticsearch import Elasticsearch
from app.types.kit.result import GENERIC_ERROR, Failed, Result, TokenUsage
from app.types.kit.schema import EmptySchema, Field, Schema, Url, describe_errors, url_fields

__all__ = [
    "ELASTICSEARCH_NOT_CONFIGURED",
    "EXAMPLE_CASE",
    "GENERIC_ERROR",
    "CaseView",
    "ConnectorType",
    "Context",
    "Elasticsearch",
    "EmptySchema",
    "ExecuteReturn",
    "Failed",
    "Field",
    "InvalidSettings",
    "OutboundError",
    "OutboundResponse",
    "ParamsError",
    "Result",
    "Schema",
    "SubAction",
    "SubActionParams",
    "TokenUsage",
    "Url",
    "auth",
    "describe_errors",
    "http",
    "lookup",
    "sub_action",
    "url_fields",
]
