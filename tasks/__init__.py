"""Task adapters, one module per task; the registry is `tasks.registry.TASKS`."""
