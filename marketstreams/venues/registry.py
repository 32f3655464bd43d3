"""One entry per venue: everything outside ``venues/`` reaches a venue through here.

A venue's package holds a ``spec`` module with one :class:`VenueSpec`: how to build its feeds
from options and the environment (``marketstreams proxy``, ``marketstreams record``), a feed
from a recording's header (replay), its historical-file cache if it has one, its demo (mock
server plus feeds), its mock server's command line, and its row of the capability table in
docs/architecture.md. Adding a venue is its own folder plus one line in :data:`_MODULES`
(or :func:`register` from outside the package). A spec is imported on first use, so naming the
venues imports none of them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import ConfigurationError
from ..feed import Feed, FeedStats
from ..models import Update
from ..secret import Secret
from ..transport.backoff import Backoff

if TYPE_CHECKING:
    from ..recording.format import Header, Record
    from ..recording.writer import Recorder

__all__ = [
    "Capabilities",
    "HistoricalCache",
    "Replayable",
    "VenueSpec",
    "capability_table",
    "demo_backoff",
    "get",
    "names",
    "no_more_options",
    "plain",
    "register",
    "require",
    "unregister",
]

# name -> the module holding its ``SPEC``; the one entry a new venue adds.
_MODULES: dict[str, str] = {
    "luno": "marketstreams.venues.luno.spec",
    "bitmex": "marketstreams.venues.bitmex.spec",
    "betfair": "marketstreams.venues.betfair.spec",
}
_loaded: dict[str, VenueSpec] = {}


class Replayable(Protocol):
    """What a venue feed offers to replay its own recordings."""

    venue: str
    stats: FeedStats

    def replay_record(self, record: Record) -> list[Update]: ...


class HistoricalCache(Protocol):
    """A venue's cache for its own historical files: each line in, the books it changed out."""

    markets: dict[str, Any]  # market id -> book, the markets it holds
    created: int  # books made so far (a market dropped and seen again counts again)

    def apply(self, message: bytes | dict[str, Any]) -> list[Any]: ...

    def apply_line(self, line: bytes) -> list[Any] | None:
        """A fast path for a line it can take without decoding it to Python objects: the
        books, or None (having changed nothing) when the line is to go through ``apply``."""
        ...

    def apply_idle_lines(
        self, first: bytes, lines: Iterator[bytes], idle: dict[str, float]
    ) -> tuple[int, bytes | None]:
        """Lines applied without handing out books while the hooks wait for none of their
        markets (``idle``: market id -> publish time it waits until): how many, and the first
        line left (None: ``lines`` ran out)."""
        ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    """A venue's row of the capability table (what its stream offers, in plain words)."""

    transport: str
    book: str
    sequence: str
    snapshots: str
    trades: str
    authentication: str

    @classmethod
    def headings(cls) -> list[str]:
        return [f.name for f in fields(cls)]


FeedBuilder = Callable[[list[str], dict[str, Any], "Recorder | None"], list[Feed]]
DemoFactory = Callable[[contextlib.AsyncExitStack], Awaitable[list[Feed]]]


@dataclass(frozen=True)
class VenueSpec:
    """One venue, as the rest of marketstreams sees it.

    ``feeds(markets, options, record)`` builds its feeds (options: plain values or
    :class:`~marketstreams.Secret`, consumed; an unknown one raises ConfigurationError);
    ``env`` maps options to the environment variables that supply them by default;
    ``record_options`` are the options ``marketstreams record`` uses unless told otherwise;
    ``from_recording(header)`` is a feed that replays one recorded channel (never connects);
    ``historical()`` a cache for the venue's own historical files (``cache.apply(line)`` ->
    books), if it publishes any; ``demo(stack)`` starts its mock server(s) on ``stack`` and
    returns feeds connected to them (``demo_requires``: the modules it needs); ``mock``: the
    module whose ``main(argv)`` runs its mock server (``marketstreams mock NAME``).
    """

    name: str
    feeds: FeedBuilder
    from_recording: Callable[[Header], Replayable]
    capabilities: Capabilities
    env: Mapping[str, str] = field(default_factory=dict)
    markets_optional: bool = False  # the venue can subscribe by filter instead
    record_options: Mapping[str, Any] = field(default_factory=dict)  # `record`'s defaults
    historical: Callable[[], HistoricalCache] | None = None
    demo: DemoFactory | None = None
    demo_requires: tuple[str, ...] = ()
    mock: str | None = None

    def build(
        self,
        markets: list[str],
        options: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        record: Recorder | None = None,
    ) -> list[Feed]:
        """The feeds of ``markets``; options not given come from ``environ`` (see ``env``)."""
        opts = dict(options or {})
        for option, variable in self.env.items():
            if option not in opts and environ is not None and environ.get(variable):
                opts[option] = Secret(environ[variable])
        if not markets and not self.markets_optional:
            raise ConfigurationError(f"no markets given for {self.name}")
        return self.feeds(list(markets), opts, record)

    @property
    def demo_available(self) -> bool:
        """Whether this build can run the venue's demo (its modules are present)."""
        if self.demo is None:
            return False
        for module in self.demo_requires:
            try:
                if importlib.util.find_spec(module) is None:
                    return False
            except ImportError:
                return False
        return True


def names() -> tuple[str, ...]:
    """The registered venues, in registry order (imports none of them)."""
    return tuple(_MODULES)


def require(name: str) -> None:
    """Raise ConfigurationError, naming the known venues, unless ``name`` is one (imports
    nothing)."""
    if name not in _MODULES:
        raise ConfigurationError(f"unknown venue {name!r}; known: {', '.join(_MODULES)}")


def get(name: str) -> VenueSpec:
    """The spec of venue ``name``; ConfigurationError names the known ones."""
    spec = _loaded.get(name)
    if spec is not None:
        return spec
    require(name)
    module = _MODULES[name]
    spec = importlib.import_module(module).SPEC
    if not isinstance(spec, VenueSpec) or spec.name != name:
        raise ConfigurationError(f"{module}.SPEC is not the VenueSpec of {name!r}")
    _loaded[name] = spec
    return spec


def register(name: str, module: str) -> None:
    """Add a venue whose ``SPEC`` lives in ``module`` (imported on first use)."""
    _MODULES[name] = module
    _loaded.pop(name, None)


def unregister(name: str) -> None:
    """Remove a venue added by :func:`register`."""
    _MODULES.pop(name, None)
    _loaded.pop(name, None)


def plain(value: Any) -> Any:
    """An option's value with its :class:`~marketstreams.Secret` wrapper (if any) taken off."""
    return value.value if isinstance(value, Secret) else value


def no_more_options(venue: str, options: Mapping[str, Any]) -> None:
    """Raise for options a venue's builder did not consume."""
    if options:
        raise ConfigurationError(f"unknown {venue} option(s): {', '.join(sorted(options))}")


def demo_backoff() -> Backoff:
    """A demo feed's reconnect backoff: quick, the mock servers are local (one per feed)."""
    return Backoff(initial=0.2, maximum=2.0)


def capability_table() -> str:
    """The capability table of every registered venue, as Markdown (docs/architecture.md)."""
    heads = ["venue", *Capabilities.headings()]
    rows = ["| " + " | ".join(heads) + " |", "|" + " --- |" * len(heads)]
    for name in names():
        caps = get(name).capabilities
        rows.append("| " + " | ".join([name, *(getattr(caps, h) for h in heads[1:])]) + " |")
    return "\n".join(rows) + "\n"
