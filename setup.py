"""Builds the optional compiled core of the Betfair cache (pure Python is used without it)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "marketstreams.venues.betfair._speedups",
            ["marketstreams/venues/betfair/_speedups.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
