"""Security utilities, as in ``fastapi.security``: dependencies that read
credentials from a request (``Authorization`` header, API keys in a
header, the query string or a cookie) and describe themselves in the
OpenAPI document (``components.securitySchemes`` and each operation's
``security``)::

    from fasterapi.security import OAuth2PasswordBearer

    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    @app.get("/users/me")
    async def me(token: Annotated[str, Depends(oauth2_scheme)]):
        ...

Missing or malformed credentials answer 401 ``{"detail": "Not
authenticated"}`` with the ``WWW-Authenticate`` challenge of the scheme, as
FastAPI does; ``auto_error=False`` gives ``None`` instead, so several
schemes can be tried.  The credential objects are dataclasses (pydantic
cannot load in a worker interpreter); their fields and names are FastAPI's.
"""
import binascii
from base64 import b64decode
from dataclasses import dataclass
from typing import Annotated

from .exceptions import HTTPException
from .params import Form, SecurityScopes
from .requests import Request

__all__ = ["APIKeyCookie", "APIKeyHeader", "APIKeyQuery", "HTTPAuthorizationCredentials", "HTTPBase",
           "HTTPBasic", "HTTPBasicCredentials", "HTTPBearer", "HTTPDigest", "OAuth2",
           "OAuth2AuthorizationCodeBearer", "OAuth2PasswordBearer", "OAuth2PasswordRequestForm",
           "OAuth2PasswordRequestFormStrict", "OpenIdConnect", "SecurityBase", "SecurityScopes",
           "get_authorization_scheme_param"]


def get_authorization_scheme_param(value: str | None) -> tuple:
    """``"Bearer abc"`` -> ``("Bearer", "abc")``; ``("", "")`` when absent."""
    if not value:
        return "", ""
    scheme, _, param = value.partition(" ")
    return scheme, param.strip()


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class SecurityBase:
    """What the OpenAPI generator looks for in a dependency tree: ``model``
    (the security scheme object, a dict in OpenAPI's spelling) and
    ``scheme_name`` (its key in ``components.securitySchemes``)."""

    model: dict
    scheme_name: str

    def _unauthenticated(self, challenge: str) -> HTTPException:
        return HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": challenge})


# ---------------------------------------------------------------------------
# HTTP authentication schemes (RFC 7235)
# ---------------------------------------------------------------------------

@dataclass
class HTTPBasicCredentials:
    """What ``HTTPBasic`` gives the endpoint."""
    username: str
    password: str


@dataclass
class HTTPAuthorizationCredentials:
    """What ``HTTPBearer``/``HTTPDigest`` give: the ``Authorization`` value
    split at its first space."""
    scheme: str
    credentials: str


class HTTPBase(SecurityBase):
    """An ``Authorization: <scheme> <credentials>`` scheme."""

    def __init__(self, *, scheme: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True):
        self.model = _drop_none({"type": "http", "scheme": scheme, "description": description})
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_authenticate_headers(self) -> dict:
        return {"WWW-Authenticate": self.model["scheme"].title()}

    def make_not_authenticated_error(self) -> HTTPException:
        return HTTPException(401, "Not authenticated", headers=self.make_authenticate_headers())

    def _fail(self):
        if self.auto_error:
            raise self.make_not_authenticated_error()
        return None

    def _credentials(self, request: Request, want: str | None):
        value = request.headers.get("authorization")
        scheme, credentials = get_authorization_scheme_param(value)
        if not (value and scheme and credentials):
            return self._fail()
        if want is not None and scheme.lower() != want:
            return self._fail()
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, None)


class HTTPBasic(HTTPBase):
    """HTTP Basic authentication (RFC 7617): gives HTTPBasicCredentials.
    A header that is not valid base64 of ``user:password`` answers 401
    even with ``auto_error=False``, as FastAPI does."""

    def __init__(self, *, scheme_name: str | None = None, realm: str | None = None,
                 description: str | None = None, auto_error: bool = True):
        super().__init__(scheme="basic", scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.realm = realm

    def make_authenticate_headers(self) -> dict:
        return {"WWW-Authenticate": f'Basic realm="{self.realm}"' if self.realm else "Basic"}

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:
        value = request.headers.get("authorization")
        scheme, param = get_authorization_scheme_param(value)
        if not value or scheme.lower() != "basic":
            return self._fail()
        try:
            decoded = b64decode(param).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise self.make_not_authenticated_error() from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise self.make_not_authenticated_error()
        return HTTPBasicCredentials(username=username, password=password)


class HTTPBearer(HTTPBase):
    """``Authorization: Bearer <token>``: gives HTTPAuthorizationCredentials."""

    def __init__(self, *, bearerFormat: str | None = None, scheme_name: str | None = None,  # noqa: N803
                 description: str | None = None, auto_error: bool = True):
        super().__init__(scheme="bearer", scheme_name=scheme_name, description=description, auto_error=auto_error)
        if bearerFormat is not None:
            self.model["bearerFormat"] = bearerFormat

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "bearer")


class HTTPDigest(HTTPBase):
    """``Authorization: Digest ...`` handed over as is (the digest itself is
    the application's to check, as in FastAPI)."""

    def __init__(self, *, scheme_name: str | None = None, description: str | None = None, auto_error: bool = True):
        super().__init__(scheme="digest", scheme_name=scheme_name, description=description, auto_error=auto_error)

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "digest")


