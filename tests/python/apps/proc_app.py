"""An application-layer app for the process-model tests: answers its pid."""
import os

from fasterapi import FastAPI

app = FastAPI()
VERSION = "v1"


@app.get("/")
def root():
    return {"pid": os.getpid(), "version": VERSION}
