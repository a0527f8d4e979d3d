"""Tutorial: path parameters, numeric validations, enums, the path convertor."""
from enum import Enum
from typing import Annotated

from fastapi import FastAPI, Path

app = FastAPI()


class ModelName(str, Enum):
    alexnet = "alexnet"
    resnet = "resnet"
    lenet = "lenet"


@app.get("/items/{item_id}")
def read_item(item_id: int):
    return {"item_id": item_id}


@app.get("/users/me")
def read_user_me():
    return {"user_id": "the current user"}


@app.get("/users/{user_id}")
def read_user(user_id: str):
    return {"user_id": user_id}


@app.get("/models/{model_name}")
async def get_model(model_name: ModelName):
    if model_name is ModelName.alexnet:
        return {"model_name": model_name, "message": "Deep Learning FTW!"}
    return {"model_name": model_name, "message": "Have some residuals"}


@app.get("/files/{file_path:path}")
async def read_file(file_path: str):
    return {"file_path": file_path}


@app.get("/sized/{item_id}")
async def read_sized(item_id: Annotated[int, Path(title="The ID of the item to get", ge=1, le=1000)],
                     size: Annotated[float, Path(gt=0, lt=10.5)] = 1.0):
    return {"item_id": item_id}


@app.get("/floats/{x}")
def read_float(x: float):
    return {"x": x}


REQUESTS = [
    ("GET", "/items/3"), ("GET", "/items/foo"), ("GET", "/items/4.2"),
    ("GET", "/users/me"), ("GET", "/users/alice"),
    ("GET", "/models/alexnet"), ("GET", "/models/lenet"), ("GET", "/models/vgg"),
    ("GET", "/files/home/johndoe/myfile.txt"),
    ("GET", "/sized/5"), ("GET", "/sized/0"), ("GET", "/sized/1001"), ("GET", "/sized/x"),
    ("GET", "/floats/1.5"), ("GET", "/floats/nan-ish"),
    ("GET", "/nowhere"), ("POST", "/items/3"),
]
