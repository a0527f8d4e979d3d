"""Tutorial/advanced: status codes, Response parameter, custom response
classes, returning a Response directly, headers and cookies."""
from fastapi import FastAPI, Response, status
from fastapi.responses import (HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse,
                               StreamingResponse)

app = FastAPI()


@app.post("/items/", status_code=201)
async def create_item(name: str):
    return {"name": name}


@app.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(item_id: int):
    return None


@app.put("/get-or-create/{task_id}", status_code=200)
def get_or_create_task(task_id: str, response: Response):
    if task_id not in ("foo", "bar"):
        response.status_code = status.HTTP_201_CREATED
    return {"task_id": task_id}


@app.get("/headers-and-object/")
def get_headers(response: Response):
    response.headers["X-Cat-Dog"] = "alone in the world"
    response.set_cookie(key="fakesession", value="fake-cookie-session-value")
    return {"message": "Hello World"}


@app.get("/html/", response_class=HTMLResponse)
async def read_html():
    return "<html><body><h1>Look ma! HTML!</h1></body></html>"


@app.get("/text/", response_class=PlainTextResponse)
async def read_text():
    return "Hello World"


@app.get("/legacy/")
def get_legacy_data():
    data = """<?xml version="1.0"?><shampoo><Header>Apply shampoo here.</Header></shampoo>"""
    return Response(content=data, media_type="application/xml")


@app.get("/typer")
async def redirect_typer():
    return RedirectResponse("https://typer.tiangolo.com")


@app.get("/redirect-local")
async def redirect_local():
    return RedirectResponse("/text/", status_code=302)


@app.get("/json-custom/")
def json_custom():
    return JSONResponse(status_code=202, content={"message": "accepted"}, headers={"X-Extra": "1"})


async def fake_video_streamer():
    for i in range(3):
        yield b"some fake video bytes "


@app.get("/stream/")
async def stream():
    return StreamingResponse(fake_video_streamer())


@app.get("/cookie-delete/")
def cookie_delete(response: Response):
    response.delete_cookie("fakesession")
    return {}


REQUESTS = [
    ("POST", "/items/?name=a"), ("DELETE", "/items/3"), ("PUT", "/get-or-create/foo"), ("PUT", "/get-or-create/baz"),
    ("GET", "/headers-and-object/"), ("GET", "/html/"), ("GET", "/text/"), ("GET", "/legacy/"),
    ("GET", "/typer", {"follow_redirects": False}), ("GET", "/redirect-local"),
    ("GET", "/redirect-local", {"follow_redirects": False}),
    ("GET", "/json-custom/"), ("GET", "/stream/"), ("GET", "/cookie-delete/"), ("HEAD", "/text/"),
]
