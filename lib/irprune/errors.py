"""Exceptions with messages that name the problem and the fix."""

from __future__ import annotations


class IRPruneError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(IRPruneError, ValueError):
    """A ``params.yaml`` value is missing, unknown, of the wrong type or out of range."""


class DataFormatError(IRPruneError, ValueError):
    """An input file is malformed.  The message names the file, the line and the fix."""

    def __init__(self, message: str, *, path: object | None = None, line: int | None = None,
                 fix: str | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        text = where + message
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)
        self.path = path
        self.line = line
        self.fix = fix


class RegistryError(IRPruneError, KeyError):
    """An unknown name was looked up in a registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""
