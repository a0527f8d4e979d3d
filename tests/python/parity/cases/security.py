"""Tutorial: security utilities: OAuth2PasswordBearer with the password
form, HTTPBasic, HTTPBearer, API keys in a header, a query and a cookie."""
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import (APIKeyCookie, APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBasic,
                              HTTPBasicCredentials, HTTPBearer, OAuth2PasswordBearer, OAuth2PasswordRequestForm)

app = FastAPI()

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
basic = HTTPBasic()
bearer = HTTPBearer(auto_error=False)
header_key = APIKeyHeader(name="X-API-Key")
query_key = APIKeyQuery(name="api_key", auto_error=False)
cookie_key = APIKeyCookie(name="session")

users = {"johndoe": "secret"}


@app.post("/token")
async def login(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]):
    if users.get(form_data.username) != form_data.password:
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    return {"access_token": form_data.username, "token_type": "bearer", "scopes": form_data.scopes}


@app.get("/users/me")
async def read_users_me(token: Annotated[str, Depends(oauth2_scheme)]):
    return {"token": token}


@app.get("/basic")
def read_basic(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]):
    ok = secrets.compare_digest(credentials.username.encode(), b"stanley") and \
        secrets.compare_digest(credentials.password.encode(), b"swordfish")
    if not ok:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Incorrect username or password",
                            headers={"WWW-Authenticate": "Basic"})
    return {"username": credentials.username}


@app.get("/bearer")
def read_bearer(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]):
    return {"scheme": creds.scheme if creds else None, "credentials": creds.credentials if creds else None}


@app.get("/keys")
def read_keys(h: Annotated[str, Depends(header_key)], q: Annotated[str | None, Depends(query_key)],
              c: Annotated[str, Depends(cookie_key)]):
    return {"header": h, "query": q, "cookie": c}


REQUESTS = [
    ("POST", "/token", {"data": {"username": "johndoe", "password": "secret", "scope": "me items"}}),
    ("POST", "/token", {"data": {"username": "johndoe", "password": "nope"}}),
    ("POST", "/token", {"data": {"username": "johndoe"}}),
    ("GET", "/users/me"), ("GET", "/users/me", {"headers": {"Authorization": "Bearer abc"}}),
    ("GET", "/users/me", {"headers": {"Authorization": "Basic abc"}}),
    ("GET", "/basic"), ("GET", "/basic", {"auth": ("stanley", "swordfish")}),
    ("GET", "/basic", {"auth": ("stanley", "wrong")}),
    ("GET", "/basic", {"headers": {"Authorization": "Basic !!!notbase64"}}),
    ("GET", "/bearer"), ("GET", "/bearer", {"headers": {"Authorization": "Bearer tok"}}),
    ("GET", "/bearer", {"headers": {"Authorization": "Digest x"}}),
    ("GET", "/keys"), ("GET", "/keys?api_key=q", {"headers": {"X-API-Key": "h", "Cookie": "session=s"}}),
    ("GET", "/keys", {"headers": {"X-API-Key": "h"}}),
]
