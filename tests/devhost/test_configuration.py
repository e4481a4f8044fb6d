"""local.settings.json, host.json, retry settings and connection names read as the host reads them."""

import json
import logging
from pathlib import Path

import pytest

from devhost.connections import SettingLookupError, azurite_connection_string, resolve_app_settings, resolve_storage_connection
from devhost.cors import HostCors
from devhost.host_config import DEFAULT_FUNCTION_TIMEOUT, HostConfigError, parse_host_config, parse_timespan
from devhost.queues import decode_body, encode_body
from devhost.retry_policy import RetryPolicy, RetryPolicyError
from devhost.settings_file import SettingsFileError, apply_to_environment, load_settings, parse_settings

pytestmark = pytest.mark.unit


# --- local.settings.json ----------------------------------------------------------------


def write(path: Path, document: object) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_local_settings_win_over_the_sample(tmp_path):
    write(tmp_path / "local.settings.json", {"Values": {"A": "local"}})
    write(tmp_path / "local.settings.sample.json", {"Values": {"A": "sample"}})
    settings = load_settings(tmp_path)
    assert settings.values == {"A": "local"}
    assert not settings.from_sample


def test_the_sample_stands_in_and_says_so(tmp_path, caplog):
    write(tmp_path / "local.settings.sample.json", {"Values": {"A": "sample"}, "Host": {"CORS": "*", "LocalHttpPort": 7999}})
    with caplog.at_level(logging.INFO, logger="devhost"):
        settings = load_settings(tmp_path)
    assert settings.values == {"A": "sample"} and settings.from_sample
    assert settings.cors == "*" and settings.local_http_port == 7999
    assert "local.settings.sample.json" in caplog.text and "not found" in caplog.text


def test_no_settings_file_means_no_settings(tmp_path):
    assert load_settings(tmp_path).values == {}


def test_an_explicit_settings_file_must_exist(tmp_path):
    with pytest.raises(SettingsFileError, match="does not exist"):
        load_settings(tmp_path, tmp_path / "missing.json")


def test_a_malformed_file_is_an_error_naming_the_file(tmp_path):
    path = write(tmp_path / "local.settings.json", '{"Values": {"A": "x",}}')
    with pytest.raises(SettingsFileError) as err:
        load_settings(tmp_path)
    assert str(path) in str(err.value) and "line 1" in str(err.value)


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ("[]", "JSON object"),
        ('{"IsEncrypted": true, "Values": {}}', "encrypted"),
        ('{"Values": []}', "Values must be an object"),
        ('{"Values": {"A": {"nested": 1}}}', "Values.A must be a string"),
    ],
)
def test_unusable_settings_are_refused(document, complaint):
    with pytest.raises(SettingsFileError, match=complaint):
        parse_settings(document, Path("local.settings.json"))


def test_scalar_values_become_strings_the_way_dotnet_prints_them():
    settings = parse_settings('{"Values": {"N": 5, "B": true, "S": "x"}}', Path("f.json"))
    assert settings.values == {"N": "5", "B": "true", "S": "x"}


def test_the_environment_wins_over_settings():
    environ = {"A": "from-env"}
    applied = apply_to_environment({"A": "from-file", "B": "b"}, environ)
    assert environ == {"A": "from-env", "B": "b"}
    assert applied == ["B"]


# --- host.json --------------------------------------------------------------------------


def test_host_json_defaults_follow_the_host():
    config = parse_host_config('{"version": "2.0"}', Path("host.json"))
    assert config.http.route_prefix == "api"
    assert config.queues.batch_size == 16 and config.queues.new_batch_threshold == 8
    assert config.queues.max_dequeue_count == 5 and config.queues.visibility_timeout == 0
    assert config.queues.max_polling_interval == 60 and config.queues.message_encoding == "base64"
    assert config.function_timeout == DEFAULT_FUNCTION_TIMEOUT


def test_host_json_keys_are_case_insensitive():
    config = parse_host_config(
        '{"Version": "2.0", "FunctionTimeout": "-1", "Extensions": {"HTTP": {"RoutePrefix": ""},'
        ' "Queues": {"BatchSize": 4, "MaxPollingInterval": "00:00:00.500", "VisibilityTimeout": "00:00:30"}}}',
        Path("host.json"),
    )
    assert config.http.route_prefix == ""
    assert config.function_timeout is None
    assert config.queues.batch_size == 4 and config.queues.new_batch_threshold == 2
    assert config.queues.max_polling_interval == 0.5 and config.queues.visibility_timeout == 30


def test_the_project_host_json_is_valid():
    path = Path(__file__).resolve().parents[2] / "host.json"
    config = parse_host_config(path.read_text(), path)
    assert config.http.route_prefix == "api"
    assert config.function_timeout == 300


def test_a_log_category_takes_the_level_of_its_longest_configured_prefix():
    config = parse_host_config(
        '{"version": "2.0", "logging": {"logLevel": {"default": "Warning", "Function": "Information",'
        ' "Function.chat": "Error", "Function.chat.User": "Debug"}}}',
        Path("host.json"),
    )
    assert config.level_for("Host.Results") == logging.WARNING
    assert config.level_for("Function.votes") == logging.INFO
    assert config.level_for("Function.CHAT") == logging.ERROR
    assert config.level_for("Function.chat.User") == logging.DEBUG
    assert config.level_for("Function.chatter") == logging.INFO  # a prefix counts only at a dot


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ('{"version": "1.0"}', "version"),
        ('{"version": "2.0", "functionTimeout": "5 minutes"}', "time span"),
        ('{"version": "2.0", "extensions": {"queues": {"batchSize": 64}}}', "batchSize"),
        ('{"version": "2.0", "extensions": {"queues": {"messageEncoding": "utf7"}}}', "messageEncoding"),
        ('{"version": "2.0", "extensions": {"queues": {"maxPollingInterval": "00:00:00.010"}}}', "maxPollingInterval"),
        ('{"version": "2.0", "logging": {"logLevel": {"default": "Loud"}}}', "log level"),
        ('{"version": "2.0", "logging": {"logLevel": {"Function.chat": "Quiet"}}}', "function.chat 'Quiet' is not a log level"),
        ('{"version": "2.0",}', "not valid JSON"),
    ],
)
def test_host_json_mistakes_are_named(document, complaint):
    with pytest.raises(HostConfigError, match=complaint):
        parse_host_config(document, Path("host.json"))


