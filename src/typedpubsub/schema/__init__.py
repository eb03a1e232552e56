"""Export typed topics as JSON Schema and AsyncAPI 3.0 documents, and draw them in Mermaid.

``json_schema(topics)`` bundles the payload schemas of a collection of topics (shared definitions
once); ``asyncapi(topics)`` builds an AsyncAPI 3.0.0 document with one channel per topic, whose
address is the key joined by ``.`` with each ``*`` a named parameter. Output is deterministic:
the same topics give byte-identical JSON, so it can be committed and diffed.
"""

from __future__ import annotations

# The command line's loaders live with it; they stay importable here for compatibility.
from .._cli_targets import collect_topics as collect_topics
from .._cli_targets import load_target as load_target
from .._compat import Change as Change
from .._compat import CompatibilityMode as CompatibilityMode
from .._compat import CompatibilityReport as CompatibilityReport
from .._compat import Counterexample as Counterexample
from .._compat import compatibility as compatibility
from ._asyncapi import ASYNCAPI_VERSION as ASYNCAPI_VERSION
from ._asyncapi import Action as Action
from ._asyncapi import _pointer as _pointer  # the tests resolve and walk documents with these
from ._asyncapi import _walk as _walk
from ._asyncapi import asyncapi as asyncapi
from ._asyncapi import check_asyncapi as check_asyncapi
from ._jsonschema import JSON_SCHEMA_DIALECT as JSON_SCHEMA_DIALECT
from ._jsonschema import address as address
from ._jsonschema import json_schema as json_schema
from ._jsonschema import parameter_names as parameter_names
from ._jsonschema import payload_schema as payload_schema
from ._jsonschema import topic_names as topic_names
from ._mermaid import mermaid_hub as mermaid_hub
from ._mermaid import mermaid_topics as mermaid_topics

__all__ = [
    "ASYNCAPI_VERSION",
    "JSON_SCHEMA_DIALECT",
    "Action",
    "Change",
    "CompatibilityMode",
    "CompatibilityReport",
    "Counterexample",
    "address",
    "asyncapi",
    "check_asyncapi",
    "collect_topics",
    "compatibility",
    "json_schema",
    "load_target",
    "mermaid_hub",
    "mermaid_topics",
    "parameter_names",
    "payload_schema",
    "topic_names",
]
