"""Builds the optional compiled parts: the Betfair cache's runner core and the replay line
splitter (pure Python is used without them)."""

from setuptools import Extension, setup

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
    ]
)
