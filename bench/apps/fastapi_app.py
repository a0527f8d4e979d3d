"""FastAPI app (served by Uvicorn): the framework most users would pick."""
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

app = FastAPI()
CPU_LOOPS = 20000


@app.get("/", response_class=PlainTextResponse)
async def plaintext():
    return "Hello, World!"


@app.get("/json")
async def json_hello():
    return {"message": "Hello, World!"}


@app.get("/user/{id}")
async def user(id: str):
    return {"id": id}


@app.post("/echo")
async def echo(request: Request):
    return Response(await request.body(), media_type="application/json")


@app.get("/cpu", response_class=PlainTextResponse)
def cpu():
    total = 0
    for i in range(CPU_LOOPS):
        total += i * i % 7
    return str(total)
