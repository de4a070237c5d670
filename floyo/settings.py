"""One typed settings object, read from flat ``FLOYO_*`` environment variables and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_CHARS = 32


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
    db_pool_timeout: float = Field(default=10.0, gt=0, le=300)  # seconds a request waits for a connection: then 503

    # --- lake and mlflow
    lake_dir: Path | None = None
    retention_days: int = Field(default=0, ge=0)  # 0 (the default): retention off, events are kept forever
    mlflow_uri: str | None = None

    # --- models: association rules (caps keep a huge vocabulary from blowing up time and memory)
    rules_min_support: float = Field(default=0.01, gt=0, le=1)  # share of transactions
    rules_min_count: int = Field(default=3, ge=1)  # and at least this many transactions
    rules_max_items: int = Field(default=5000, ge=1)  # keep only the most frequent items
    rules_max_len: int = Field(default=4, ge=2)  # items per itemset
    rules_max_rules: int = Field(default=5000, ge=1)  # strongest rules kept (by lift, then confidence)
    rules_min_confidence: float = Field(default=0.5, ge=0, le=1)
    rules_min_lift: float = Field(default=1.0, ge=0)  # rules below are not associations worth suggesting
    rules_user_min_support: float = Field(default=0.05, gt=0, le=1)  # share of one user's transactions
    rules_user_max_rules: int = Field(default=300, ge=1)  # strongest rules kept per user
    rules_user_max_len: int = Field(default=3, ge=2)  # items per itemset when mining one user's transactions
    rules_user_min_transactions: int = Field(default=20, ge=1)  # fewer: the user gets the global rules only
    # unset (the default): a training run reads the whole lake; a number: only that many most recent events
    train_max_events: int | None = Field(default=None, ge=100)
    train_engine: Literal["local", "spark"] = "local"  # spark: rules and workflows mined on Spark (floyo[spark])
    spark_master: str = "local[*]"  # where the Spark engine runs: local[N], spark://host:7077, yarn, k8s://...
    spark_lake_url: str | None = None  # the lake as Spark reads it (s3a://bucket/lake); unset: FLOYO_LAKE_DIR

    # --- serving and ingest
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_batch_events: int = Field(default=5000, ge=1)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_future_skew_hours: float = Field(default=24.0, ge=0, le=24 * 366)
    rate_limit_per_second: float = Field(default=200.0, gt=0)
    rate_limit_burst: int = Field(default=400, ge=1)
    auth_failures_per_minute: float = Field(default=10.0, gt=0)  # failed authentications per client address...
    auth_failure_burst: int = Field(default=20, ge=1)  # ...after a burst of this many
    max_exports_per_user: int = Field(default=2, ge=1)  # concurrent streamed exports per user (and process)
    # unset: a random secret generated on first start and kept in $FLOYO_DATA_DIR/jwt_secret (floyo.auth.jwt_key)
    jwt_secret: SecretStr | None = None
    jwt_audience: str | None = None  # when set, JWTs must carry it as ``aud``
    jwt_issuer: str | None = None  # when set, JWTs must carry it as ``iss``
    model_poll_seconds: float = Field(default=60.0, ge=0, le=86_400)  # 0: load the champions once, never poll
    cache_ttl_seconds: float = Field(default=300.0, ge=0, le=86_400)  # 0: per-user answers are not cached
    cache_max_entries: int = Field(default=10_000, ge=1)  # the in-process cache's size (no Redis)

    # --- agent (the rest of its options live in its TOML file, FLOYO_AGENT_CONFIG)
    agent_config: Path = Field(default_factory=lambda: Path.home() / ".config" / "floyo" / "agent.toml")
    agent_state_dir: Path | None = None  # spool, status, pause flag; default $FLOYO_DATA_DIR/agent
    agent_server: str | None = None
    agent_token: SecretStr | None = None

    # --- dashboard (`floyo dashboard`, started by `floyo demo` too)
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    dashboard_token: SecretStr | None = None  # signs the dashboard in at start (a device token or a JWT)

    # --- cache and jobs
    redis_url: str | None = None
    broker_url: str | None = None
    job_interval: str = "30m"

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        if self.jwt_secret is None:
            if self.env == "production":
                raise ValueError(
                    f"FLOYO_JWT_SECRET must be set to a secret of {MIN_SECRET_CHARS}+ characters in production"
                )
        elif len(self.jwt_secret.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"FLOYO_JWT_SECRET must be at least {MIN_SECRET_CHARS} characters")
        return self

    @property
    def lake_path(self) -> Path:
        """The Parquet lake's directory."""
        return self.lake_dir or self.data_dir / "lake"

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLflow tracking URI: ``FLOYO_MLFLOW_URI`` or a SQLite store in ``$FLOYO_DATA_DIR/mlflow/`` (artifacts
        beside it), never inside the checkout or the installed package."""
        return self.mlflow_uri or f"sqlite:///{self.data_dir.expanduser().resolve() / 'mlflow' / 'mlflow.db'}"

    @property
    def embedded_pg_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its cluster."""
        return self.data_dir / "pg"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, cached; tests change the environment and call ``get_settings.cache_clear()``."""
    return Settings()
