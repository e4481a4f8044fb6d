"""The one FunctionApp of Lectern: every trigger lives in a blueprint under functions/."""

import azure.functions as func

from functions import (
    admin,
    admin_content,
    certificates,
    content,
    demo,
    docs,
    live,
    me,
    notifications,
    payments,
    privacy,
    progress,
    realtime_events,
    retries,
    schedules,
    system,
)
from shared_code.heap import freeze_long_lived
from shared_code.settings import get_settings
from shared_code.telemetry import configure_telemetry

# Outside development a configuration that would trust development tokens stops the app
# here, while the host indexes it, with the setting named: it never serves a request.
get_settings().require_safe_for_environment()

configure_telemetry()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (
    system.bp,
    content.bp,
    me.bp,
    payments.bp,
    progress.bp,
    certificates.bp,
    live.bp,
    notifications.bp,
    realtime_events.bp,
    admin.bp,
    privacy.bp,
    admin_content.bp,
    retries.bp,
    schedules.bp,
    docs.bp,
    demo.bp,
):
    app.register_functions(blueprint)

# Everything imported and registered above lives as long as the worker: out of the
# collector's sight (shared_code/heap.py).
freeze_long_lived()
