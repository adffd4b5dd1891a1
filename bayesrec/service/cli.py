"""The ``bayesrec`` command.

::

    bayesrec serve --db sqlite:///bandit.db --workers 4 --port 8000
    bayesrec serve --db postgresql://user:password@host:5432/bandits --workers 4
    bayesrec migrate --db sqlite:///bandit.db

``serve`` brings the schema up to date once, then starts uvicorn with ``--workers`` processes
that share the database.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayesrec", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the Thompson-sampling HTTP service")
    serve.add_argument("--db", default="sqlite:///bandit.db",
                       help="sqlite:///path.db (default sqlite:///bandit.db) or postgresql://...")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.add_argument("--seed", type=int, default=None,
                       help="seed of the Thompson draws (mixed with each worker's process id)")
    serve.add_argument("--log-level", default="warning")
    migrate = sub.add_parser("migrate", help="create or upgrade the schema, then exit")
    migrate.add_argument("--db", default="sqlite:///bandit.db")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve" and args.workers < 1:
        print("bayesrec: --workers must be >= 1", file=sys.stderr)
        return 2
    try:
        from .storage import open_store
        with open_store(args.db) as store:
            version = store.schema_version()
    except (ValueError, TypeError) as err:
        print(f"bayesrec: {err}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        print(f"{args.db}: schema version {version}")
        return 0
    try:
        import uvicorn
    except ImportError:
        print("bayesrec serve needs the serve extra: pip install 'bayesrec[serve]'",
              file=sys.stderr)
        return 1
    os.environ["BAYESREC_DB"] = args.db
    if args.seed is not None:
        os.environ["BAYESREC_SEED"] = str(args.seed)
    uvicorn.run("bayesrec.service.app:app_from_environment", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level=args.log_level,
                access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
