"""The generated side of the wire: the TypeScript types are current, and the generator's rules hold.

``labextension/src/api/schema.ts`` is checked in (the sidebar builds without Python); it must be
exactly what ``jlpm gen:api`` (``make wire``) makes from today's declarations, so a field added
to a wire model and not regenerated fails here, not in a user's browser.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field

from jupyter_chat_ext.wire.base import Answer, Body, Error, Query
from jupyter_chat_ext.wire.openapi import Route, build_document
from jupyter_chat_ext.wire.ops import op

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "labextension"
SCHEMA_TS = LAB / "src" / "api" / "schema.ts"
GENERATOR = LAB / "node_modules" / ".bin" / "openapi-typescript"


def gen_api_flags() -> list[str]:
    """The openapi-typescript options of package.json's ``gen:api`` (one place says them)."""
    script = json.loads((LAB / "package.json").read_text(encoding="utf-8"))["scripts"]["gen:api"]
    args = shlex.split(script.split("| openapi-typescript", 1)[1])
    out = args.index("-o")
    return args[:out] + args[out + 2 :]


@pytest.mark.skipif(not GENERATOR.exists(), reason="labextension/node_modules is absent (jlpm install)")
def test_checked_in_typescript_matches_a_fresh_generation(tmp_path):
    document = subprocess.run(
        [sys.executable, "-m", "jupyter_chat_ext.server.openapi"],
        capture_output=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout
    fresh = tmp_path / "schema.ts"
    subprocess.run(
        [str(GENERATOR), *gen_api_flags(), "-o", str(fresh)],
        input=document,
        capture_output=True,
        check=True,
        cwd=LAB,
        timeout=120,
    )
    assert fresh.read_text(encoding="utf-8") == SCHEMA_TS.read_text(encoding="utf-8"), (
        "labextension/src/api/schema.ts is stale: run `make wire` and commit it"
    )


# -- the generator's rules, on a made-up route ------------------------------------------------


class Ping(Body):
    """a made-up body"""

    text: str = Field(max_length=10)


class PingQuery(Query):
    q: str | None = Field(None, max_length=5, description="words")
    limit: int = Field(3, ge=1)


class Pong(Answer):
    """what a ping answers"""

    text: str


class Started(Answer):
    type: Literal["start"]


class Said(Answer):
    type: Literal["said"]
    text: str


PingEvent = Annotated[Started | Said, Field(discriminator="type")]


@op("Ping", body=Ping, query=PingQuery, answer=Pong, stream=PingEvent, tag="server", errors=(409, 503))
async def post(self, body: Ping, query: PingQuery) -> None: ...


@op(errors=(202, {404: "no such ping"}, ("4XX", Pong | Error)))
async def put(self) -> None:
    """Put a ping.

    More words.
    """


def made_up() -> dict:
    return build_document(
        [Route(r"pings/(?P<key>[^/]+)", "PingHandler", {"post": post, "put": put})], version="9"
    )


def test_an_operation_comes_from_its_op():
    doc = made_up()
    item = doc["paths"]["/pings/{key}"]
    assert item["parameters"] == [{"$ref": "#/components/parameters/CacheKey"}]
    posted = item["post"]
    assert posted["operationId"] == "postPing" and posted["tags"] == ["server"]
    assert posted["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Ping"
    }
    # a query model's fields are parameters; null is "absent" in a query string
    q, limit = posted["parameters"]
    assert q == {
        "name": "q",
        "in": "query",
        "schema": {"type": "string", "maxLength": 5},
        "description": "words",
    }
    assert limit["schema"] == {"type": "integer", "minimum": 1, "default": 3} and "required" not in limit
    answer = posted["responses"]["200"]
    assert answer["description"] == "what a ping answers"
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Pong"}
    frame = answer["content"]["text/event-stream"]["schema"]
    assert frame["properties"]["event"]["enum"] == ["start", "said"]
    assert frame["properties"]["data"]["contentSchema"] == {"$ref": "#/components/schemas/PingEvent"}
    assert posted["responses"]["4XX"] == {"$ref": "#/components/responses/Error"}
    assert posted["responses"]["503"] == {"$ref": "#/components/responses/Unavailable"}  # Retry-After
    schemas = doc["components"]["schemas"]
    assert schemas["Ping"]["additionalProperties"] is False  # bodies refuse unknown fields
    assert "additionalProperties" not in schemas["Pong"]  # answers stay open (JSON Schema's default)
    assert "title" not in schemas["Ping"]["properties"]["text"]


def test_errors_of_every_form_and_a_docstring_summary():
    put_op = made_up()["paths"]["/pings/{key}"]["put"]
    assert put_op["summary"] == "Put a ping." and put_op["description"] == "More words."
    responses = put_op["responses"]
    assert responses["202"] == {"description": "accepted"}
    assert responses["404"]["description"] == "no such ping"
    assert responses["4XX"]["content"]["application/json"]["schema"] == {
        "anyOf": [{"$ref": "#/components/schemas/Pong"}, {"$ref": "#/components/schemas/Error"}]
    }


def test_the_generated_document_validates():
    from openapi_spec_validator import validate

    validate(made_up())
