"""The one settings object: every value the app reads from its environment.

Locally the Values of local.settings.json fill the environment; in Azure the app
settings do. Nothing else in the code reads os.environ.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """The settings are unsafe or incomplete for the environment they name."""


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Secrets, and connection strings that carry a key, are SecretStr: they print as '**********'
    in a repr, a log line or a traceback, and code reads them with `.get_secret_value()`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # --- runtime mode -------------------------------------------------------------
    environment: str = Field("production", validation_alias=_alias("LECTERN_ENV"))
    public_base_url: str = Field("http://127.0.0.1:7071", validation_alias=_alias("LECTERN_PUBLIC_BASE_URL"))
    # Read by the host and the platform (Host.CORS, siteConfig.cors), not by app code.
    cors_allowed_origins: str = Field("", validation_alias=_alias("LECTERN_CORS_ALLOWED_ORIGINS"))
    max_body_bytes: int = Field(1_048_576, validation_alias=_alias("LECTERN_MAX_BODY_BYTES"))
    max_json_depth: int = Field(32, validation_alias=_alias("LECTERN_MAX_JSON_DEPTH"))

    applicationinsights_connection_string: SecretStr = Field(
        SecretStr(""), validation_alias=_alias("APPLICATIONINSIGHTS_CONNECTION_STRING")
    )
    # Locally: print every span to the host's stdout, one line each (docs/observability.md).
    trace_console: bool = Field(False, validation_alias=_alias("LECTERN_TRACE_CONSOLE"))
    # `json`: the app's log records go to stderr as JSON lines (local runs); empty: through
    # the host's own log (Azure, where the exporter sends them as structured records).
    log_format: Literal["", "json"] = Field("", validation_alias=_alias("LECTERN_LOG_FORMAT"))

    # --- stores ---------------------------------------------------------------------
    # Both URLs may carry a password (locally; in Azure the managed identity signs in instead).
    postgres_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/lectern"), validation_alias=_alias("POSTGRES_URL")
    )
    postgres_pool_min: int = Field(1, validation_alias=_alias("POSTGRES_POOL_MIN"))
    postgres_pool_max: int = Field(10, validation_alias=_alias("POSTGRES_POOL_MAX"))
    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), validation_alias=_alias("REDIS_URL"))
    # Storage: a connection string locally (Azurite); in Azure the account name plus the
    # managed identity (AzureWebJobsStorage__accountName), never a key.
    storage_connection_string: SecretStr = Field(
        SecretStr(""), validation_alias=_alias("LECTERN_STORAGE_CONNECTION", "AzureWebJobsStorage")
    )
    storage_account_name: str = Field(
        "", validation_alias=_alias("LECTERN_STORAGE_ACCOUNT", "AzureWebJobsStorage__accountName")
    )
    materials_container: str = Field("materials", validation_alias=_alias("LECTERN_MATERIALS_CONTAINER"))
    # Private like every container here: certificate PDFs are read only through a SAS.
    certificates_container: str = Field("certificates", validation_alias=_alias("LECTERN_CERTIFICATES_CONTAINER"))
    outbox_queue: str = Field("outbox", validation_alias=_alias("LECTERN_OUTBOX_QUEUE"))
    # NCRONTAB (six fields) of the timer that retries side effects parked in PostgreSQL while
    # Storage (and so the outbox queue) was down (functions/retries.py).
    parked_drain_schedule: str = Field("*/10 * * * * *", validation_alias=_alias("LECTERN_PARKED_DRAIN_SCHEDULE"))
    audit_table: str = Field("audit", validation_alias=_alias("LECTERN_AUDIT_TABLE"))
    access_log_table: str = Field("contentaccess", validation_alias=_alias("LECTERN_ACCESS_LOG_TABLE"))
    change_log_table: str = Field("changelog", validation_alias=_alias("LECTERN_CHANGE_LOG_TABLE"))
    attendance_table: str = Field("attendance", validation_alias=_alias("LECTERN_ATTENDANCE_TABLE"))
    # How long a process lets a class's attendance rows gather in Redis before writing them:
    # a connect storm's rows go out a hundred to an entity (services/live/attendance.py).
    attendance_flush_seconds: float = Field(
        0.5, ge=0.01, le=60, validation_alias=_alias("LECTERN_ATTENDANCE_FLUSH_SECONDS")
    )

    # --- Web PubSub -----------------------------------------------------------------
    webpubsub_connection_string: SecretStr = Field(
        SecretStr(""), validation_alias=_alias("WebPubSubConnectionString")
    )
    webpubsub_endpoint: str = Field("", validation_alias=_alias("WebPubSubEndpoint"))
    webpubsub_hub: str = Field("live", validation_alias=_alias("WebPubSubHub"))
    webpubsub_token_minutes: int = Field(60, validation_alias=_alias("WebPubSubTokenMinutes"))

    # --- auth -----------------------------------------------------------------------
    jwt_issuer: str = Field("https://dev.lectern.local", validation_alias=_alias("JWT_ISSUER"))
    jwt_audience: str = Field("lectern-api", validation_alias=_alias("JWT_AUDIENCE"))
    jwt_dev_secret: SecretStr = Field(SecretStr(""), validation_alias=_alias("JWT_DEV_SECRET"))
    jwt_jwks_url: str = Field("", validation_alias=_alias("JWT_JWKS_URL"))
    jwt_dev_token_minutes: int = Field(720, validation_alias=_alias("JWT_DEV_TOKEN_MINUTES"))
    # How long a user's stored roles may be served from Redis; a role change rewrites the
    # entry at once, this only bounds staleness when that write fails. Never above 60.
    roles_cache_seconds: int = Field(30, ge=1, le=60, validation_alias=_alias("LECTERN_ROLES_CACHE_SECONDS"))

    # --- content --------------------------------------------------------------------
    video_cdn_base_url: str = Field("https://stream.lectern.local", validation_alias=_alias("VIDEO_CDN_BASE_URL"))
    video_signing_key: SecretStr = Field(SecretStr(""), validation_alias=_alias("VIDEO_SIGNING_KEY"))
    video_url_minutes: int = Field(60, validation_alias=_alias("VIDEO_URL_MINUTES"))
    sas_minutes: int = Field(10, validation_alias=_alias("LECTERN_SAS_MINUTES"))
    material_max_bytes: int = Field(200 * 1024 * 1024, validation_alias=_alias("LECTERN_MATERIAL_MAX_BYTES"))
    material_allowed_types: str = Field(
        "application/pdf,image/png,image/jpeg,text/plain,application/zip,"
        "application/vnd.openxmlformats-officedocument.presentationml.presentation,"
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        validation_alias=_alias("LECTERN_MATERIAL_ALLOWED_TYPES"),
    )
    # NCRONTAB (six fields) of the timer that deletes uploads never published within a day.
    upload_cleanup_schedule: str = Field("0 17 * * * *", validation_alias=_alias("LECTERN_UPLOAD_CLEANUP_SCHEDULE"))
    cache_ttl_seconds: int = Field(300, validation_alias=_alias("LECTERN_CACHE_TTL_SECONDS"))
    cache_enabled: bool = Field(True, validation_alias=_alias("LECTERN_CACHE_ENABLED"))

    # --- payments (Stripe and Razorpay; docs/payments.md) ---------------------------
    payment_default_provider: str = Field("stripe", validation_alias=_alias("PAYMENT_DEFAULT_PROVIDER"))
    payment_default_currency: str = Field("USD", validation_alias=_alias("PAYMENT_DEFAULT_CURRENCY"))
    # Where the provider sends the buyer back after paying or cancelling (a page of the app).
    payment_return_url: str = Field("", validation_alias=_alias("PAYMENT_RETURN_URL"))
    # Stripe: the secret API key, comma-separated webhook signing secrets (two during a
    # rotation), whether events must be live-mode ones, and the API base (empty: Stripe's own;
    # locally the stand-in in localpay/).
    stripe_secret_key: SecretStr = Field(SecretStr(""), validation_alias=_alias("STRIPE_SECRET_KEY"))
    payment_webhook_secrets: SecretStr = Field(SecretStr(""), validation_alias=_alias("PAYMENT_WEBHOOK_SECRETS"))
    payment_webhook_tolerance_seconds: int = Field(300, validation_alias=_alias("PAYMENT_WEBHOOK_TOLERANCE_SECONDS"))
    stripe_livemode: bool = Field(False, validation_alias=_alias("STRIPE_LIVEMODE"))
    stripe_api_base: str = Field("", validation_alias=_alias("STRIPE_API_BASE"))
    # Razorpay: the key pair, comma-separated webhook secrets, and the API base (empty:
    # Razorpay's own).
    razorpay_key_id: str = Field("", validation_alias=_alias("RAZORPAY_KEY_ID"))
    razorpay_key_secret: SecretStr = Field(SecretStr(""), validation_alias=_alias("RAZORPAY_KEY_SECRET"))
    razorpay_webhook_secrets: SecretStr = Field(SecretStr(""), validation_alias=_alias("RAZORPAY_WEBHOOK_SECRETS"))
    razorpay_api_base: str = Field("", validation_alias=_alias("RAZORPAY_API_BASE"))

    # --- progress -------------------------------------------------------------------
    completion_threshold: float = Field(0.9, validation_alias=_alias("LECTERN_COMPLETION_THRESHOLD"))
    flush_batch_size: int = Field(5000, validation_alias=_alias("LECTERN_FLUSH_BATCH_SIZE"))
    quiz_max_attempts: int = Field(3, validation_alias=_alias("LECTERN_QUIZ_MAX_ATTEMPTS"))
    # NCRONTAB (six fields) of the timer that writes dirty heartbeat snapshots to PostgreSQL.
    flush_schedule: str = Field("*/5 * * * * *", validation_alias=_alias("LECTERN_FLUSH_SCHEDULE"))

    # --- live classes ---------------------------------------------------------------
    chat_max_length: int = Field(1000, validation_alias=_alias("LECTERN_CHAT_MAX_LENGTH"))
    broadcast_interval_ms: int = Field(250, validation_alias=_alias("LECTERN_BROADCAST_INTERVAL_MS"))

    # --- notifications ----------------------------------------------------------------
    # NCRONTAB (six fields) of the timer that reminds students and tutors of classes about to
    # start; every minute, and each class is reminded once per user however often it runs.
    class_reminder_schedule: str = Field("0 * * * * *", validation_alias=_alias("LECTERN_CLASS_REMINDER_SCHEDULE"))
    # Every two minutes: live connections whose `disconnected` never came are let go
    # (`services/live/presence_sweep.py`).
    presence_sweep_schedule: str = Field("30 */2 * * * *", validation_alias=_alias("LECTERN_PRESENCE_SWEEP_SCHEDULE"))
    class_reminder_minutes: int = Field(10, ge=1, le=120, validation_alias=_alias("LECTERN_CLASS_REMINDER_MINUTES"))

    # --- rate limits (requests per window) ------------------------------------------
    rate_limit_writes_per_minute: int = Field(600, validation_alias=_alias("LECTERN_RATE_WRITES_PER_MINUTE"))
    # A player beats every few seconds (12/min at 5 s); bursts of as many as the limit
    # cover reconnects and several tabs. Spamming heartbeats gets 429 long before it matters.
    rate_limit_heartbeats_per_minute: int = Field(
        120, ge=1, validation_alias=_alias("LECTERN_RATE_HEARTBEATS_PER_MINUTE")
    )
    rate_limit_tokens_per_ip_per_minute: int = Field(
        120, validation_alias=_alias("LECTERN_RATE_TOKENS_PER_IP_PER_MINUTE")
    )
    rate_limit_negotiate_per_minute: int = Field(30, validation_alias=_alias("LECTERN_RATE_NEGOTIATE_PER_MINUTE"))
    # Per address: high enough for a school of a thousand students behind one NAT address
    # (a heartbeat every 10 s each), low enough to stop one machine flooding the API.
    rate_limit_writes_per_ip_per_minute: int = Field(
        12000, validation_alias=_alias("LECTERN_RATE_WRITES_PER_IP_PER_MINUTE")
    )
    rate_limit_negotiate_per_ip_per_minute: int = Field(
        2000, validation_alias=_alias("LECTERN_RATE_NEGOTIATE_PER_IP_PER_MINUTE")
    )
    # Reads: generous (a page makes a handful, a live-class client polls state after a gap),
    # there to stop one account or one machine from flooding the API with cheap requests.
    rate_limit_reads_per_minute: int = Field(1200, validation_alias=_alias("LECTERN_RATE_READS_PER_MINUTE"))
    rate_limit_reads_per_ip_per_minute: int = Field(
        24000, validation_alias=_alias("LECTERN_RATE_READS_PER_IP_PER_MINUTE")
    )
    # Proxies in front of the app that append to X-Forwarded-For (1: the platform's front end).
    trusted_proxy_hops: int = Field(1, ge=1, le=5, validation_alias=_alias("LECTERN_TRUSTED_PROXY_HOPS"))
    rate_limit_chat_per_10s: int = Field(5, validation_alias=_alias("LECTERN_RATE_CHAT_PER_10S"))
    # A privacy export reads every table about a person: a few a minute per caller at most.
    rate_limit_exports_per_minute: int = Field(
        6, ge=1, validation_alias=_alias("LECTERN_RATE_EXPORTS_PER_MINUTE")
    )

    # --- privacy (services/privacy) -----------------------------------------------------
    # Rows per section of an export (newest first; the section says when it held more), so
    # one export's document stays within a few megabytes whatever the account holds.
    privacy_export_rows: int = Field(1000, ge=1, le=10000, validation_alias=_alias("LECTERN_PRIVACY_EXPORT_ROWS"))
    # Full exports (`services/privacy/export_job.py`): where their files go, and the days
    # a finished one can be downloaded before its file is deleted.
    privacy_exports_container: str = Field(
        "privacy-exports", validation_alias=_alias("LECTERN_PRIVACY_EXPORTS_CONTAINER")
    )
    privacy_export_days: int = Field(7, ge=1, le=30, validation_alias=_alias("LECTERN_PRIVACY_EXPORT_DAYS"))
    # Courses and classes one export or erasure looks into (the partitions of access and
    # attendance rows, hot state and boards).
    privacy_partitions_max: int = Field(
        5000, ge=1, le=100000, validation_alias=_alias("LECTERN_PRIVACY_PARTITIONS_MAX")
    )
    rate_limit_votes_per_10s: int = Field(10, validation_alias=_alias("LECTERN_RATE_VOTES_PER_10S"))


    # --- live connections: caps and signed connection state --------------------------
    # A student's tabs and devices in one class; more only burns Web PubSub connections.
    live_max_connections_per_user: int = Field(
        5, ge=1, validation_alias=_alias("LECTERN_LIVE_MAX_CONNECTIONS_PER_USER")
    )
    # One Standard Web PubSub unit carries 1,000 concurrent connections and main.bicep
    # provisions one by default (webPubSubUnits = 1): no class may hold more than the
    # resource can. main.bicep sets it to webPubSubUnits x 1,000.
    live_max_connections_per_class: int = Field(
        1000, ge=1, validation_alias=_alias("LECTERN_LIVE_MAX_CONNECTIONS_PER_CLASS")
    )
    # A live class nobody has been in for this long is ended by the presence sweep, as its
    # tutor would have ended it (a tutor who closed the tab without pressing End). 0 never
    # ends one. Measured from the first sweep that found the class empty.
    live_idle_end_minutes: int = Field(60, ge=0, validation_alias=_alias("LECTERN_LIVE_IDLE_END_MINUTES"))
    # HMAC-SHA256 key of the connection state the event handler gives Web PubSub at
    # connect (user, class, role); required outside development.
    connection_state_key: SecretStr = Field(SecretStr(""), validation_alias=_alias("LECTERN_CONNECTION_STATE_KEY"))
    # HMAC-SHA256 key of the calendar feed URLs (GET /api/calendar/{token}, no sign-in);
    # required outside development. Changing it ends every feed URL handed out.
    calendar_feed_key: SecretStr = Field(SecretStr(""), validation_alias=_alias("LECTERN_CALENDAR_FEED_KEY"))

    # --- how the app signs in to its stores (deployment identity) ----------------------
    # `keys` (local development): the connection strings and passwords as given.
    # `identity` (Azure): the app's Microsoft Entra identity (DefaultAzureCredential: the
    # function app's managed identity) signs in everywhere. POSTGRES_URL and REDIS_URL then
    # carry the user name and no password (a token is fetched for each new connection);
    # Storage and Web PubSub clients take the credential, and a Web PubSub connection
    # string, if set, only lends its access key to check upstream signatures.
    auth_mode: Literal["keys", "identity"] = Field("keys", validation_alias=_alias("LECTERN_AUTH_MODE"))
    # Id of the Mux URL signing key whose private half is VIDEO_SIGNING_KEY (base64 PEM, as
    # Mux hands it out; Key Vault in Azure). With an RSA key the playback tokens are RS256
    # with this `kid`; a shared secret (HS256) is accepted in development only.
    video_signing_key_id: str = Field("", validation_alias=_alias("VIDEO_SIGNING_KEY_ID"))

    @property
    def uses_identity(self) -> bool:
        return self.auth_mode == "identity"

    @property
    def is_development(self) -> bool:
        return self.environment.lower() in {"development", "dev", "test"}

    def unsafe_outside_development(self) -> list[str]:
        """What keeps this configuration from serving outside development, one sentence per
        setting; empty when it may start (always, in development and test)."""
        if self.is_development:
            return []
        problems = []
        if self.jwt_dev_secret.get_secret_value():
            problems.append(
                "JWT_DEV_SECRET is set: whoever holds it can sign a token for any user and role; "
                "leave it empty outside development."
            )
        if not self.jwt_jwks_url:
            problems.append("JWT_JWKS_URL is missing: set it to the token issuer's JWKS URL.")
        return problems

    def require_safe_for_environment(self) -> None:
        """Refuses to start (ConfigurationError naming each setting) when the configuration
        would accept development tokens outside development."""
        problems = self.unsafe_outside_development()
        if problems:
            raise ConfigurationError(
                f"Lectern will not start with LECTERN_ENV={self.environment!r}: " + " ".join(problems)
            )

    @property
    def connection_state_signing_key(self) -> bytes:
        """The key that signs Web PubSub connection states. Development falls back to a
        fixed key; anywhere else a missing key stops the app at start (the context that
        builds the Web PubSub client asks for it) rather than signing with a known one."""
        key = self.connection_state_key.get_secret_value()
        if key.strip():
            return key.encode()
        if self.is_development:
            return b"lectern-development-connection-state-key"
        raise RuntimeError(
            "LECTERN_CONNECTION_STATE_KEY must be set outside development: it signs the Web PubSub "
            "connection state that decides who may do what in a live class."
        )

    @property
    def calendar_feed_signing_key(self) -> bytes:
        """The key that signs calendar feed URLs; a fixed one in development, and outside it
        a missing key refuses to issue or read feeds rather than sign with a known one."""
        key = self.calendar_feed_key.get_secret_value()
        if key.strip():
            return key.encode()
        if self.is_development:
            return b"lectern-development-calendar-feed-key"
        raise RuntimeError("LECTERN_CALENDAR_FEED_KEY must be set outside development: it signs calendar feed URLs.")

    @property
    def allowed_material_types(self) -> set[str]:
        return {t.strip() for t in self.material_allowed_types.split(",") if t.strip()}

    @property
    def payment_secrets(self) -> list[str]:
        return [s.strip() for s in self.payment_webhook_secrets.get_secret_value().split(",") if s.strip()]

    @property
    def razorpay_secrets(self) -> list[str]:
        return [s.strip() for s in self.razorpay_webhook_secrets.get_secret_value().split(",") if s.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published well-known development key (not a secret: it is in Microsoft's docs).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def expand_storage_connection(value: str) -> str:
    """`UseDevelopmentStorage=true` spelled out, so every SDK reads it the same way."""
    if value.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
        base = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={base}:10000/{AZURITE_ACCOUNT};QueueEndpoint={base}:10001/{AZURITE_ACCOUNT};"
            f"TableEndpoint={base}:10002/{AZURITE_ACCOUNT};"
        )
    return value
