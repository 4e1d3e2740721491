"""Reading one frame (size in bytes, depth without recursion) and the close codes and settings the document declares.

The same rules over a real socket are in test_websocket.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from lexica.realtime.protocol import (
    CREDENTIALS_ENDED,
    GOING_AWAY,
    INTERNAL_ERROR,
    TOO_MANY,
    TOO_SLOW,
    FrameLimits,
    read_frame,
)
from lexica.settings import Settings

SPEC = Path(__file__).resolve().parents[3] / "asyncapi" / "lexica.yaml"


def test_the_size_limit_counts_bytes_not_characters() -> None:
    limits = FrameLimits(max_bytes=300, max_depth=4)
    accented = json.dumps({"type": "ping", "id": "é" * 60}, ensure_ascii=False)  # 60 characters, 120 bytes
    assert read_frame({"text": accented}, limits).type == "ping"  # type: ignore[union-attr]
    assert read_frame({"text": '{"type": "ping", "x": "' + "é" * 200 + '"}'}, limits).code == "message_too_large"  # type: ignore[union-attr]


def test_depth_counts_objects_and_arrays_alike() -> None:
    limits = FrameLimits(max_bytes=10_000, max_depth=3)
    assert read_frame({"text": '{"type": "ping", "id": null}'}, limits).type == "ping"  # type: ignore[union-attr]
    within = '{"type": "subscribe", "topics": [["entries"]]}'  # 3 levels: refused by the schema, not the depth
    assert read_frame({"text": within}, limits).code == "invalid_message"  # type: ignore[union-attr]
    deeper = '{"type": "subscribe", "topics": [[{}]]}'
    assert read_frame({"text": deeper}, limits).code == "message_too_deep"  # type: ignore[union-attr]


def test_every_close_code_and_setting_the_server_uses_is_declared_in_the_asyncapi_document() -> None:
    channel = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["channels"]["ws"]["description"]
    for code in (GOING_AWAY, INTERNAL_ERROR, CREDENTIALS_ENDED, TOO_SLOW, TOO_MANY):
        assert f"- {code}" in channel, code
    declared = set(re.findall(r"LEXICA_(WEBSOCKET_[A-Z_]+)", channel))
    assert declared == {name.upper() for name in Settings.model_fields if name.startswith("websocket_")}
