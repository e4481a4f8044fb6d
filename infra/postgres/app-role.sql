-- The function app's own role in the Lectern database: least privilege for a managed
-- identity. Run by infra/postgres/app-role.sh as the Entra administrator, connected to the
-- app's database, with psql variables `app` (the role: the function app's name) and `db`.
-- The role itself is created first, in database postgres, by
-- pgaadauth_create_principal_with_oid(app, object id, 'service', false, false): not an
-- administrator, so no superuser, CREATEDB or CREATEROLE. Idempotent.

-- Nobody but the roles granted below creates objects or connects.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";

-- The app owns one schema, `lectern`, and finds its tables there first.
CREATE SCHEMA IF NOT EXISTS lectern AUTHORIZATION :"app";
ALTER ROLE :"app" IN DATABASE :"db" SET search_path = lectern;

-- Extensions the migrations use (the user search's trigram indexes); the app's role may
-- not create them. In the app's schema, so its search_path finds their operator classes.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA lectern;

-- The administrator may act as the app's role (SET ROLE), so migrations it runs create
-- tables the app owns; the app gains nothing from this.
GRANT :"app" TO CURRENT_USER;
