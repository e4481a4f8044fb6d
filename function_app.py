"""The one FunctionApp of Lectern: every trigger lives in a blueprint under functions/."""

import azure.functions as func

from functions import system

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

app.register_functions(system.bp)
