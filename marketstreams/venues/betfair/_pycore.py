"""The runner state of the Betfair market cache and the loop that applies ``rc`` entries to it.

This is the pure-Python reference of the interface that ``_speedups.c`` compiles; the cache uses
the compiled one when it is built (see :data:`marketstreams.venues.betfair.core.COMPILED`), this
one otherwise or when ``MARKETSTREAMS_PURE_PYTHON=1``. Tests apply random changes to both and
compare every read, so the two must stay in step.

Price ladders are dicts price -> size (zero sizes are kept and skipped when read, so a ladder's
key set only grows until it is cleared); level ladders are dicts level -> (price, size).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

__all__ = ["ATB", "ATL", "BATB", "BATL", "BDATB", "BDATL", "SPB", "SPL", "TRD", "RunnerCore"]

PriceSize = tuple[float, float]

# ladder kinds, in the compiled core's order
ATB, ATL, TRD, SPB, SPL, BATB, BATL, BDATB, BDATL = range(9)
NLADDERS = 9
_DESCENDING = (True, False, False, True, False, False, False, False, False)


def _read(ladder: dict[float, float], keys: list[float], n: int) -> list[PriceSize]:
    """The first n live (price, size) in ``keys`` order; zero-size prices met before the first
    live one are dropped from the ladder and the keys alike (they stay the same length)."""
    out: list[PriceSize] = []
    if n <= 0:
        return out
    head = 0
    for p in keys:
        s = ladder[p]
        if s:
            out.append((p, s))
            if len(out) >= n:
                break
        elif not out:
            head += 1
    if head:
        for p in keys[:head]:
            del ladder[p]
        del keys[:head]
    return out


def _levels(ladder: dict[float, tuple[float, float]], n: int = -1) -> list[PriceSize]:
    out = [ladder[k] for k in sorted(ladder)] if ladder else []
    return out if n < 0 else out[:n]


class RunnerCore:
    """Prices and values of one runner (pure Python)."""

    __slots__ = (
        "_back_list",
        "_batb",
        "_batl",
        "_bdatb",
        "_bdatl",
        "_has_trd",
        "_keys",
        "_lad",
        "_lay_list",
        "_stamp",
        "full_depth",
        "last_price_traded",
        "sp_far",
        "sp_near",
        "tv",
    )

    _stamp: int
    _lad: list[dict[float, float]]  # atb atl trd spb spl: price -> size
    _keys: list[list[float] | None]  # their sorted keys, in reading order
    _batb: dict[float, tuple[float, float]]  # level -> (price, size)
    _batl: dict[float, tuple[float, float]]
    _bdatb: dict[float, tuple[float, float]]
    _bdatl: dict[float, tuple[float, float]]
    _back_list: list[PriceSize] | None
    _lay_list: list[PriceSize] | None
    _has_trd: bool
    full_depth: bool
    last_price_traded: Any
    tv: Any
    sp_near: Any
    sp_far: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = super().__new__(cls)
        self._stamp = -1
        self._lad = [{}, {}, {}, {}, {}]
        self._batb = {}
        self._batl = {}
        self._bdatb = {}
        self._bdatl = {}
        RunnerCore._clear(self)
        return self

    def _clear(self) -> None:
        """Forget every price and value."""
        self.last_price_traded = None
        self.tv = None
        self.sp_near = None
        self.sp_far = None
        for ladder in self._lad:
            ladder.clear()
        self._keys = [None] * 5
        self._batb.clear()
        self._batl.clear()
        self._bdatb.clear()
        self._bdatl.clear()
        self._back_list = None
        self._lay_list = None
        self.full_depth = False
        self._has_trd = False

    def _sorted_keys(self, kind: int) -> list[float]:
        ladder = self._lad[kind]
        keys = self._keys[kind]
        if keys is None or len(keys) != len(ladder):
            keys = self._keys[kind] = sorted(ladder, reverse=_DESCENDING[kind])
        return keys

    def _side(self, back: bool, n: int) -> list[PriceSize]:
        if self.full_depth:
            kind = ATB if back else ATL
            return _read(self._lad[kind], self._sorted_keys(kind), n if n >= 0 else 1 << 62)
        if back:
            return _levels(self._batb if self._batb else self._bdatb, n)
        return _levels(self._batl if self._batl else self._bdatl, n)

    def best_back(self, n: int = 1) -> list[PriceSize]:
        """The best n back offers as (price, size), highest price first."""
        cached = self._back_list
        if cached is not None:
            return cached[: max(n, 0)]
        if self.full_depth:  # (the read hooks make most: one call less than _side)
            return _read(self._lad[ATB], self._sorted_keys(ATB), n)
        return self._side(True, max(n, 0))

    def best_lay(self, n: int = 1) -> list[PriceSize]:
        """The best n lay offers as (price, size), lowest price first."""
        cached = self._lay_list
        if cached is not None:
            return cached[: max(n, 0)]
        if self.full_depth:
            return _read(self._lad[ATL], self._sorted_keys(ATL), n)
        return self._side(False, max(n, 0))

    @property
    def available_to_back(self) -> list[PriceSize]:
        """Back offers as (price, size), highest price first."""
        cached = self._back_list
        if cached is None:
            cached = self._back_list = self._side(True, -1)
        return cached

    @property
    def available_to_lay(self) -> list[PriceSize]:
        """Lay offers as (price, size), lowest price first."""
        cached = self._lay_list
        if cached is None:
            cached = self._lay_list = self._side(False, -1)
        return cached

    def _ladder(self, kind: int) -> list[PriceSize]:
        """One raw ladder, in its reading order."""
        if kind < TRD + 3:
            if not 0 <= kind:
                raise ValueError("unknown ladder")
            return _read(self._lad[kind], self._sorted_keys(kind), 1 << 62)
        levels = (self._batb, self._batl, self._bdatb, self._bdatl)
        if kind >= NLADDERS:
            raise ValueError("unknown ladder")
        return _levels(levels[kind - BATB])

    def _traded(self) -> float | None:
        """Sum of the traded ladder, or None before the stream carried one."""
        return float(sum(self._lad[TRD].values())) if self._has_trd else None

    def _core_state(self) -> tuple[Any, ...]:
        """Plain-data state: (ltp, tv, spn, spf, full_depth, has_trd, ladders), each ladder a
        list of (key, price, size) in ascending key order."""
        ladders: list[list[tuple[float, float, float]]] = []
        for ladder in self._lad:
            ladders.append([(float(p), float(p), float(s)) for p, s in sorted(ladder.items()) if s])
        for levels in (self._batb, self._batl, self._bdatb, self._bdatl):
            ladders.append([(float(k), float(p), float(s)) for k, (p, s) in sorted(levels.items())])
        return (
            self.last_price_traded,
            self.tv,
            self.sp_near,
            self.sp_far,
            self.full_depth,
            self._has_trd,
            tuple(ladders),
        )

    def _set_core_state(self, state: tuple[Any, ...]) -> None:
        """Restore :meth:`_core_state`."""
        ltp, tv, spn, spf, full_depth, has_trd, ladders = state
        if len(ladders) != NLADDERS:
            raise ValueError("runner state has the wrong number of ladders")
        RunnerCore._clear(self)
        for kind in range(TRD + 3):
            self._lad[kind].update((p, s) for _, p, s in ladders[kind])
        for levels, entries in zip(
            (self._batb, self._batl, self._bdatb, self._bdatl), ladders[BATB:], strict=True
        ):
            levels.update((k, (p, s)) for k, p, s in entries)
        self.last_price_traded = ltp
        self.tv = tv
        self.sp_near = spn
        self.sp_far = spf
        self.full_depth = bool(full_depth)
        self._has_trd = bool(has_trd)


def _checked(changes: Any, width: int) -> Any:
    """``changes`` when it is a list of ``width``-number lists (exact int or float, finite),
    else TypeError / ValueError, as the compiled core raises them."""
    if changes.__class__ is not list:
        raise TypeError(f"ladder is {type(changes).__name__}, not a list")
    try:
        for e in changes:
            if e.__class__ is not list or len(e) != width:
                raise ValueError(f"ladder entry is not a list of {width} numbers")
            for v in e:
                c = v.__class__
                if c is not float and c is not int:
                    raise TypeError(f"ladder value is {c.__name__}, not a number")
                if v * 0.0 != 0.0:  # NaN or infinite (a huge int raises OverflowError)
                    raise ValueError("ladder number is not finite")
    except OverflowError:
        raise ValueError("ladder number too large") from None
    return changes


def _apply_levels(ladder: dict[float, tuple[float, float]], changes: list[list[Any]]) -> None:
    for level, price, size in _checked(changes, 3):
        if size:
            ladder[level] = (price, size)
        else:
            ladder.pop(level, None)


def apply_changes(
    runners: dict[Any, Any],
    rcs: list[dict[str, Any]],
    stamp: int,
    changed: list[Any],
    add_runner: Callable[[int, float], Any],
) -> int:
    """Apply a market change's runner changes (see ``_speedups.apply_changes``). Returns 1 when
    a traded ladder changed, else 0."""
    flags = 0
    for rc in rcs:
        sid = rc["id"]
        hc = rc.get("hc")
        r = runners.get(sid if not hc else (sid, hc))
        if r is None:
            r = add_runner(sid, hc or 0.0)
        if r._stamp != stamp:
            r._stamp = stamp
            changed.append(r)
        lad = r._lad
        for k, x in rc.items():
            if k == "atb":
                if x.__class__ is list and x and not r.full_depth:
                    r.full_depth = True
                    r._lay_list = None
                lad[0].update(_checked(x, 2))
                r._back_list = None
            elif k == "atl":
                if x.__class__ is list and x and not r.full_depth:
                    r.full_depth = True
                    r._back_list = None
                lad[1].update(_checked(x, 2))
                r._lay_list = None
            elif k == "trd":
                r._has_trd = True
                flags = 1
                if x.__class__ is list and not x:  # [] clears the ladder (its sorted keys too)
                    lad[2].clear()
                    r._keys[2] = None
                else:
                    lad[2].update(_checked(x, 2))
            elif k == "ltp":
                r.last_price_traded = x
            elif k == "tv":
                r.tv = x
            elif k == "spn":
                r.sp_near = x if x.__class__ is not str else float(x)
            elif k == "spf":
                r.sp_far = x if x.__class__ is not str else float(x)
            elif k == "batb":
                r._back_list = None
                _apply_levels(r._batb, x)
            elif k == "batl":
                r._lay_list = None
                _apply_levels(r._batl, x)
            elif k == "bdatb":
                r._back_list = None
                _apply_levels(r._bdatb, x)
            elif k == "bdatl":
                r._lay_list = None
                _apply_levels(r._bdatl, x)
            elif k == "spb":
                lad[3].update(_checked(x, 2))
            elif k == "spl":
                lad[4].update(_checked(x, 2))
    return flags
