"""Offline checks of the Azure deployment in infra/bicep.

The Bicep compiler cannot be downloaded here, so the templates are checked two ways:
checkov's Bicep rules (security and reliability settings), and text-level tests that tie
the templates to the code, so a setting, queue or table added to the app cannot be
forgotten in the deployment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import AliasChoices

from shared_code.settings import Settings
from tests.infra import bicep_text

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"
MAIN = BICEP_DIR / "main.bicep"

# Secrets reach the app only through Key Vault references.
SECRET_SETTINGS = (
    "WebPubSubConnectionString",
    "VIDEO_SIGNING_KEY",
    "PAYMENT_WEBHOOK_SECRETS",
    "STRIPE_SECRET_KEY",
    "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRETS",
)

# In Azure the storage account is reached with the managed identity: the account name
# stands in for the connection string (which would carry a key).
STORAGE_BY_IDENTITY = {"storage_connection_string": "AzureWebJobsStorage__accountName"}


@pytest.fixture(scope="module")
def main() -> bicep_text.BicepFile:
    return bicep_text.parse(MAIN)


@pytest.fixture(scope="module")
def app_settings(main: bicep_text.BicepFile) -> dict[str, str]:
    return bicep_text.object_keys(main.vars["appSettings"])


def _aliases(field_name: str) -> list[str]:
    alias = Settings.model_fields[field_name].validation_alias
    assert isinstance(alias, AliasChoices), f"{field_name} has no validation_alias choices"
    return [choice for choice in alias.choices if isinstance(choice, str)]


# --- (a) checkov ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkov_reports() -> list[dict]:
    """Runs checkov over infra/bicep once, installing it first when it is missing."""
    ensure = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_checkov.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert ensure.returncode == 0, f"installing checkov failed:\n{ensure.stderr[-3000:]}"
    checkov = ensure.stdout.strip().splitlines()[-1]
    env = {
        **os.environ,
        # Offline: no guideline download from the vendor's platform, no version check.
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
        # checkov links template variables in hash order; a fixed seed makes a run
        # reproducible between machines.
        "PYTHONHASHSEED": "0",
    }
    run = subprocess.run(
        [checkov, "--framework", "bicep", "-d", "infra/bicep", "--compact", "--quiet", "--skip-download", "-o", "json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit code 1 means "failed checks"; anything else is a crash.
    assert run.returncode in (0, 1), f"checkov crashed ({run.returncode}):\n{run.stderr[-3000:]}"
    report = json.loads(run.stdout)
    return report if isinstance(report, list) else [report]


def _bicep_report(reports: list[dict]) -> dict:
    matching = [r for r in reports if r.get("check_type") == "bicep"]
    assert len(matching) == 1, f"expected one bicep report, got {[r.get('check_type') for r in reports]}"
    return matching[0]


def test_checkov_reports_no_failed_check(checkov_reports: list[dict]) -> None:
    report = _bicep_report(checkov_reports)
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "checkov failed checks:\n" + "\n".join(failed)
    assert report["summary"]["failed"] == 0


def test_checkov_parsed_every_template(checkov_reports: list[dict]) -> None:
    summary = _bicep_report(checkov_reports)["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a template; its checks would silently not run"
    templates = list(BICEP_DIR.rglob("*.bicep"))
    # Each template declares at least one resource, and checks ran against them.
    assert summary["resource_count"] >= len(templates)
    assert summary["passed"] > 0


def test_every_checkov_skip_has_a_reason_and_is_used(checkov_reports: list[dict]) -> None:
    skips: list[tuple[str, str, str]] = []
    for path in BICEP_DIR.rglob("*.bicep"):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                match = re.search(r"checkov:skip=(CKV2?_AZURE_\d+):(.*)$", line)
                assert match, f"{path.name}: malformed skip: {line.strip()}"
                skips.append((path.name, match.group(1), match.group(2).strip()))
    for file_name, check_id, reason in skips:
        assert len(reason) >= 40, f"{file_name}: skip of {check_id} needs a real reason, got {reason!r}"
    # Each written skip suppressed a check in this run: none is left over from a
    # resource that no longer needs it.
    assert _bicep_report(checkov_reports)["summary"]["skipped"] == len(skips)


# --- (b) the templates serve what the code reads ----------------------------------------


def test_every_setting_the_app_reads_is_an_app_setting(app_settings: dict[str, str]) -> None:
    missing: list[str] = []
    for name in Settings.model_fields:
        aliases = _aliases(name)
        if name in STORAGE_BY_IDENTITY:
            aliases = [*aliases, STORAGE_BY_IDENTITY[name]]
        if not any(alias in app_settings for alias in aliases):
            missing.append(f"{name} (one of {', '.join(aliases)})")
    assert missing == [], "settings the app reads but main.bicep does not set:\n" + "\n".join(missing)


def test_app_settings_name_only_settings_the_app_or_platform_reads(app_settings: dict[str, str]) -> None:
    known = {alias for name in Settings.model_fields for alias in _aliases(name)}
    # Read by the platform: the worker's OpenTelemetry switch (docs/observability.md).
    known |= set(STORAGE_BY_IDENTITY.values()) | {"APPLICATIONINSIGHTS_CONNECTION_STRING", "PYTHON_ENABLE_OPENTELEMETRY"}
    assert set(app_settings) - known == set()


def test_storage_is_reached_by_identity_not_by_key(app_settings: dict[str, str]) -> None:
    assert "AzureWebJobsStorage" not in app_settings
    assert "LECTERN_STORAGE_CONNECTION" not in app_settings
    # Flex Consumption takes the runtime from functionAppConfig and rejects this setting.
    assert "FUNCTIONS_WORKER_RUNTIME" not in app_settings
    storage = bicep_text.parse(BICEP_DIR / "modules" / "storage.bicep")
    text = "\n".join(storage.lines)
    assert re.search(r"^\s*allowSharedKeyAccess:\s*false\s*$", text, re.M)
    assert re.search(r"^\s*allowBlobPublicAccess:\s*false\s*$", text, re.M)
    assert re.search(r"^\s*minimumTlsVersion:\s*'TLS1_2'\s*$", text, re.M)


def test_secrets_are_key_vault_references(app_settings: dict[str, str]) -> None:
    for name in SECRET_SETTINGS:
        assert app_settings[name].startswith("'@Microsoft.KeyVault(SecretUri=${"), f"{name} is not a Key Vault reference"
    # Tokens come only from the OpenID issuer in Azure; a development secret would let its
    # holder mint tokens.
    assert app_settings["JWT_DEV_SECRET"] == "''"
    assert app_settings["JWT_JWKS_URL"] == "jwtJwksUrl"
    assert app_settings["LECTERN_ENV"] == "'production'"


def test_storage_names_in_app_settings_match_the_code(main: bicep_text.BicepFile, app_settings: dict[str, str]) -> None:
    defaults = Settings.model_construct()
    for field_name in ("materials_container", "outbox_queue", "audit_table", "access_log_table",
                       "change_log_table", "attendance_table"):
        setting = _aliases(field_name)[0]
        value = bicep_text.evaluate_string(app_settings[setting], main.vars)
        assert value == getattr(defaults, field_name), f"{setting} is {value!r} in Azure"
    assert bicep_text.evaluate_string(app_settings["WebPubSubHub"], main.vars) == defaults.webpubsub_hub


def test_every_queue_table_and_container_the_code_uses_is_created(main: bicep_text.BicepFile) -> None:
    def names(var: str) -> set[str]:
        return {bicep_text.evaluate_string(item, main.vars) for item in bicep_text.array_items(main.vars[var])}

    containers, queues, tables = names("blobContainerNames"), names("queueNames"), names("tableNames")
    defaults = Settings.model_construct()
    assert defaults.materials_container in containers
    assert {defaults.outbox_queue, f"{defaults.outbox_queue}-poison"} <= queues
    assert {defaults.audit_table, defaults.access_log_table, defaults.change_log_table, defaults.attendance_table} <= tables
    # The Flex Consumption deployment container is created with the others.
    assert main.modules["functionApp"].params["deploymentContainerName"] == "deploymentContainerName"
    assert bicep_text.evaluate_string("deploymentContainerName", main.vars) in containers

    # ...and the storage module really turns those lists into resources.
    storage_call = main.modules["storage"]
    assert storage_call.params["containerNames"] == "blobContainerNames"
    assert storage_call.params["queueNames"] == "queueNames"
    assert storage_call.params["tableNames"] == "tableNames"
    storage = bicep_text.parse(BICEP_DIR / storage_call.path)
    loops = {r.type: r.header for r in storage.resources.values()}
    assert "for containerName in containerNames" in "\n".join(storage.lines)
    assert "Microsoft.Storage/storageAccounts/blobServices/containers" in loops
    assert "for queueName in queueNames" in "\n".join(storage.lines)
    assert "Microsoft.Storage/storageAccounts/queueServices/queues" in loops
    assert "for tableName in tableNames" in "\n".join(storage.lines)
    assert "Microsoft.Storage/storageAccounts/tableServices/tables" in loops


def test_app_settings_are_applied_to_the_function_app(main: bicep_text.BicepFile) -> None:
    call = main.modules["functionAppSettings"]
    assert call.params == {"appName": "functionApp.outputs.name", "settings": "appSettings"}
    module = bicep_text.parse(BICEP_DIR / call.path)
    text = "\n".join(module.lines)
    assert any(r.type == "Microsoft.Web/sites/config" for r in module.resources.values())
    assert re.search(r"^\s*name:\s*'appsettings'\s*$", text, re.M)
    assert re.search(r"^\s*properties:\s*settings\s*$", text, re.M)
    # Applied after the identity holds its roles, so Key Vault references resolve.
    block = "\n".join(main.block(next(i for i, line in enumerate(main.lines) if line.startswith("module functionAppSettings"))))
    assert re.search(r"dependsOn:\s*\[\s*roleAssignments\s*\]", block)


def test_web_pubsub_hub_calls_the_event_handler_route() -> None:
    text = (BICEP_DIR / "modules" / "webpubsub.bicep").read_text()
    assert "urlTemplate: 'https://${eventHandlerHost}/api/webpubsub/events'" in text
    assert "userEventPattern: '*'" in text
    for event in ("connect", "disconnected"):
        assert re.search(rf"^\s*'{event}'\s*$", text, re.M), f"system event {event} not routed"
    # Presence starts when `connect` is accepted: a `connected` call would be an upstream call
    # per connection that does nothing.
    assert not re.search(r"^\s*'connected'\s*$", text, re.M), "the hub still subscribes to connected"


# --- (c) the modules fit together -------------------------------------------------------


def test_every_module_exists_and_gets_its_required_params(main: bicep_text.BicepFile) -> None:
    assert main.modules, "main.bicep references no module"
    for call in main.modules.values():
        module_path = BICEP_DIR / call.path
        assert module_path.is_file(), f"module {call.symbol}: {call.path} does not exist"
        module = bicep_text.parse(module_path)
        required = {name for name, default in module.params.items() if default is None}
        assert required - set(call.params) == set(), f"{call.path}: required params not given by main.bicep"
        unknown = set(call.params) - set(module.params)
        assert unknown == set(), f"{call.path}: main.bicep passes params the module does not declare"


def test_parameters_file_names_only_declared_params(main: bicep_text.BicepFile) -> None:
    values = json.loads((BICEP_DIR / "main.parameters.json").read_text())["parameters"]
    assert set(values) - set(main.params) == set()
    # What azd cannot prompt for sensibly is mapped: environment, region and every
    # required value.
    required = {name for name, default in main.params.items() if default is None}
    assert required - set(values) == set()


def test_parameters_file_holds_no_secret_values(main: bicep_text.BicepFile) -> None:
    values = json.loads((BICEP_DIR / "main.parameters.json").read_text())["parameters"]
    main_text = MAIN.read_text()
    secure = set(re.findall(r"@secure\(\)\s*(?:@\w+\([^)]*\)\s*|@description\('(?:[^'\\]|\\.)*'\)\s*)*param\s+(\w+)", main_text))
    assert {"videoSigningKey", "paymentWebhookSecrets", "postgresAdminPassword"} <= secure
    for name in secure & set(values):
        value = values[name]["value"]
        assert re.fullmatch(r"\$[({].*[)}]", value), f"{name} must come from the environment or Key Vault, not the file"


def test_parameters_file_literals_match_param_types(main: bicep_text.BicepFile) -> None:
    values = json.loads((BICEP_DIR / "main.parameters.json").read_text())["parameters"]
    declared = {m.group(1): m.group(2) for m in re.finditer(r"^param\s+(\w+)\s+(\w+)", MAIN.read_text(), re.M)}
    python_type = {"int": int, "bool": bool, "string": str}
    for name, entry in values.items():
        value = entry["value"]
        if isinstance(value, str) and value.startswith("$"):
            assert declared[name] == "string", f"{name}: only string params are filled from the environment"
            continue
        assert type(value) is python_type[declared[name]], f"{name}: {value!r} is not a {declared[name]}"


def test_names_come_from_the_resource_token_and_abbreviations(main: bicep_text.BicepFile) -> None:
    assert main.vars["resourceToken"] == "toLower(uniqueString(subscription().id, environmentName, location))"
    abbreviations = json.loads((BICEP_DIR / "abbreviations.json").read_text())
    used = set(re.findall(r"abbrs\.(\w+)", MAIN.read_text()))
    assert used and used <= set(abbreviations)
    assert "'azd-env-name': environmentName" in main.vars["tags"]
    assert "'azd-service-name': 'api'" in "\n".join(main.lines)


def test_azd_project_deploys_the_app_with_this_infrastructure() -> None:
    text = (REPO / "azure.yaml").read_text()
    assert re.search(r"^infra:\n(?:  .*\n)*  path: infra/bicep$", text, re.M)
    service = re.search(r"^  api:\n((?:    .*\n?)*)", text, re.M)
    assert service, "azure.yaml has no service 'api'"
    body = service.group(1)
    for line in ("project: .", "language: python", "host: function"):
        assert re.search(rf"^    {re.escape(line)}$", body, re.M), f"service api lacks '{line}'"


def test_deployment_package_leaves_out_local_tooling_but_keeps_the_app() -> None:
    ignored = {line.strip() for line in (REPO / ".funcignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for path in ("tests", "bench", "devhost", "localpubsub", "localpay", "devstack", "node_modules", ".venv", ".stack", "docs",
                 "clients"):
        assert path in ignored, f".funcignore does not exclude {path}"
    for path in ("function_app.py", "functions", "shared_code", "host.json", "requirements.txt"):
        assert path not in ignored, f".funcignore would drop {path} from the package"


# --- (d) identities instead of keys -------------------------------------------------------


def test_app_signs_in_to_postgresql_and_redis_with_its_identity_not_a_password(app_settings: dict[str, str]) -> None:
    assert app_settings["LECTERN_AUTH_MODE"] == "'identity'"
    # A user and no password in either URL: the adapters add an Entra token per connection.
    assert re.fullmatch(r"'postgresql://\$\{uriComponent\(functionApp\.outputs\.name\)\}@\$\{[^}]+\}:5432/\$\{[^}]+\}\?sslmode=require'",
                        app_settings["POSTGRES_URL"]), app_settings["POSTGRES_URL"]
    assert app_settings["REDIS_URL"] == "redis.outputs.appUrl"
    redis = (BICEP_DIR / "modules" / "redis.bicep").read_text()
    assert "accessKeysAuthentication: 'Disabled'" in redis and "disableAccessKeyAuthentication: true" in redis
    assert "listKeys" not in redis, "no Redis key is read any more"
    assert re.search(r"accessPolicyAssignments@[\d-]+' = if \(isManaged\)[\s\S]*?objectId: appPrincipalId", redis)
    postgres = (BICEP_DIR / "modules" / "postgres.bicep").read_text()
    assert "0.0.0.0" not in postgres, "the PostgreSQL firewall admits all of Azure"


def test_storage_roles_are_scoped_to_the_containers_queues_and_tables_the_app_uses() -> None:
    text = (BICEP_DIR / "modules" / "role-assignments.bicep").read_text()
    assignments = re.findall(
        r"^resource (\w+) 'Microsoft\.Authorization/roleAssignments@[^']+' = [\s\S]*?^\s*scope: ([\w\[\]]+)$", text, re.M
    )
    scopes = dict(assignments)
    assert scopes["appMaterials"] == "materialsContainer"
    assert scopes["appHostBlobs"] == "hostContainers[i]"
    assert scopes["appQueues"] == "queues[i]"
    assert scopes["appTables"] == "tables[i]"
    assert scopes["appDelegator"] == "blobService"
    # No data role on the whole account.
    assert "storage" not in scopes.values(), "a role is assigned on the whole storage account"
