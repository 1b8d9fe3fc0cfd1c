"""The benchmark's serving baseline: a plain HTTP server calling `model.predict` per request.

This is how the study served its model: load the Keras model, and for every request turn the
JSON instances into an array and call `model.predict`. It answers the same V1 route and body as
the KServe predictor so one load generator can drive both. Not for production use.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def main(argv: Sequence[str] | None = None) -> int:
    """Serve `--model` (a `.keras` file) on 127.0.0.1:`--port` until killed."""
    parser = argparse.ArgumentParser(prog="python -m workloads.cifar10.naive_server")
    parser.add_argument("--model", required=True, help="a .keras model file")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import keras

    model = keras.models.load_model(args.model)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            instances = np.asarray(json.loads(body)["instances"], dtype=np.float32)
            predictions = model.predict(instances, verbose=0)
            payload = json.dumps({"predictions": predictions.tolist()}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"naive server on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
