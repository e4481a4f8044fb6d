"""Everything the trigger handlers call: settings, auth, HTTP helpers, models, services, adapters."""
