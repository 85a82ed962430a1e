"""Serves an exported SavedModel once, as a fresh serving process would: load, then annotate.

Run by `bench/paper_scale.py` in its own process (so that its peak memory is serving's alone):
  python bench/paper_scale_serve.py EXPORT_DIR IMAGE [IMAGE ...]
Prints one JSON line: load seconds, the first call's seconds (tracing and warm-up included), a
second call's seconds, the batch size, the output names and the first image's captions.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: paper_scale_serve.py EXPORT_DIR IMAGE [IMAGE ...]", file=sys.stderr)
        return 2
    export_dir, images = argv[1], argv[2:]
    started = time.perf_counter()
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    loaded = time.perf_counter()
    image_bytes = tf.constant([open(path, "rb").read() for path in images])  # pylint: disable=consider-using-with
    first = serve(image_bytes=image_bytes)
    called = time.perf_counter()
    serve(image_bytes=image_bytes)
    again = time.perf_counter()
    captions = [c.decode() if isinstance(c, bytes) else c for c in first["captions"][0].numpy().tolist()] \
        if "captions" in first else None
    print(json.dumps({"load_seconds": round(loaded - started, 2), "first_call_seconds": round(called - loaded, 2),
                      "second_call_seconds": round(again - called, 2), "batch": len(images),
                      "outputs": sorted(first), "first_image_captions": captions}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
