"""The one error every part of Candor raises when the person's settings or home cannot be used."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """config.toml cannot be used. `str()` is one message naming the file, the key and the line."""

    def __init__(
        self, message: str, *, file: Path | None = None, line: int | None = None, key: str = ""
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.key = key
