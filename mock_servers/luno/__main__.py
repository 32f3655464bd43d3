"""``python -m mock_servers.luno``."""

from .cli import main

raise SystemExit(main())
