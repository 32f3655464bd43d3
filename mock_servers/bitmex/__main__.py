"""``python -m mock_servers.bitmex``."""

from .cli import main

raise SystemExit(main())
