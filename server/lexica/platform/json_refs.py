"""Local `$ref`s (`#/components/schemas/Entry`) of the bundled specs, followed: by the AsyncAPI page and the
null check of request bodies alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_HOPS = 32  # a reference to a reference ... this deep is a cycle


def follow(document: Mapping[str, Any], node: Any) -> tuple[Any, str | None]:
    """The node that `node` (a `$ref` to a `$ref` ...) finally stands for, and the last name it was reached by; a
    node without `$ref` is returned as it is, with no name. `KeyError` if a reference points at nothing."""
    name = None
    hops = 0
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and hops < MAX_HOPS:
        ref = node["$ref"]
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node, name, hops = target, ref.rsplit("/", 1)[-1], hops + 1
    return node, name
