"""The one FunctionApp of Lectern: every trigger lives in a blueprint under functions/."""

import azure.functions as func

from functions import retries, system

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (system.bp, retries.bp):
    app.register_functions(blueprint)
