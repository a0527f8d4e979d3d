"""An app whose import chain holds a module that refuses own-GIL
sub-interpreters (readline, from the standard library)."""
import readline  # noqa: F401

from fasterapi import FastAPI

app = FastAPI()


@app.get("/")
def root():
    return "unreachable"
