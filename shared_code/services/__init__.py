"""Domain logic: plain async functions that take an AppContext and raise domain errors."""