# ---------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------

class APIKeyBase(SecurityBase):
    """An API key found by name in one place of the request."""

    where = ""

    def __init__(self, *, name: str, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True):
        self.model = _drop_none({"type": "apiKey", "in": self.where, "name": name, "description": description})
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_not_authenticated_error(self) -> HTTPException:
        return self._unauthenticated("APIKey")

    def check_api_key(self, api_key: str | None) -> str | None:
        if api_key:
            return api_key
        if self.auto_error:
            raise self.make_not_authenticated_error()
        return None


class APIKeyQuery(APIKeyBase):
    """An API key in the query string (``?api_key=...``)."""
    where = "query"

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.query_params.get(self.model["name"]))


class APIKeyHeader(APIKeyBase):
    """An API key in a request header."""
    where = "header"

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.headers.get(self.model["name"]))


class APIKeyCookie(APIKeyBase):
    """An API key in a cookie."""
    where = "cookie"

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.cookies.get(self.model["name"]))


# ---------------------------------------------------------------------------
# OAuth2 and OpenID Connect
# ---------------------------------------------------------------------------

class OAuth2PasswordRequestForm:
    """The OAuth2 password flow's form (RFC 6749 4.3.2): ``username``,
    ``password``, ``scope`` (space separated, given as ``scopes``), and the
    optional ``grant_type``, ``client_id``, ``client_secret``.  Use it as
    ``Annotated[OAuth2PasswordRequestForm, Depends()]``."""

    def __init__(self, *, grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
                 username: Annotated[str, Form()],
                 password: Annotated[str, Form(json_schema_extra={"format": "password"})],
                 scope: Annotated[str, Form()] = "",
                 client_id: Annotated[str | None, Form()] = None,
                 client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None):
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """OAuth2PasswordRequestForm with ``grant_type=password`` required."""

    def __init__(self, grant_type: Annotated[str, Form(pattern="^password$")],
                 username: Annotated[str, Form()], password: Annotated[str, Form()],
                 scope: Annotated[str, Form()] = "", client_id: Annotated[str | None, Form()] = None,
                 client_secret: Annotated[str | None, Form()] = None):
        super().__init__(grant_type=grant_type, username=username, password=password, scope=scope,
                         client_id=client_id, client_secret=client_secret)


class OAuth2(SecurityBase):
    """OAuth2 with the given ``flows`` (OpenAPI's OAuth Flows object, a
    dict); gives the whole ``Authorization`` header value."""

    def __init__(self, *, flows=None, scheme_name: str | None = None, description: str | None = None,
                 auto_error: bool = True):
        self.model = _drop_none({"type": "oauth2", "flows": dict(flows or {}), "description": description})
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_not_authenticated_error(self) -> HTTPException:
        return self._unauthenticated("Bearer")

    def _fail(self):
        if self.auto_error:
            raise self.make_not_authenticated_error()
        return None

    async def __call__(self, request: Request) -> str | None:
        value = request.headers.get("authorization")
        return value if value else self._fail()

    def _bearer_token(self, request: Request) -> str | None:
        value = request.headers.get("authorization")
        scheme, token = get_authorization_scheme_param(value)
        if not value or scheme.lower() != "bearer":
            return self._fail()
        return token


def _flow(**fields) -> dict:
    return _drop_none(fields)


class OAuth2PasswordBearer(OAuth2):
    """The password flow with a bearer token: ``tokenUrl`` is where the
    client posts OAuth2PasswordRequestForm; gives the token."""

    def __init__(self, tokenUrl: str, scheme_name: str | None = None, scopes: dict | None = None,  # noqa: N803
                 description: str | None = None, auto_error: bool = True, refreshUrl: str | None = None):  # noqa: N803
        super().__init__(flows={"password": _flow(tokenUrl=tokenUrl, refreshUrl=refreshUrl, scopes=scopes or {})},
                         scheme_name=scheme_name, description=description, auto_error=auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self._bearer_token(request)


class OAuth2AuthorizationCodeBearer(OAuth2):
    """The authorization-code flow with a bearer token; gives the token."""

    def __init__(self, authorizationUrl: str, tokenUrl: str, refreshUrl: str | None = None,  # noqa: N803
                 scheme_name: str | None = None, scopes: dict | None = None, description: str | None = None,
                 auto_error: bool = True):
        flow = _flow(authorizationUrl=authorizationUrl, tokenUrl=tokenUrl, refreshUrl=refreshUrl,
                     scopes=scopes or {})
        super().__init__(flows={"authorizationCode": flow}, scheme_name=scheme_name, description=description,
                         auto_error=auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self._bearer_token(request)


class OpenIdConnect(SecurityBase):
    """OpenID Connect discovery at ``openIdConnectUrl``; gives the whole
    ``Authorization`` header value."""

    def __init__(self, *, openIdConnectUrl: str, scheme_name: str | None = None,  # noqa: N803
                 description: str | None = None, auto_error: bool = True):
        self.model = _drop_none({"type": "openIdConnect", "openIdConnectUrl": openIdConnectUrl,
                                 "description": description})
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: Request) -> str | None:
        value = request.headers.get("authorization")
        if value:
            return value
        if self.auto_error:
            raise self._unauthenticated("Bearer")
        return None
