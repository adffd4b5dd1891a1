"""One load-generating client process: sends its events in batches, retrying until acknowledged.

Usage: ``python load_client.py URL EXPERIMENT EVENTS.json OUT.json [--batch N] [--deadline S]``

``EVENTS.json`` is a list of ``[event_id, arm, reward]``.  Each batch is POSTed to
``/experiments/EXPERIMENT/rewards``; on a connection error or a 5xx the same batch (same event
ids, so idempotent) is sent again until ``--deadline`` seconds have passed.  ``OUT.json``
records every acknowledgement: ``{"acks": [[t_ack, [new ids], [duplicate ids]], ...],
"errors": n, "unacked": [ids], "uncertain": [ids]}`` with ``t_ack = time.time()`` taken after
the answer arrived.  ``uncertain`` lists the events of every attempt whose outcome the client
cannot know: the request may have reached the server, but no answer came back (a read
timeout, a connection dropped mid-request).  The server may have committed such an attempt, so
its retry can rightly be answered "duplicate" although no answer ever said "new".
"""

import argparse
import json
import time

import httpx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("experiment")
    p.add_argument("events")
    p.add_argument("out")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--deadline", type=float, default=120.0)
    args = p.parse_args()
    with open(args.events) as f:
        events = json.load(f)
    stop_at = time.monotonic() + args.deadline
    acks, errors, unacked, uncertain = [], 0, [], []
    endpoint = f"{args.url}/experiments/{args.experiment}/rewards"
    with httpx.Client(timeout=10.0) as client:
        for start in range(0, len(events), args.batch):
            batch = events[start:start + args.batch]
            body = {"events": [{"event_id": e, "arm": a, "reward": r} for e, a, r in batch]}
            while True:
                try:
                    resp = client.post(endpoint, json=body)
                    if resp.status_code == 200:
                        data = resp.json()
                        acks.append([time.time(), data["new"], data["duplicates"]])
                        break
                    if resp.status_code < 500:
                        raise SystemExit(f"unexpected {resp.status_code}: {resp.text}")
                except httpx.ConnectError:
                    pass                        # never reached the server
                except httpx.HTTPError:         # sent, but the answer was lost
                    uncertain.extend(e for e, _, _ in batch)
                errors += 1
                if time.monotonic() > stop_at:
                    unacked.extend(e for e, _, _ in batch)
                    break
                time.sleep(0.05)
    with open(args.out, "w") as f:
        json.dump({"acks": acks, "errors": errors, "unacked": unacked,
                   "uncertain": uncertain}, f)


if __name__ == "__main__":
    main()
