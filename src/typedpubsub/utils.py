"""aiopubsub's module path for ``ThrottledPublisher``."""

from __future__ import annotations

from ._publisher import ThrottledPublisher as ThrottledPublisher

__all__ = ["ThrottledPublisher"]
