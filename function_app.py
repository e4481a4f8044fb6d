"""The one FunctionApp of Lectern: every trigger lives in a blueprint under functions/."""

import azure.functions as func

from shared_code.telemetry import configure_telemetry

from functions import admin, content, live, payments, progress, realtime_events, retries, schedules, system

configure_telemetry()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (
    system.bp,
    content.bp,
    payments.bp,
    progress.bp,
    live.bp,
    realtime_events.bp,
    admin.bp,
    retries.bp,
    schedules.bp,
):
    app.register_functions(blueprint)
