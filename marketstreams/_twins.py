"""Compiled twins of pure-Python modules. setup.py compiles a few hot pure-Python modules with
Cython, from their own unchanged source, into a twin extension module (``_pycrypto.py`` ->
``_ccrypto``); the pure module stays the reference and the fallback. A twin carries the digest
of the source it was built from (``SOURCE_DIGEST``): :func:`twin` hands it out only when that
is the source installed next to it, so an edited source never runs as a stale build (the pure
module is used, with a warning, until the next install). ``MARKETSTREAMS_PURE_PYTHON=1`` always
takes the pure module.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from types import ModuleType
from typing import Any

__all__ = ["export", "pure_python_forced", "rebuild", "source_digest", "twin"]

logger = logging.getLogger("marketstreams")


def pure_python_forced() -> bool:
    """``MARKETSTREAMS_PURE_PYTHON`` is set (to anything but ``0``)."""
    return os.environ.get("MARKETSTREAMS_PURE_PYTHON", "") not in ("", "0")


def source_digest(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a source file's bytes, as setup.py writes it into the twin."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def twin(pure: ModuleType, name: str) -> tuple[ModuleType, bool]:
    """``(module, compiled)``: the compiled twin ``name`` (a module of ``pure``'s package) when
    it is built from ``pure``'s current source and pure Python is not forced, else ``pure``."""
    if pure_python_forced():
        return pure, False
    try:
        compiled = importlib.import_module(f"{pure.__package__}.{name}")
    except ImportError:
        return pure, False
    source = pure.__file__
    try:
        digest = source_digest(source) if source is not None else None
    except OSError:  # the source cannot be read (a zip import): its twin cannot be checked
        digest = None
    if digest is None or getattr(compiled, "SOURCE_DIGEST", None) != digest:
        logger.warning(
            "%s.%s was built from another version of %s: using the pure-Python module "
            "(reinstall marketstreams to rebuild it)",
            pure.__package__,
            name,
            os.path.basename(source or pure.__name__),
        )
        return pure, False
    return compiled, True


def export(namespace: dict[str, Any], pure: ModuleType, name: str) -> tuple[list[str], bool]:
    """Put the public names (``__all__``) of :func:`twin`'s pick into ``namespace`` (a selector
    module's globals); returns them and whether the twin is compiled."""
    module, compiled = twin(pure, name)
    names: list[str] = list(module.__all__)
    namespace.update({n: getattr(module, n) for n in names})
    return names, compiled


def rebuild(module: str, name: str, state: dict[str, Any]) -> Any:
    """Unpickle an object as class ``name`` of selector module ``module`` in the loading
    process, the twin's or the pure one, whichever that process uses: a pickle made with the
    compiled matcher loads where it is not built, and the other way round. Set as the
    ``__reduce__`` of the twins' extension types (this module is never compiled)."""
    cls = getattr(importlib.import_module(module), name)
    obj = cls.__new__(cls)
    for key, value in state.items():
        setattr(obj, key, value)
    return obj
