"""Settings from the environment (prefix ``FOLLOWTHROUGH_``).

Importing the package pins time-zone rules to the ``tzdata`` package (``config.zones``): every
entry point (CLI, API, worker) imports it before any ``ZoneInfo`` is created.
"""

from config.zones import pin_tzdata

pin_tzdata()
