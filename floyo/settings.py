"""One typed settings object, read from flat ``FLOYO_*`` environment variables and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_JWT_SECRET = "floyo-development-secret-change-me-0123456789"  # noqa: S105 - refused in production
_REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting Floyo reads. Field ``x`` is the environment variable ``FLOYO_X``."""

    model_config = SettingsConfigDict(env_prefix="FLOYO_", env_file=".env", extra="ignore")

    # --- general
    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "floyo")
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # --- database
    database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)

    # --- lake and mlflow
    lake_dir: Path | None = None
    mlflow_uri: str | None = None

    # --- serving and ingest
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_batch_events: int = Field(default=5000, ge=1)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_future_skew_hours: float = Field(default=24.0, ge=0)
    rate_limit_per_second: float = Field(default=200.0, gt=0)
    rate_limit_burst: int = Field(default=400, ge=1)
    jwt_secret: SecretStr = SecretStr(_DEV_JWT_SECRET)
    jwt_audience: str | None = None

    # --- cache and jobs
    redis_url: str | None = None
    broker_url: str | None = None
    job_interval: str = "30m"

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env == "production":
            secret = self.jwt_secret.get_secret_value()
            if secret == _DEV_JWT_SECRET or len(secret) < 32:
                raise ValueError("FLOYO_JWT_SECRET must be set to a real secret of 32+ characters in production")
        return self

    @property
    def lake_path(self) -> Path:
        """The Parquet lake's directory."""
        return self.lake_dir or self.data_dir / "lake"

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLflow tracking URI: ``FLOYO_MLFLOW_URI`` or the SQLite store in the repo's ``mlflow/``."""
        return self.mlflow_uri or f"sqlite:///{_REPO_ROOT / 'mlflow' / 'mlflow.db'}"

    @property
    def embedded_pg_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its cluster."""
        return self.data_dir / "pg"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, cached; tests change the environment and call ``get_settings.cache_clear()``."""
    return Settings()
