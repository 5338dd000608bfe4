"""The fault campaign of issue 15 at full length, over several seeds (tests/fault_campaign.py has the
campaign and its ledger; tests/test_fault_campaign.py runs a bounded one in the suite).

Three `serve` replicas on a throwaway PostgreSQL (tests/pg.py Server: never the shared one), the
stand-in holding Slack's limits at their real pace (one post a second per channel, one
conversations.history call a minute, 15 messages a page); for each seed: load and faults for
``--faults`` seconds, a replica killed every 30 to 45 s, bursts of 429 and 500, posts whose answer is
lost, SMTP down for 30 s, a PostgreSQL restart; then the drain, and the ledger. One line of figures
per seed, and what was found wrong if anything.

    .venv/bin/python bench/fault_campaign.py --seeds 1 2 3 --faults 180
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fault_campaign import Campaign, Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--faults", type=float, default=180.0, help="seconds of load and faults")
    parser.add_argument("--drain", type=float, default=240.0, help="seconds allowed after the faults stop")
    parser.add_argument(
        "--scaled", action="store_true", help="the suite's bounded clock (tests/test_fault_campaign.py)"
    )
    args = parser.parse_args()
    failed = 0
    for seed in args.seeds:
        if args.scaled:
            from tests.test_fault_campaign import BOUNDED

            settings = Settings(**{**BOUNDED.__dict__, "seed": seed})
        else:
            settings = Settings(seed=seed, faults_s=args.faults, drain_s=args.drain)
        with tempfile.TemporaryDirectory() as directory:
            campaign = Campaign(settings, Path(directory)).run()
        print(json.dumps(campaign.figures), flush=True)
        for violation in campaign.violations:
            print("  VIOLATION:", violation, flush=True)
        failed += bool(campaign.violations)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
