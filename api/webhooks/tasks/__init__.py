"""The webhook tasks a worker runs (listed in trigger_config.py's `dirs`, so every `taskpack worker` loads them)."""
