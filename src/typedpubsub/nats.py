"""Join hubs in many processes and hosts through a NATS server: core NATS or JetStream.

Needs the extra: ``pip install 'typedpubsub[nats]'`` (the official client, nats-py). This module
is never imported by ``typedpubsub`` itself.

Keys map one to one onto NATS subjects: parts joined by ``.``; a ``*`` part is NATS's ``*``; a
*trailing* ``*`` (which in aiopubsub also matches deeper keys) is NATS's ``>``, which matches one
or more tokens, the same set. A key part that cannot be a NATS token (empty, or holding ``.``,
whitespace, ``*`` or ``>``) is refused with :class:`~typedpubsub.errors.InvalidKeyError`, never
silently rewritten; so is a subject whose first token is a NATS system one (``$...``, ``_INBOX``).
"""

# The implementation lives in a subpackage: a module named nats.py would shadow the nats-py
# package for `import nats` in the modules beside it (pyright resolves local files first).
from ._bridge.nats_bridge import BRIDGE_ERROR as BRIDGE_ERROR
from ._bridge.nats_bridge import MSG_ID_HEADER as MSG_ID_HEADER
from ._bridge.nats_bridge import ORIGIN_HEADER as ORIGIN_HEADER
from ._bridge.nats_bridge import TOMBSTONE_HEADER as TOMBSTONE_HEADER
from ._bridge.nats_bridge import BridgeFailure as BridgeFailure
from ._bridge.nats_bridge import BridgeStatistics as BridgeStatistics
from ._bridge.nats_bridge import Mode as Mode
from ._bridge.nats_bridge import NatsBridge as NatsBridge
from ._bridge.nats_bridge import key_to_subject as key_to_subject
from ._bridge.nats_bridge import pattern_to_subject as pattern_to_subject
from ._bridge.nats_bridge import subject_to_key as subject_to_key

__all__ = [
    "BRIDGE_ERROR",
    "MSG_ID_HEADER",
    "ORIGIN_HEADER",
    "TOMBSTONE_HEADER",
    "BridgeFailure",
    "BridgeStatistics",
    "Mode",
    "NatsBridge",
    "key_to_subject",
    "pattern_to_subject",
    "subject_to_key",
]
