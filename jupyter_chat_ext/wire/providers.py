"""OpenAI-compatible providers added at run time: add, edit, test; the answers never carry a key.

The shapes and limits a request can be checked against alone are here; what needs the saved
providers or the machine (a name taken, no keyring, a URL's port) stays in the core's
``ProviderService`` (``providers/service.py``), which the kernel's ``%chat provider`` uses too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Answer, Body

__all__ = [
    "Provider",
    "ProviderCreate",
    "ProviderDeleted",
    "ProviderList",
    "ProviderTestRequest",
    "ProviderTestResult",
    "ProviderUpdate",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
URL_PATTERN = r"^https?://"
Preset = Literal["ollama", "lmstudio", "llama-server", "vllm", "openai"]
ModelName = Annotated[str, Field(min_length=1, max_length=200)]


class _Endpoint(Body):
    """What an add, an edit and a test share. Give ``api_key`` (kept in the OS keyring) or
    ``api_key_env`` (a variable of the server), not both."""

    api_key: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        json_schema_extra={"writeOnly": True},
        description="kept in the OS keyring",
    )
    api_key_env: str | None = Field(
        None, pattern=ENV_PATTERN, description="an environment variable of the server that holds the key"
    )
    models: list[ModelName] | None = Field(
        None, max_length=200, description="the models to list (default: what the endpoint's /models says)"
    )
    timeout_s: float | None = Field(None, gt=0, le=3600, description="seconds per request")


class ProviderUpdate(_Endpoint):
    """``PUT /providers/{name}``: the fields to change (a provider of jupyter_server_config is 409)."""

    name: str | None = Field(
        None, pattern=NAME_PATTERN, description="must be the provider's own (no renames)"
    )
    base_url: str | None = Field(
        None, max_length=2000, pattern=URL_PATTERN, examples=["http://localhost:11434/v1"]
    )
    preset: Preset | None = None
    clear_key: bool | None = Field(None, description="forget the key")


class ProviderCreate(_Endpoint):
    """``POST /providers``: its models show as ``<name>/<model>`` at once. A key goes to the OS
    keyring (400 when there is none: name an environment variable instead)."""

    name: str = Field(pattern=NAME_PATTERN, description="the prefix of its model ids")
    base_url: str = Field(max_length=2000, pattern=URL_PATTERN, examples=["http://localhost:11434/v1"])
    preset: Preset | None = None


class ProviderTestRequest(_Endpoint):
    """``POST /providers/{name}/test``: empty for a saved provider, or the draft before it is saved."""

    base_url: str | None = Field(None, max_length=2000, pattern=URL_PATTERN)
    model: ModelName | None = Field(None, description="the model to ask (default: the first listed)")


class Provider(Answer):
    name: str
    base_url: str
    source: Literal["user", "config"] = Field(
        description="user: added at run time; config: jupyter_server_config"
    )
    editable: bool | None = None
    key: Literal["keyring", "env", "config", "none"] = Field(
        description="where the key comes from (never the key)"
    )
    api_key_env: str | None = None
    key_set: bool
    models: list[str]
    timeout_s: float | None = None
    preset: str | None = None


class PresetInfo(Answer):
    id: str
    label: str
    base_url: str
    needs_key: bool | None = None
    key_env: str | None = None


class Keyring(Answer):
    available: bool
    backend: str | None = None
    note: str | None = None


class ProviderList(Answer):
    providers: list[Provider] = Field(
        description="configured endpoints (read-only) and those added at run time"
    )
    presets: list[PresetInfo]
    keyring: Keyring
    file: str | None = Field(None, description="where the providers are saved")
    problems: list[str] | None = None


class ProviderDeleted(Answer):
    deleted: str


class ProviderTestResult(Answer):
    """What the endpoint answered: its models, and a short streamed answer (time to first token)."""

    ok: bool
    name: str | None = None
    base_url: str | None = None
    models: list[str]
    models_error: str | None = None
    model: str | None = None
    model_id: str | None = None
    answer: str
    ttft_s: float | None = None
    total_s: float | None = None
    error: str | None = None
