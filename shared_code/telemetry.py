"""Application Insights through OpenTelemetry, so traces, dependency calls and logs
correlate. Configured only when a connection string is set (in Azure); locally a no-op."""

from __future__ import annotations

import logging

from shared_code.settings import get_settings

logger = logging.getLogger("lectern.telemetry")
_configured = False


def configure_telemetry() -> bool:
    global _configured
    settings = get_settings()
    connection_string = settings.applicationinsights_connection_string.get_secret_value()
    if _configured or not connection_string:
        return False
    # Imported only when telemetry is configured: the exporter pulls in all of OpenTelemetry,
    # which local runs and tests never need.
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=connection_string,
        logger_name="lectern",
    )
    _configured = True
    logger.info("telemetry exported to Application Insights")
    return True
