"""Run the measurement engine once and print each measurement as one JSON line.

The censorship lab (``censorship_lab.py``) starts this with ``ip netns exec <ns> python -m
tests.support.lab_measure …`` because a network namespace belongs to a process: to measure
from inside a censored ISP, the probe has to *be* a process there. It calls the production
:func:`qorgau.monitor.engine.measure_many` and writes :func:`qorgau.monitor.wire.to_json`, the
same format a vantage agent uploads, so the lab exercises the wire format on the way back too.

Exit status: 0 with one line per URL in input order; 2 when the engine refused its input
(the reason on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from qorgau.errors import InvalidInput
from qorgau.monitor.engine import measure_many
from qorgau.monitor.model import Vantage
from qorgau.monitor.wire import to_json


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.support.lab_measure")
    parser.add_argument("urls", nargs="+", metavar="URL")
    parser.add_argument("--resolver", action="append", dest="resolvers", default=[])
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--ca-file")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--agent-id")
    parser.add_argument("--country")
    parser.add_argument("--asn")
    parser.add_argument("--network-name")
    parser.add_argument("--control", action="store_true", help="this vantage is a control")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    vantage = Vantage(
        agent_id=args.agent_id,
        country=args.country,
        asn=args.asn,
        network_name=args.network_name,
        is_control=args.control,
    )
    try:
        measurements = asyncio.run(
            measure_many(
                args.urls,
                vantage=vantage,
                resolvers=args.resolvers or ("system",),
                timeout=args.timeout,
                ca_file=args.ca_file,
                concurrency=args.concurrency,
            )
        )
    except InvalidInput as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    for m in measurements:
        sys.stdout.write(json.dumps(to_json(m), ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
