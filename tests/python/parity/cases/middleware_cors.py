"""Tutorial: middleware (@app.middleware("http")) and CORS."""
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()

app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"], allow_credentials=True,
                   allow_methods=["*"], allow_headers=["*"])


@app.middleware("http")
async def add_process_time_header(request: Request, call_next):
    start_time = time.perf_counter()
    response = await call_next(request)
    process_time = time.perf_counter() - start_time
    response.headers["X-Process-Time-Set"] = "yes" if process_time >= 0 else "no"
    return response


@app.get("/")
async def main():
    return {"message": "Hello World"}


REQUESTS = [
    ("GET", "/"),
    ("GET", "/", {"headers": {"Origin": "https://example.com"}}),
    ("GET", "/", {"headers": {"Origin": "https://evil.example"}}),
    ("OPTIONS", "/", {"headers": {"Origin": "https://example.com", "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "X-Custom"}}),
    ("OPTIONS", "/", {"headers": {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}}),
    ("GET", "/missing"),
]
