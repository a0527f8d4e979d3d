"""Tutorial: metadata and docs URLs, path operation configuration
(summary, description, docstring, response_description, deprecated,
operation_id, include_in_schema, openapi_extra)."""
from fastapi import FastAPI, status
from pydantic import BaseModel

description = """
ChimichangApp API helps you do awesome stuff.

## Items

You can **read items**.
"""

tags_metadata = [
    {"name": "users", "description": "Operations with users. The **login** logic is also here."},
    {"name": "items", "description": "Manage items.",
     "externalDocs": {"description": "Items external docs", "url": "https://fastapi.tiangolo.com/"}},
]

app = FastAPI(title="ChimichangApp", description=description, summary="Deadpool's favorite app.",
              version="0.0.1", terms_of_service="http://example.com/terms/",
              contact={"name": "Deadpoolio the Amazing", "url": "http://x-force.example.com/contact/",
                       "email": "dp@x-force.example.com"},
              license_info={"name": "Apache 2.0", "identifier": "Apache-2.0"},
              openapi_tags=tags_metadata)


class Item(BaseModel):
    name: str
    price: float


@app.post("/items/", response_model=Item, status_code=status.HTTP_201_CREATED, tags=["items"],
          summary="Create an item", response_description="The created item")
async def create_item(item: Item):
    """
    Create an item with all the information:

    - **name**: each item must have a name
    - **price**: required
    \f
    :param item: User input.
    """
    return item


@app.get("/users/", tags=["users"], operation_id="list_users", description="List them all")
async def read_users():
    return [{"username": "johndoe"}]


@app.get("/elements/", tags=["items"], deprecated=True)
async def read_elements():
    return [{"item_id": "Foo"}]


@app.get("/hidden/", include_in_schema=False)
async def hidden():
    return {"hidden": True}


@app.get("/extra/", openapi_extra={"x-aperture-labs-portal": "blue"})
async def extra():
    return {}


REQUESTS = [("POST", "/items/", {"json": {"name": "n", "price": 1}}), ("GET", "/hidden/"), ("GET", "/docs"),
            ("GET", "/redoc")]
