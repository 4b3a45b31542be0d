"""Request bodies and query strings of the alarm API: pydantic models, unknown keys refused."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plant.alarms.model import AlarmKind, AlarmState, Outcome
from plant.labels import FaultClass
from plant.topics import ID_PATTERN
from plant.users import Role

Comment = Field(default="", max_length=2000, description="free text kept in the journal")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    ttl_s: float | None = Field(default=None, gt=0, description="default and cap: api.token_ttl_s")
    label: str = Field(default="", max_length=200, description="what the token is for")


class CommentOnly(Strict):
    comment: str = Comment


class CommentRequest(Strict):
    comment: str = Field(min_length=1, max_length=2000)


class ShelveRequest(Strict):
    duration_s: float = Field(gt=0, description="how long; at most api.max_shelve_s")
    comment: str = Comment


class CloseRequest(Strict):
    outcome: Outcome
    fault_class: FaultClass | None = Field(
        default=None, description="the fault found: required with confirmed_fault only"
    )
    comment: str = Comment

    @model_validator(mode="after")
    def _fault_with_confirmed(self) -> Self:
        if (self.outcome is Outcome.CONFIRMED_FAULT) != (self.fault_class is not None):
            raise ValueError("fault_class is required with, and only with, confirmed_fault")
        return self


class UserCreate(Strict):
    username: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
    password: str = Field(min_length=10, max_length=1024)
    role: Role


class AlarmQuery(Strict):
    state: AlarmState | None = None
    kind: AlarmKind | None = None
    priority: str | None = Field(
        default=None, pattern="^(low|medium|high|critical)$", description="this or higher"
    )
    area: str | None = Field(default=None, pattern=ID_PATTERN.pattern)
    asset: str | None = Field(default=None, pattern=ID_PATTERN.pattern)
    open: bool | None = Field(default=None, description="true: open alarms; false: closed ones")
    limit: int = Field(default=500, ge=1, le=10_000)