def test_timespans():
    assert parse_timespan("00:00:05") == 5
    assert parse_timespan("01:02:03.5") == 3723.5
    assert parse_timespan("1.00:00:00") == 86400
    with pytest.raises(ValueError):
        parse_timespan("00:61:00")


# --- retry policies ---------------------------------------------------------------------


def test_fixed_delay_retries():
    policy = RetryPolicy.from_settings({"strategy": "fixed_delay", "max_retry_count": "3", "delay_interval": "00:00:02"})
    assert [policy.delay_before(n) for n in (1, 2, 3)] == [2, 2, 2]
    assert policy.allows(3) and not policy.allows(4)


def test_exponential_backoff_doubles_up_to_the_maximum():
    policy = RetryPolicy.from_settings(
        {"strategy": "exponential_backoff", "max_retry_count": "-1", "minimum_interval": "00:00:01", "maximum_interval": "00:00:05"}
    )
    assert [policy.delay_before(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert policy.allows(1000)


def test_no_retry_settings_means_no_policy():
    assert RetryPolicy.from_settings(None) is None


@pytest.mark.parametrize(
    "settings",
    [
        {"strategy": "fixed_delay", "max_retry_count": "3"},
        {"strategy": "exponential_backoff", "max_retry_count": "3", "minimum_interval": "00:00:05", "maximum_interval": "00:00:01"},
        {"strategy": "sometimes", "max_retry_count": "3"},
        {"strategy": "fixed_delay", "max_retry_count": "many", "delay_interval": "00:00:01"},
        {"strategy": "fixed_delay", "max_retry_count": "-2", "delay_interval": "00:00:01"},
    ],
)
def test_bad_retry_settings_are_refused(settings):
    with pytest.raises(RetryPolicyError):
        RetryPolicy.from_settings(settings)


# --- connections, app settings, queue bodies, CORS --------------------------------------


def test_development_storage_means_the_emulator_well_known_account():
    resolved = resolve_storage_connection(None, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert resolved == azurite_connection_string()
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1" in resolved


def test_a_connection_name_falls_back_to_the_azurewebjobs_prefix():
    assert resolve_storage_connection("Jobs", {"AzureWebJobsJobs": "DefaultEndpointsProtocol=x"}) == "DefaultEndpointsProtocol=x"


def test_missing_and_identity_based_connections_are_explained():
    with pytest.raises(SettingLookupError, match="not set"):
        resolve_storage_connection("Other", {})
    with pytest.raises(SettingLookupError, match="identity-based"):
        resolve_storage_connection("Store", {"Store__queueServiceUri": "https://x"})


def test_app_setting_expressions_are_resolved():
    assert resolve_app_settings("%Q%-items", {"Q": "outbox"}) == "outbox-items"
    with pytest.raises(SettingLookupError, match="MISSING"):
        resolve_app_settings("%MISSING%", {})


def test_queue_bodies_decode_strictly_from_base64():
    assert decode_body(encode_body(b"\x00\xffhello", "base64"), "base64") == b"\x00\xffhello"
    assert decode_body("not base64!", "base64") is None
    assert decode_body("aGVsbG8", "base64") is None  # missing padding
    assert decode_body("plain text", "none") == b"plain text"


def test_host_cors_leaves_responses_that_carry_their_own_cors_alone():
    from multidict import CIMultiDict

    cors = HostCors.parse("http://a.example, http://b.example/")
    headers: CIMultiDict[str] = CIMultiDict()
    cors.decorate(headers, "http://b.example")
    assert headers["Access-Control-Allow-Origin"] == "http://b.example" and headers["Vary"] == "Origin"
    own: CIMultiDict[str] = CIMultiDict({"Access-Control-Allow-Origin": "http://app.example"})
    cors.decorate(own, "http://a.example")
    assert own["Access-Control-Allow-Origin"] == "http://app.example"
    other: CIMultiDict[str] = CIMultiDict()
    cors.decorate(other, "http://evil.example")
    assert "Access-Control-Allow-Origin" not in other
    assert HostCors.parse("*").preflight_headers("http://x", "PUT", "content-type") == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "PUT",
        "Access-Control-Allow-Headers": "content-type",
    }


def test_host_cors_keeps_the_headers_the_app_exposes():
    """The host adds the allowed origin but never touches the app's Access-Control-Expose-Headers
    (Core Tools and the platform cannot set it; the app names Retry-After and friends)."""
    from multidict import CIMultiDict

    exposed = "Retry-After, Idempotent-Replayed, Location"
    headers: CIMultiDict[str] = CIMultiDict({"Access-Control-Expose-Headers": exposed})
    HostCors.parse("http://a.example").decorate(headers, "http://a.example")
    assert headers["Access-Control-Allow-Origin"] == "http://a.example"
    assert headers.getall("Access-Control-Expose-Headers") == [exposed]
