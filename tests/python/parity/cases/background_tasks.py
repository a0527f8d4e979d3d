"""Tutorial: background tasks, in the endpoint and in a dependency."""
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI

app = FastAPI()
log = []


def write_log(message: str):
    log.append(message)


async def write_async(message: str):
    log.append("async " + message)


def get_query(background_tasks: BackgroundTasks, q: str | None = None):
    if q:
        background_tasks.add_task(write_log, f"found query: {q}")
    return q


@app.post("/send-notification/{email}")
async def send_notification(email: str, background_tasks: BackgroundTasks, q: Annotated[str, Depends(get_query)]):
    background_tasks.add_task(write_log, f"message to {email}")
    background_tasks.add_task(write_async, email)
    return {"message": "Message sent", "log_before": list(log)}


@app.get("/log")
def get_log():
    return log


REQUESTS = [("POST", "/send-notification/a@example.com?q=x"), ("GET", "/log"),
            ("POST", "/send-notification/b@example.com"), ("GET", "/log")]
