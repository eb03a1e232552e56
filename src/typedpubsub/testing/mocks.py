"""aiopubsub's module path for its test double: ``MockHub`` is :class:`RecordingHub`."""

from __future__ import annotations

from . import MockHub as MockHub
from . import RecordingHub as RecordingHub

__all__ = ["MockHub", "RecordingHub"]
