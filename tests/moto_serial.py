"""Runs moto's server handling one request at a time.

moto_server is threaded, and moto applies a DynamoDB TransactWriteItems
without a lock, so two concurrent transactions can both pass their
conditions: an isolation the real service never lacks (its transactions are
serializable). Serving requests one at a time restores that guarantee, so the
concurrency tests check Greenlight's adapter, not the emulator's races.

Usage: python moto_serial.py -H 127.0.0.1 -p PORT
"""

import argparse
import os

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
