"""Tutorial: handling errors: HTTPException with headers, custom exception
handlers, overriding the validation error handler, reusing FastAPI's."""
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

app = FastAPI()
seen = []


class UnicornException(Exception):
    def __init__(self, name: str):
        self.name = name


@app.exception_handler(UnicornException)
async def unicorn_exception_handler(request: Request, exc: UnicornException):
    return JSONResponse(status_code=418, content={"message": f"Oops! {exc.name} did something. There goes a rainbow..."})


@app.exception_handler(RequestValidationError)
async def validation_exception_handler(request: Request, exc: RequestValidationError):
    if request.url.path.startswith("/plain"):
        return PlainTextResponse(str(len(exc.errors())) + " errors", status_code=400)
    if request.url.path.startswith("/reuse"):
        return await request_validation_exception_handler(request, exc)
    return JSONResponse(status_code=422, content=jsonable_encoder({"detail": exc.errors(), "body": exc.body}))


@app.exception_handler(HTTPException)
async def custom_http_exception_handler(request, exc):
    seen.append(exc.status_code)
    return await http_exception_handler(request, exc)


@app.get("/unicorns/{name}")
async def read_unicorn(name: str):
    if name == "yolo":
        raise UnicornException(name=name)
    return {"unicorn_name": name}


@app.get("/items/{item_id}")
async def read_item(item_id: str):
    if item_id != "foo":
        raise HTTPException(status_code=404, detail="Item not found", headers={"X-Error": "There goes my error"})
    return {"item": "The Foo Wrestlers"}


@app.get("/plain/{item_id}")
async def plain(item_id: int):
    return {"item_id": item_id}


@app.get("/reuse/{item_id}")
async def reuse(item_id: int):
    return {"item_id": item_id}


@app.post("/body/")
async def body(title: str, size: int):
    return {"title": title, "size": size}


@app.get("/detail-obj/")
async def detail_obj():
    raise HTTPException(status_code=409, detail={"reason": "conflict", "ids": [1, 2]})


@app.get("/seen/")
def get_seen():
    return seen


REQUESTS = [
    ("GET", "/unicorns/yolo"), ("GET", "/unicorns/ok"), ("GET", "/items/foo"), ("GET", "/items/bar"),
    ("GET", "/plain/x"), ("GET", "/reuse/x"), ("POST", "/body/?title=t&size=big"), ("GET", "/detail-obj/"),
    ("GET", "/nowhere"), ("GET", "/seen/"),
]
