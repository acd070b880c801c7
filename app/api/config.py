"""The API's settings: one pydantic-settings `Settings`, read from COOPCHAIN_* environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coopchain.service.front_pool import default_processes


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COOPCHAIN_", env_ignore_empty=True, extra="ignore")

    db: str = Field("sqlite:///coopchain.db", description="the ledger's database URL (COOPCHAIN_DB)")
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="largest request body; larger ones get 413")
    front_processes: int = Field(default_factory=default_processes, ge=1, description="processes that run front jobs' grid points, per worker (default: the cores)")
    max_active_jobs: int = Field(8, ge=1, description="front jobs queued or running at once, over all workers; more get 429")
    dask: str | None = Field(None, description="tcp://scheduler:8786: front jobs run on that Dask cluster instead of local processes (COOPCHAIN_DASK)")
    node_key: str | None = Field(None, description="the node's key file: with it this server commits submitted transactions (COOPCHAIN_NODE_KEY)")
    standby_committer: bool = Field(False, description="set by `coopchain serve` for its workers when a committer process of its own runs beside them: a worker then commits only if queued transactions wait 2 s past their block's deadline (that process is down)")
    batch_transactions: int = Field(1000, ge=1, le=100_000, description="a block is cut when this many submitted transactions wait …")
    batch_wait_ms: float = Field(100.0, gt=0, le=60_000, description="… or when the first of them has waited this long")
    key_cache_s: float = Field(1.0, ge=0, le=60, description="how long a worker trusts an API key it has looked up; a key revoked through another worker or the command line is refused after at most this (0: a query per request)")
    fast_lane: bool = Field(True, description="serve the hot routes (submitting, block, transaction, receipt and proof reads) through app.api.fast; off: all through FastAPI's own routing")
    gil_switch_ms: float = Field(0.5, gt=0, le=100, description="a committing worker's Python switch interval (sys.setswitchinterval), ms: how long its commit thread may keep requests waiting for the GIL")
    page_limit: int = Field(500, ge=1, le=10_000, description="the largest page a list returns")

    @field_validator("db")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("COOPCHAIN_DB must be sqlite:///PATH or postgresql://…")
        return value
