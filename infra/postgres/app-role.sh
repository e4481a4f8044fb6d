#!/usr/bin/env bash
# Post-provision step: gives the function app's managed identity its PostgreSQL role
# (Entra authentication, no password) and the schema it owns (infra/postgres/app-role.sql).
# Run once after the first `azd provision`, and again after recreating the function app,
# as the PostgreSQL Entra administrator (postgresEntraAdminName), from a machine that can
# reach the server (inside the virtual network with the private layout). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

env_value() { azd env get-value "$1" 2>/dev/null || true; }
host="${AZURE_POSTGRES_HOST:-$(env_value AZURE_POSTGRES_HOST)}"
database="${AZURE_POSTGRES_DATABASE:-$(env_value AZURE_POSTGRES_DATABASE)}"
app="${AZURE_FUNCTION_APP_NAME:-$(env_value AZURE_FUNCTION_APP_NAME)}"
object_id="${AZURE_FUNCTION_APP_PRINCIPAL_ID:-$(env_value AZURE_FUNCTION_APP_PRINCIPAL_ID)}"
admin="${POSTGRES_ENTRA_ADMIN_NAME:?set POSTGRES_ENTRA_ADMIN_NAME to the Entra administrator you sign in as}"
for name in host database app object_id; do
  [[ -n "${!name}" ]] || { echo "missing ${name}: run after azd provision, or export it" >&2; exit 1; }
done

# The administrator's own Entra token is the password; TLS is required.
PGPASSWORD="$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv)"
export PGPASSWORD PGSSLMODE=require

psql "host=${host} dbname=postgres user=${admin}" -v ON_ERROR_STOP=1 -v app="${app}" -v oid="${object_id}" <<'SQL'
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') AS role_exists \gset
\if :role_exists
\echo role :app exists
\else
SELECT * FROM pgaadauth_create_principal_with_oid(:'app', :'oid', 'service', false, false);
\endif
SQL

psql "host=${host} dbname=${database} user=${admin}" -v ON_ERROR_STOP=1 -v app="${app}" -v db="${database}" -f "${here}/app-role.sql"
echo "PostgreSQL role ${app} owns schema lectern in ${database}"
