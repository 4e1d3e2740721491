"""What the lifespan opens and every request reaches through `request.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from lexica.settings import Settings
from lexica.words.service import WordService


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    words: WordService
    implementations: dict[type[Any], Any] = field(default_factory=dict)
