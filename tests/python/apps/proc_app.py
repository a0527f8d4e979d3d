"""An application-layer app for the process-model tests: answers its pid."""
import os
import time

from fasterapi import FastAPI

app = FastAPI()
VERSION = "v1"


@app.get("/")
def root():
    return {"pid": os.getpid(), "version": VERSION}


@app.get("/sleep/{seconds}")
def sleep(seconds: float):
    """Holds its worker (a handler that does not end within a stop's grace)."""
    time.sleep(seconds)
    return {"pid": os.getpid(), "slept": seconds}
