"""The benchmark's serving baselines: plain HTTP servers, one model call per request.

- `--model FILE.keras`: how the study served its model. Load the Keras model and, for every
  request, turn the JSON instances into an array and call `model.predict`, which builds a
  dataset and a prediction loop each time.
- `--saved-model DIR`: what a user would write instead of the study's server. Load the exported
  SavedModel and call its `serving_default` function directly, on the batch as sent.

Both answer the same V1 route and body as the KServe predictor, from a thread per connection,
so one load generator drives all three, and send each answer as one write with Nagle's algorithm
off, as the KServe predictor's uvicorn does. Neither batches requests or checks its input: not for
production use.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def _keras_predict(path: str) -> Callable[[np.ndarray], np.ndarray]:
    import keras

    model = keras.models.load_model(path)
    return lambda images: model.predict(images, verbose=0)


def _serving_function(path: str) -> Callable[[np.ndarray], np.ndarray]:
    from workloads.cifar10.export import LoadedClassifier

    classifier = LoadedClassifier(path)
    return lambda images: classifier(images).numpy()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve `--model` or `--saved-model` on 127.0.0.1:`--port` until killed."""
    parser = argparse.ArgumentParser(prog="python -m workloads.cifar10.naive_server")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="a .keras model file: model.predict per request")
    model.add_argument("--saved-model", help="a SavedModel folder: its serving function per "
                                             "request")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    infer = _keras_predict(args.model) if args.model else _serving_function(args.saved_model)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per answer and no Nagle delay, as uvicorn does: otherwise headers and body
        # leave in two packets and the client's delayed ACK adds about 40 ms to each request.
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            instances = np.asarray(json.loads(body)["instances"], dtype=np.float32)
            predictions = infer(instances)
            payload = json.dumps({"predictions": predictions.tolist()}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            return

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the listen backlog; Python's default of 5 resets clients
        daemon_threads = True

    server = Server(("127.0.0.1", args.port), Handler)
    print(f"baseline server on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
