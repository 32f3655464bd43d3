"""Crypto markets in a simulation or a paper session (:class:`CryptoPaper`, the strategies'
:class:`PaperMarket`). The code is in ``_pycryptomarket.py``, the pure-Python reference; when
marketstreams was installed with its compiled parts, the same source compiled with Cython
(``_ccryptomarket``) is used. ``COMPILED`` says which is in use; ``MARKETSTREAMS_PURE_PYTHON=1``
forces the pure one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._twins import export
from . import _pycryptomarket

if TYPE_CHECKING:
    from ._pycryptomarket import *  # noqa: F403
    from ._pycryptomarket import __all__ as _names

    COMPILED: bool
else:
    _names, COMPILED = export(globals(), _pycryptomarket, "_ccryptomarket")

__all__ = [*_names, "COMPILED"]
