"""Builds the optional compiled parts (pure Python is used without them):

* C: the Betfair cache's runner core and the replay line splitter;
* Cython twins: the crypto paper matcher's modules, compiled from their own unchanged
  pure-Python source (``_pycrypto.py`` -> ``_ccrypto``, with the declarations of
  ``_ccrypto.pxd``; see marketstreams/_twins.py). Each twin is compiled from a copy of the
  source under build/ with the source's digest appended, so that a twin is only ever used with
  the source it was built from.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent
# (package folder, pure module, twin): the twin is the pure module's source, compiled
TWINS = [
    ("marketstreams/simulation", "_pycrypto", "_ccrypto"),
    ("marketstreams/simulation", "_pycryptomarket", "_ccryptomarket"),
]


def cython_twins() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:  # no Cython at build time: the pure modules are used
        return []
    out = []
    for folder, pure, name in TWINS:
        source = ROOT / folder / f"{pure}.py"
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        copy = ROOT / "build" / "twins" / folder / f"{name}.py"
        copy.parent.mkdir(parents=True, exist_ok=True)
        # annotation_typing off: the annotations are for mypy; Cython would otherwise enforce
        # them (a str subclass as a side would raise where the pure module takes it). As a
        # directive line of the copy, so that changing it rebuilds the twin.
        text = "# cython: annotation_typing=False\n" + source.read_text(encoding="utf-8")
        text += f"\n\nSOURCE_DIGEST = {digest!r}  # added by setup.py: the source compiled\n"
        if not copy.exists() or copy.read_text(encoding="utf-8") != text:
            copy.write_text(text, encoding="utf-8")
        # the twin's declarations (its classes as extension types), next to the copy; a copy
        # whose declarations are gone goes too
        declarations = ROOT / folder / f"{name}.pxd"
        pxd = copy.with_suffix(".pxd")
        if declarations.exists():
            if not pxd.exists() or pxd.read_bytes() != declarations.read_bytes():
                pxd.write_bytes(declarations.read_bytes())
        else:
            pxd.unlink(missing_ok=True)
        module = f"{folder.replace('/', '.')}.{name}"
        out.append(
            Extension(
                module,
                [str(copy.relative_to(ROOT))],
                extra_compile_args=["-O2"],
                optional=True,
            )
        )
    try:
        return list(cythonize(out, language_level=3, quiet=True))
    except Exception as exc:  # a Cython that cannot compile them: the pure modules are used
        print(f"marketstreams: the Cython twins are not built ({exc}); pure Python is used")
        return []


setup(
    ext_modules=[
        Extension(
            "marketstreams.venues.betfair._speedups",
            ["marketstreams/venues/betfair/_speedups.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "marketstreams._linesplit",
            ["marketstreams/_linesplit.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        *cython_twins(),
    ]
)
