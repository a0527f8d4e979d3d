"""An app whose import takes a while (in every server process): the metrics
listener must already answer while it loads (tests/python/test_metrics.py)."""
import os
import time

from fasterapi import FastAPI

time.sleep(float(os.environ.get("FA_TEST_SLOW_IMPORT", "2")))

app = FastAPI()


@app.get("/")
def root():
    return {"pid": os.getpid()}
