"""Mock venue servers: real sockets, the real wire protocols, synthetic markets, fault switches.

Each module runs one venue in-process (tests, the demo) or from the command line:

* :mod:`mock_servers.luno`: the Luno market stream (``/api/1/stream/{PAIR}``), order-level books
  kept exactly with :class:`~decimal.Decimal`, ``python -m mock_servers.luno --port 8801``.

Modules are imported on demand; importing this package starts nothing.
"""
