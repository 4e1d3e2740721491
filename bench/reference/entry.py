"""The entry every reference app serves: Lexica's own answer to `GET /api/v1/words/apple`, stored once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).with_name("apple.json")
HEADWORD = "apple"
PATH = f"/api/v1/words/{HEADWORD}"
ROUTE = "/api/v1/words/{headword}"
BODY: bytes = FIXTURE.read_bytes()
ENTRY: dict[str, Any] = json.loads(BODY)
