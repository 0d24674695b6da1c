"""Shared fixtures live in the plugin modules next to the stand-ins they start."""

pytest_plugins = [
    "tests.fakes.mailcow_plugin",
    "tests.fakes.db_plugin",
    "tests.fakes.slack_plugin",
    "tests.fakes.approval_plugin",
    "tests.fakes.log_plugin",
]
