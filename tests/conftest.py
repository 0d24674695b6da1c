"""Shared fixtures live in the plugin modules next to the stand-ins they start."""

pytest_plugins = [
    "tests.fakes.mailcow_plugin",
]
