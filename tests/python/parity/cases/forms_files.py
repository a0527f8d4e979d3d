"""Tutorial: form data, files, UploadFile, forms and files together."""
from typing import Annotated

from fastapi import FastAPI, File, Form, UploadFile

app = FastAPI()


@app.post("/login/")
async def login(username: Annotated[str, Form()], password: Annotated[str, Form(min_length=3)]):
    return {"username": username}


@app.post("/files/")
async def create_file(file: Annotated[bytes, File()]):
    return {"file_size": len(file)}


@app.post("/uploadfile/")
async def create_upload_file(file: UploadFile):
    content = await file.read()
    return {"filename": file.filename, "content_type": file.content_type, "size": len(content)}


@app.post("/uploadfiles/")
async def create_upload_files(files: list[UploadFile]):
    return {"filenames": [file.filename for file in files]}


@app.post("/mixed/")
async def mixed(file: Annotated[bytes, File()], fileb: Annotated[UploadFile, File()], token: Annotated[str, Form()]):
    return {"file_size": len(file), "token": token, "fileb_content_type": fileb.content_type}


REQUESTS = [
    ("POST", "/login/", {"data": {"username": "u", "password": "secret"}}),
    ("POST", "/login/", {"data": {"username": "u", "password": "s"}}),
    ("POST", "/login/", {"data": {"username": "u"}}),
    ("POST", "/files/", {"files": {"file": ("a.txt", b"hello", "text/plain")}}),
    ("POST", "/files/"),
    ("POST", "/uploadfile/", {"files": {"file": ("b.png", b"\x89PNG....", "image/png")}}),
    ("POST", "/uploadfiles/", {"files": [("files", ("a.txt", b"a", "text/plain")),
                                         ("files", ("b.txt", b"b", "text/plain"))]}),
    ("POST", "/mixed/", {"data": {"token": "t"}, "files": {"file": ("a", b"abc", "text/plain"),
                                                           "fileb": ("b", b"x", "text/csv")}}),
    ("POST", "/mixed/", {"data": {"token": "t"}}),
]
