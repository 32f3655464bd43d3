"""``python -m marketstreams.recording dump FILE [--limit N] [--width W]``: a recording as text.

One line for the header, then one line per record: kind, receive time (UTC), payload length and
the payload (text, cut to ``--width`` characters).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import orjson

from ..exceptions import ReplayError
from ..sources import Source
from .reader import peek_header, read_records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m marketstreams.recording", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump", help="print a recording's header and records")
    dump.add_argument("file")
    dump.add_argument("--limit", type=int, help="stop after this many records")
    dump.add_argument("--width", type=int, default=160, help="payload characters shown")
    args = p.parse_args(argv)
    source = Source(args.file)
    header = peek_header(source)
    if header is None:
        print(f"{args.file}: not a marketstreams recording", file=sys.stderr)
        return 2
    print(orjson.dumps(header.as_dict()).decode())
    try:
        for n, record in enumerate(read_records(source), 1):
            data = record.data
            text = data if isinstance(data, str) else data.decode("utf-8", "backslashreplace")
            when = datetime.fromtimestamp(record.time, UTC).isoformat(timespec="microseconds")
            shown = text if len(text) <= args.width else text[: args.width] + "..."
            print(f"{record.kind} {when} {len(data):>7} {shown}")
            if args.limit is not None and n >= args.limit:
                break
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # | head
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
