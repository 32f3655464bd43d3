"""Paper matching on crypto order books (Luno, BitMEX): :class:`CryptoMatcher`, its orders,
fills, fees and positions. The rules and the code are in ``_pycrypto.py``, the pure-Python
reference; when marketstreams was installed with its compiled parts, the same source compiled
with Cython (``_ccrypto``) is used, with the same results (the test suite runs on both).
``COMPILED`` says which is in use; ``MARKETSTREAMS_PURE_PYTHON=1`` forces the pure one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._twins import export
from . import _pycrypto

if TYPE_CHECKING:
    from ._pycrypto import *  # noqa: F403
    from ._pycrypto import __all__ as _names

    COMPILED: bool
else:
    _names, COMPILED = export(globals(), _pycrypto, "_ccrypto")

__all__ = [*_names, "COMPILED"]
