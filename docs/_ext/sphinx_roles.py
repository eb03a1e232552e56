"""A griffe extension for the API reference: Sphinx roles in docstrings become code spans.

The docstrings cross-reference with Sphinx roles (``:class:`~typedpubsub.errors.PubSubError```),
which Markdown would print verbatim. Rewriting them at load time keeps the source untouched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# :role:`target` or :role:`~dotted.target` (the tilde keeps only the last name, as in Sphinx).
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|obj|exc|data|const):`(~?)([^`]+)`")


def _code_span(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(griffe.Extension):
    """Turns ``:class:`X``` and friends into ```X``` in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code_span, obj.docstring.value)
