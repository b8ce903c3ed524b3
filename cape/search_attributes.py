"""Registering CapeControl's custom search attributes in a Temporal namespace.

The worker calls this at start-up on every cluster (the dev server, docker compose, Temporal Cloud
namespaces that allow it); `cape dev` calls it once its dev server answers.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cape.contracts.names import SEARCH_ATTRIBUTES


async def ensure_search_attributes(
    client: Client, namespace: str, attributes: Mapping[str, str] = SEARCH_ATTRIBUTES
) -> list[str]:
    """Register the custom search attributes that `namespace` lacks (idempotent).

    Args:
        client: A connected client.
        namespace: The namespace to register them in.
        attributes: Name to type; only Keyword is used by CapeControl today.

    Returns:
        The names that were added (empty when all existed).
    """
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{_upper_snake(kind)}")
        for name, kind in attributes.items()
        if name not in listed.custom_attributes
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            # Several workers starting together on a new cluster race to register them.
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(missing)


def _upper_snake(kind: str) -> str:
    # "Keyword" -> "KEYWORD", "KeywordList" -> "KEYWORD_LIST", "Datetime" -> "DATETIME".
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(kind)).upper()
