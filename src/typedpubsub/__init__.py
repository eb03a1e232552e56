"""typedpubsub: a typed, dataclass-first publish/subscribe event bus for asyncio.

It keeps aiopubsub's model and API (``Hub``, ``Publisher``, ``Subscriber``, ``Key``) and adds
typed, validated topics (``Topic[T]``).
"""

from . import errors as errors
from . import utils as utils
from ._hub import Hub as Hub
from ._inbox import Overflow as Overflow
from ._key import Key as Key
from ._key import PossibleKey as PossibleKey
from ._meta import ADDED_SUBSCRIBER as ADDED_SUBSCRIBER
from ._meta import LISTENER_ERROR as LISTENER_ERROR
from ._meta import MESSAGE_DROPPED as MESSAGE_DROPPED
from ._meta import META_TOPICS as META_TOPICS
from ._meta import REMOVED_SUBSCRIBER as REMOVED_SUBSCRIBER
from ._meta import ListenerFailure as ListenerFailure
from ._meta import MessageDropped as MessageDropped
from ._meta import SubscriberEvent as SubscriberEvent
from ._native import is_compiled as _is_compiled
from ._publisher import Publisher as Publisher
from ._publisher import ThrottledPublisher as ThrottledPublisher
from ._request import RequestTopic as RequestTopic
from ._stats import HubStatistics as HubStatistics
from ._stats import ListenerStatistics as ListenerStatistics
from ._stream import Stream as Stream
from ._subscriber import Subscriber as Subscriber
from ._topic import Topic as Topic
from ._version import __version__ as __version__
from .errors import BridgeConnectionError as BridgeConnectionError
from .errors import ClosedError as ClosedError
from .errors import ConsumeQueueNotFoundError as ConsumeQueueNotFoundError
from .errors import InvalidKeyError as InvalidKeyError
from .errors import KeyPartTypeError as KeyPartTypeError
from .errors import ListenerNotFoundError as ListenerNotFoundError
from .errors import NoResponderError as NoResponderError
from .errors import PayloadValidationError as PayloadValidationError
from .errors import PubSubError as PubSubError
from .errors import QueueFullError as QueueFullError
from .errors import RequestTimeoutError as RequestTimeoutError
from .errors import ResponderError as ResponderError
from .errors import UnsupportedPayloadTypeError as UnsupportedPayloadTypeError

_compiled: bool = _is_compiled()
"""Whether this installation is the opt-in compiled build (``TYPEDPUBSUB_COMPILE=1``)."""

__all__ = [
    "ADDED_SUBSCRIBER",
    "LISTENER_ERROR",
    "MESSAGE_DROPPED",
    "META_TOPICS",
    "REMOVED_SUBSCRIBER",
    "BridgeConnectionError",
    "ClosedError",
    "ConsumeQueueNotFoundError",
    "Hub",
    "HubStatistics",
    "InvalidKeyError",
    "Key",
    "KeyPartTypeError",
    "ListenerFailure",
    "ListenerNotFoundError",
    "ListenerStatistics",
    "MessageDropped",
    "NoResponderError",
    "Overflow",
    "PayloadValidationError",
    "PossibleKey",
    "PubSubError",
    "Publisher",
    "QueueFullError",
    "RequestTimeoutError",
    "RequestTopic",
    "ResponderError",
    "Stream",
    "Subscriber",
    "SubscriberEvent",
    "ThrottledPublisher",
    "Topic",
    "UnsupportedPayloadTypeError",
    "__version__",
    "errors",
    "utils",
]
