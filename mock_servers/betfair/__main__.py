"""``python -m mock_servers.betfair``."""

from .cli import main

raise SystemExit(main())
