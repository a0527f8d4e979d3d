"""An app whose import chain holds modules that refuse own-GIL
sub-interpreters: readline (standard library) always, and pydantic when it
is installed (pydantic-core is a PyO3 extension).  It can only be served
from the main interpreter (--interpreters main, or auto's fallback)."""
import readline  # noqa: F401
import sys

from fasterapi import FastAPI

try:
    from pydantic import BaseModel
except ImportError:  # pragma: no cover - the pydantic routes are then absent
    BaseModel = None

app = FastAPI()
STARTS = []


@app.on_event("startup")
def started():
    STARTS.append(1)
    print(f"FA-APP-MAIN-STARTUP {len(STARTS)}", file=sys.stderr, flush=True)


@app.get("/where")
def where():
    try:
        import _interpreters  # 3.13
        interp = _interpreters.get_current()[0]
    except ImportError:  # 3.12
        import _xxsubinterpreters
        interp = int(_xxsubinterpreters.get_current())
    return {"interp": interp, "starts": len(STARTS)}


if BaseModel is not None:
    class Item(BaseModel):
        name: str
        price: float
        tags: list[str] = []

    class ItemOut(BaseModel):
        name: str
        price: float

    @app.post("/items", response_model=ItemOut, status_code=201)
    async def create_item(item: Item):
        return item
