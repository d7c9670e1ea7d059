"""Shared request-model building blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shiplane.clock import as_utc

SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SHA_PATTERN = r"^[0-9a-fA-F]{7,64}$"

Slug = Annotated[str, Field(pattern=SLUG_PATTERN, description="lower-case slug, e.g. `web` or `production`")]
MIN_YEAR, MAX_YEAR = 1970, 2999


def in_range(value: datetime) -> datetime:
    """Client timestamps: aware UTC, and within years we can do arithmetic around."""
    value = as_utc(value)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


UTC = Annotated[datetime, AfterValidator(in_range)]


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Reason = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(not_blank)]


def _reject_nul(value: Any) -> Any:
    # PostgreSQL text cannot hold U+0000; refuse it on every engine alike.
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item)
    return value


class Strict(BaseModel):
    """Base for request bodies: no NUL characters in any text field."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _reject_nul(value)


class Body(Strict):
    # Unknown fields are rejected: a misspelt "overide_reason" must not be silently dropped.
    model_config = ConfigDict(extra="forbid")
