"""The framework's activities by name: defined in `workflows.catalog` (a definition is
validated against them when it compiles); re-exported here, where they are implemented."""

from workflows.catalog import KNOWN_ACTIVITIES, SITE_ACTIVITIES, SYSTEM_ACTIVITIES

__all__ = ["KNOWN_ACTIVITIES", "SITE_ACTIVITIES", "SYSTEM_ACTIVITIES"]
