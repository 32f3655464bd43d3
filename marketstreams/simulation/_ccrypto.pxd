# Cython declarations for the compiled twin of _pycrypto.py (setup.py, marketstreams/_twins.py):
# the classes become extension types whose attributes are C fields, read and written without a
# dictionary look-up. Every attribute the source gives an instance is listed here; the test suite
# runs on the twin, so one missing here fails it (AttributeError). The pure module ignores this.

cdef class CryptoOrder:
    cdef public object _credit, _level, _mark, _pending_cut, _pending_cut_reduction
    cdef public object average_price, fees, filled, fills, market, notes, order_id
    cdef public object order_type, placed_at, price, queue_ahead, reason, seq, side, size
    cdef public object status, strategy, venue

cdef class CryptoMatcher:
    cdef dict __dict__  # subclasses and tests may still add attributes
    cdef object __weakref__  # a book's LevelWatch refers to its owner weakly
    cdef public object venue, market, fees, exact, inverse, _num, _type, zero, _maker, _taker
    cdef public object orders, open, bid_top, ask_top, follows_levels, _buys, _sells, _watch
    cdef public object _watched_bids, _watched_asks, _level_watch, _watch_book, _watch_changes
    cdef public object positions, _ids, _seq, skipped_trades, _known, _arrival, _arrivals
    cdef public object _resting, last_price
