"""Homeserver configuration: declared once, validated into frozen dataclasses, documented.

See ``myelin.config.homeserver`` for the options and ``myelin.config.render`` for the generated
configuration file and reference.
"""

from myelin.config.homeserver import (
    DatabaseConfig,
    HomeserverConfig,
    ListenerConfig,
    LoggingConfig,
    OldSigningKeyConfig,
    load_config,
    parse_config,
)
from myelin.config.render import configuration_markdown, generate_config
from myelin.config.schema import ConfigError, Problem, Report

__all__ = [
    "ConfigError",
    "DatabaseConfig",
    "HomeserverConfig",
    "ListenerConfig",
    "LoggingConfig",
    "OldSigningKeyConfig",
    "Problem",
    "Report",
    "configuration_markdown",
    "generate_config",
    "load_config",
    "parse_config",
]
