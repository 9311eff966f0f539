"""Config of the ``data`` stage."""

from __future__ import annotations

from ..config import frozen, param
from ..data.config import DataConfig


@frozen
class DataStage:
    """Build the dataset (synthetic default or a real collection) and its card."""

    data: DataConfig = param(DataConfig)
