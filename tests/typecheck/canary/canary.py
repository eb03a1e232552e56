"""Canary: this valid line carries an ignore, so both checkers must report it as unused.

If they do not, must-fail lines in the check files could start passing silently.
"""

from typedpubsub import Hub, Key

Hub().publish(Key("a"), 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
