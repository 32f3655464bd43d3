# Cython declarations for the compiled twin of _pycryptomarket.py (see _ccrypto.pxd).

cdef class PaperMarket:
    cdef public object _matcher, _name, best_prices, book, context, market_id, orders, venue

cdef class _CryptoMarket:
    cdef public object calls, matcher, owner, views
