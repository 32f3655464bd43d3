"""Mock venue servers: real sockets, the real wire protocols, synthetic markets, fault switches.

One package per venue (``mock_servers.luno``, ``.bitmex``, ``.betfair``) on a common base
(:mod:`mock_servers.base`), each run in-process (tests, the demo) or from the command line
(``python -m mock_servers.<venue>``, ``marketstreams mock <venue>``). They need the ``mock``
extra (``websockets``, ``trustme``). Modules are imported on demand; importing this package
starts nothing. docs/mock_servers.md describes each.
"""
