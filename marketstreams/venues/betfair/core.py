"""Which runner core the Betfair cache uses: the compiled ``_speedups`` when it is built, else
the pure-Python ``_pycore`` (same interface, same results, slower). Set
``MARKETSTREAMS_PURE_PYTHON=1`` to force the pure-Python one; ``COMPILED`` says which is in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._twins import pure_python_forced
from ._pycore import ATB, ATL, BATB, BATL, BDATB, BDATL, NLADDERS, SPB, SPL, TRD

__all__ = [
    "ATB",
    "ATL",
    "BATB",
    "BATL",
    "BDATB",
    "BDATL",
    "COMPILED",
    "SPB",
    "SPL",
    "TRD",
    "RunnerCore",
    "apply_changes",
    "apply_deltas",
    "apply_line",
    "apply_lines",
]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from ._pycore import RunnerCore, apply_changes

    COMPILED: bool
    # the compiled fast path for plain deltas (see _speedups.apply_deltas); None in pure Python
    apply_deltas: (
        Callable[[dict[str, Any], dict[str, Any], list[Any], int], list[Any] | None] | None
    )
    # the same read straight from a line's bytes (see _speedups.apply_line); None in pure Python
    apply_line: (
        Callable[
            [dict[str, Any], bytes, int, Callable[[Any, bytes | None, bool], None] | None],
            tuple[Any, list[Any]] | None,
        ]
        | None
    )
    # a run of such lines nobody waits for (see _speedups.apply_lines); None in pure Python
    apply_lines: (
        Callable[
            [dict[str, Any], bytes, Iterator[bytes], int, dict[str, float]],
            tuple[int, int, Any, bytes | None],
        ]
        | None
    )
else:
    COMPILED = False
    if not pure_python_forced():
        try:
            from ._speedups import NLADDERS as _COMPILED_LADDERS
            from ._speedups import RunnerCore, apply_changes, apply_deltas, apply_line, apply_lines
        except ImportError:
            pass
        else:
            if _COMPILED_LADDERS != NLADDERS:  # a stale build: ignore it
                raise ImportError("marketstreams' compiled Betfair core is stale: reinstall")
            COMPILED = True
    if not COMPILED:
        from ._pycore import RunnerCore, apply_changes

        apply_deltas = apply_line = apply_lines = None
