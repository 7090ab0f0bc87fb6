"""A named, read-only view of one slot of a stage's packed state array.

Several stages keep their scalar state in one small numpy array (a kernel updates it in place; `get_state`
saves it whole): the calibration schedule's ``_c``, the safety stage's ``flags``, the aligner's ``clock``.
`state_field` names a slot once, in the class body, instead of a property written out per slot::

    started = state_field("_c", 3, bool, "A packet has arrived.")
"""

from __future__ import annotations

from typing import Callable


def state_field(array: str, index: int, cast: Callable = int, doc: str | None = None) -> property:
    """A property reading ``cast(self.<array>[index])``."""

    def get(self):
        return cast(getattr(self, array)[index])

    return property(get, doc=doc)
