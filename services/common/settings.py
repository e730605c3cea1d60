"""Configuration from the environment (``SUCCESS_*`` variables), via pydantic-settings."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUCCESS_", env_file=".env", extra="ignore")

    nats_url: str | None = Field(
        default=None,
        description="NATS server URL, e.g. nats://127.0.0.1:4222. Unset: the embedded stack's.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL, e.g. postgresql://user:pw@host:5432/success. "
        "Unset: the embedded stack's.",
    )
    region: str = Field(default="IDF", description="default region of this deployment")
    auth_secret: str | None = Field(
        default=None, description="secret signing staff bearer tokens (success up makes one)")
    vault_master_key: str | None = Field(
        default=None, description="base64 32-byte key wrapping each person's vault key "
        "(success up makes one)")
    served_regions: str = Field(
        default="IDF,BRE", description="regions taking part, comma-separated (ISO 3166-2:FR)")
    objective_mentees: int = Field(default=20, description="default mentees per region and cohort")
    objective_mentors: int = Field(default=20, description="default mentors per region and cohort")
    # JetStream dedupe window: longer than the relay's worst retry (back-off capped at
    # relay_max_backoff_s) and than any restart of a crashed service.
    duplicate_window_s: float = 3600.0
    stream_replicas: int = 1
    relay_batch_size: int = 500
    relay_atomic_batches: bool = Field(
        default=True, description="publish each relay batch as one JetStream atomic batch "
        "(nats-server >= 2.12.1); false: one acknowledged publish per event")
    relay_poll_interval_s: float = 0.05
    relay_linger_s: float = Field(
        default=0.05, ge=0, le=1, description="a busy relay reads the outbox at most this "
        "often (seconds, from one read to the next) once it has caught up, so that one batch "
        "carries what many requests committed; a relay woken after a quieter spell, or behind "
        "by a full batch, reads at once")
    relay_max_backoff_s: float = 10.0
    publish_ack_timeout_s: float = 10.0
    consumer_max_deliveries: int = 5
    consumer_backoff_s: float = 0.5
    consumer_max_backoff_s: float = 30.0
    consumer_batch_size: int = Field(
        default=1000, description="most events a consumer pulls at once (a backlog); what has "
        "arrived is handled at once, however few")
    consumer_pull_timeout_s: float = Field(
        default=1.0, description="how long an idle consumer's pull waits for a first event "
        "before pulling again (it returns as soon as one arrives)")
    # The partner regions' stream (what they may publish): bounded, so none can fill our disk.
    partner_stream_max_bytes: int = Field(
        default=1 << 30, description="bytes the partner regions' stream keeps at most (1 GiB)")
    partner_stream_max_msgs: int = Field(
        default=1_000_000, description="messages the partner regions' stream keeps at most")
    partner_stream_max_msg_size: int = Field(
        default=64 * 1024, description="largest message a partner region may publish (bytes)")
    partner_stream_discard: Literal["new", "old"] = Field(
        default="new", description="when the partner regions' stream is full: refuse new "
        "messages (new) or drop the oldest (old)")
    ops_probe_interval_s: float = Field(
        default=5.0, description="how often the metrics of lags, consumers and dead letters "
        "are refreshed (and vanished durable consumers created again)")
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server for e-mails")
    smtp_port: int = Field(default=25, description="SMTP port (success up runs a local one)")
    smtp_sender: str = Field(default="Succ'ess <noreply@succes.cress.fr>",
                             description="From: of every e-mail")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool | None = Field(
        default=False, description="upgrade with STARTTLS (None: when the server offers it)")
    smtp_timeout_s: float = 30.0
    email_templates_dir: str | None = Field(
        default=None, description="a directory of e-mail templates: a file there replaces the "
        "built-in one of the same name (services/followup/templates/courriels)")
    intake_url: str = Field(default="http://127.0.0.1:8101",
                            description="intake's HTTP API (followup reads contacts there)")
    matching_url: str = Field(default="http://127.0.0.1:8102",
                              description="matching's HTTP API (the back-office calls it)")
    followup_url: str = Field(default="http://127.0.0.1:8103",
                              description="followup's HTTP API (the back-office calls it)")
    reporting_url: str = Field(default="http://127.0.0.1:8104",
                               description="reporting's HTTP API (the back-office calls it)")
    backoffice_url: str = Field(
        default="http://127.0.0.1:8100", description="the staff back-office's public address, "
        "as staff reach it (invitation links in e-mails point there)")
    participants_url: str = Field(
        default="http://127.0.0.1:8105", description="the participants' pages' public address "
        "(application forms; personal links in e-mails point there)")
    backoffice_session_hours: float = Field(
        default=10.0, gt=0, le=24 * 7, description="how long a staff sign-in lasts")
    backoffice_invitation_hours: float = Field(
        default=72.0, gt=0, le=24 * 30, description="how long an invitation link stays valid")
    signin_max_failures: int = Field(
        default=5, ge=1, description="wrong passwords for one address within "
        "signin_lockout_minutes before its sign-ins are refused for that long")
    signin_lockout_minutes: float = Field(
        default=15.0, gt=0, description="the window and the pause of the sign-in throttle")
    followup_intermediate_review_months: int = 6
    followup_final_review_months: int = 12
    followup_post_programme_months: int = 6
    followup_overdue_grace_days: int = Field(
        default=30, description="days after a review's due date before it is overdue")
    followup_upcoming_notice_days: int = Field(
        default=14, description="days before a review is due when its referent is reminded")
    followup_annual_survey_on: str = Field(
        default="06-15", description="MM-DD: when the annual review questionnaire goes out")
    followup_poll_interval_s: float = Field(
        default=5.0, description="how often followup looks for due timers and mail to send")
    mail_max_backoff_s: float = 3600.0
    clock_start: datetime | None = Field(
        default=None, description="demos and tests only: the business clock starts at this "
        "instant (ISO 8601 with offset) and runs from there")
    clock_control: bool = Field(
        default=False, description="training and staging only: `success clock advance|set` "
        "moves the business clock of every service (forward only); refused when false")
    clock_refresh_s: float = Field(
        default=1.0, description="with clock control, how often each service re-reads the "
        "shared business clock")
    digest_recipients: str | None = Field(
        default=None, description='daily digest recipients per region, JSON: {"IDF": '
        '[{"email": "…", "age": "age1…"}]} (e-mail address and age X25519 public key)')
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="largest request body accepted (413 beyond)")
    public_rate_per_minute: float = Field(
        default=30.0, ge=0, description="requests per minute and client address on the public "
        "endpoints (POST /applications/*), 0: no limit (429 beyond)")
    public_rate_burst: int = Field(
        default=10, ge=1, description="requests a client address may send at once before "
        "public_rate_per_minute applies")
    public_allowed_origins: str = Field(
        default="", description="origins (comma-separated, e.g. https://www.cress-idf.org) "
        "whose pages may post to the public forms from the browser (CORS); empty: none")
    outage_retry_after_s: int = Field(
        default=5, ge=1, description="while PostgreSQL or NATS is unreachable, requests get a "
        "503 saying to retry after this many seconds (and the outage is checked as often)")
    otlp_endpoint: str | None = Field(
        default=None, description="OpenTelemetry collector receiving traces over OTLP/HTTP, "
        "e.g. http://127.0.0.1:4318 (else OTEL_EXPORTER_OTLP_ENDPOINT; neither: no tracing)")
    log_level: str = "INFO"
    log_json: bool = True


    def public_allowed_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.public_allowed_origins.split(",")
                if o.strip()]

    def served_region_codes(self) -> tuple[str, ...]:
        return tuple(code.strip().upper() for code in self.served_regions.split(",") if code.strip())


class MissingSecret(RuntimeError):
    """A secret the service cannot run without: the message says which variable to set."""


def require(value: str | None, variable: str, what: str) -> str:
    if not value:
        raise MissingSecret(
            f"{what} manquant : définissez la variable d'environnement {variable} "
            "(`success up` en crée une automatiquement pour le système embarqué).")
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
