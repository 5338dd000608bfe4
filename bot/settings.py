"""Configuration from the environment (and a `.env` file), with the names of commands.md."""

import os
import socket
from functools import cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite:///orchestrate.db", alias="DATABASE_URL")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    port: int = Field(default=3000, alias="PORT")
    orchestrate_api_token: SecretStr | None = Field(default=None, alias="ORCHESTRATE_API_TOKEN")
    # /metrics takes this bearer token, or the API token; ORCHESTRATE_OPEN_ENDPOINTS=true opens /metrics
    # and the API's OpenAPI document and docs page to anyone who can reach the server.
    orchestrate_metrics_token: SecretStr | None = Field(default=None, alias="ORCHESTRATE_METRICS_TOKEN")
    orchestrate_open_endpoints: bool = Field(default=False, alias="ORCHESTRATE_OPEN_ENDPOINTS")
    smtp_url: SecretStr | None = Field(default=None, alias="SMTP_URL")
    sms_webhook_url: SecretStr | None = Field(default=None, alias="SMS_WEBHOOK_URL")


@cache
def settings() -> Settings:
    return Settings()


def replica_name() -> str:
    """This process among the replicas sharing a store: what its claims are recorded under."""
    return f"{socket.gethostname()}:{os.getpid()}"
