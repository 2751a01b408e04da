"""The ``myelin`` command (Myelin operations; no spec section).

Subcommands: run, generate-config, check-config, register-user, migrate, version. Every one
explains itself with ``--help``; errors go to stderr with exit status 1.
"""

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from myelin import __version__
from myelin.app import describe_database, open_database, run_homeserver
from myelin.clock import SystemClock
from myelin.config import (
    ConfigError,
    HomeserverConfig,
    Report,
    configuration_markdown,
    generate_config,
    load_config,
)
from myelin.log import setup_logging
from myelin.services.accounts import (
    AccountService,
    InvalidUsernameError,
    UserInUseError,
    local_user_id,
)
from myelin.services.server_keys import SigningKeyFileError
from myelin.storage import StorageError, make_stores

DEFAULT_DATA_DIR = Path("data")
CONFIG_FILE_NAME = "homeserver.yaml"


class CommandError(Exception):
    """A failure to report on stderr (exit status 1)."""


def _load(path: Path) -> HomeserverConfig:
    report = Report()
    try:
        config = load_config(path, report)
    except FileNotFoundError as e:
        raise CommandError(
            f"{path}: no such configuration file (make one with `myelin generate-config`)"
        ) from e
    except OSError as e:
        raise CommandError(f"{path}: cannot read: {e}") from e
    except ConfigError as e:
        raise CommandError(f"{path}: invalid configuration:\n{_indent(str(e))}") from e
    finally:
        for warning in report.warnings:
            print(f"warning: {path}: {warning}", file=sys.stderr)
    return config


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


# ---- run ---------------------------------------------------------------------------------------


def _default_config(data_dir: Path, server_name: str | None) -> Path:
    """The config file of the embedded default, generated in ``data_dir`` on first start."""
    path = data_dir / CONFIG_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(generate_config(server_name or "localhost"), encoding="utf-8")
        print(f"Generated {path} for server name {server_name or 'localhost'}", file=sys.stderr)
    return path


def cmd_run(args: argparse.Namespace) -> int:
    if args.config is not None:
        if args.data_dir is not None or args.server_name is not None:
            raise CommandError("--data-dir and --server-name apply only without --config")
        path = args.config
    else:
        path = _default_config(args.data_dir or DEFAULT_DATA_DIR, args.server_name)
    config = _load(path)
    if args.server_name is not None and args.server_name != config.server_name:
        raise CommandError(
            f"{path} is for server name {config.server_name}, not {args.server_name};"
            " a server name cannot change (use another --data-dir)"
        )
    setup_logging(config.logging.level, config.logging.format)
    logging.getLogger("myelin").info("Configuration: %s", path.resolve())
    try:
        _serve_forever(run_homeserver(config))
    except (SigningKeyFileError, StorageError, OSError) as e:
        raise CommandError(str(e)) from e
    return 0


def _serve_forever(main: Coroutine[Any, Any, None]) -> None:
    """Run the server's main coroutine on uvloop (libuv's event loop: the same asyncio API with
    less CPU per request and per socket event) when it is installed, else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        logging.getLogger("myelin").info("Event loop: asyncio (uvloop is not installed)")
        asyncio.run(main)
        return
    logging.getLogger("myelin").info("Event loop: uvloop")
    uvloop.run(main)


# ---- generate-config / check-config ------------------------------------------------------------


def cmd_generate_config(args: argparse.Namespace) -> int:
    if args.format == "markdown":
        sys.stdout.write(configuration_markdown())
    else:
        sys.stdout.write(generate_config(args.server_name, args.data_dir, args.port))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    listeners = ", ".join(f"{lis.type}:{lis.port}" for lis in config.listeners)
    print(
        f"{args.file}: valid (server_name {config.server_name}; listeners {listeners};"
        f" database {describe_database(config)})"
    )
    return 0


# ---- register-user / migrate -------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Confirm password: "):
            raise CommandError("the passwords do not match")
    if not password:
        raise CommandError("the password is empty")
    return password


async def _register(config: HomeserverConfig, user: str, password: str, admin: bool) -> str:
    db = await open_database(config)
    try:
        await db.migrate()
        accounts = AccountService(
            config.server_name, make_stores(db).users, SystemClock(), config.bcrypt_rounds
        )
        return await accounts.register_user(user, password, admin=admin)
    finally:
        await db.close()


def cmd_register_user(args: argparse.Namespace) -> int:
    config = _load(args.config)
    # Refuse a bad name before asking for a password.
    try:
        local_user_id(args.user, config.server_name)
    except InvalidUsernameError as e:
        raise CommandError(str(e)) from e
    password = _read_password(args.password_stdin)
    try:
        user_id = asyncio.run(_register(config, args.user, password, args.admin))
    except (InvalidUsernameError, UserInUseError, StorageError, OSError) as e:
        raise CommandError(str(e)) from e
    print(f"Created {'admin ' if args.admin else ''}user {user_id}")
    return 0


async def _migrate(config: HomeserverConfig) -> tuple[list[int], int]:
    db = await open_database(config)
    try:
        applied = await db.migrate()
        return applied, await db.schema_version()
    finally:
        await db.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    config = _load(args.config)
    try:
        applied, version = asyncio.run(_migrate(config))
    except (StorageError, OSError) as e:
        raise CommandError(str(e)) from e
    print(f"Database: {describe_database(config)}")
    if applied:
        print(f"Applied migrations: {', '.join(map(str, applied))}")
    else:
        print("No migrations to apply")
    print(f"Schema version: {version}")
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(f"Myelin {__version__}")
    return 0


# ---- the parser --------------------------------------------------------------------------------


def _port(text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a port number between 1 and 65535, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="myelin", description="Myelin, a Matrix homeserver.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = f"the configuration file (default: {DEFAULT_DATA_DIR / CONFIG_FILE_NAME})"
    default_config = DEFAULT_DATA_DIR / CONFIG_FILE_NAME

    run = sub.add_parser(
        "run",
        help="run the homeserver",
        description="Run the homeserver until SIGTERM or SIGINT. Without --config, the data"
        f" directory ({DEFAULT_DATA_DIR}/ unless --data-dir) holds everything: on first start a"
        f" {CONFIG_FILE_NAME} (SQLite, 127.0.0.1:8008) and an Ed25519 signing key are generated"
        " there. Database migrations run on start.",
    )
    run.add_argument("--config", type=Path, metavar="FILE", help="the configuration file")
    run.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"without --config: where data lives (default: {DEFAULT_DATA_DIR})",
    )
    run.add_argument(
        "--server-name",
        metavar="NAME",
        help="without --config: the server name for a new data directory (default: localhost)",
    )
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser(
        "generate-config",
        help="print a commented configuration file",
        description="Print a configuration file documenting every option to stdout. The"
        " options given fill in the essentials, so that `myelin generate-config --server-name"
        " example.org --data-dir /var/lib/myelin > homeserver.yaml` makes a working config.",
    )
    gen.add_argument(
        "--server-name",
        default="localhost",
        metavar="NAME",
        help="the server name (default: localhost)",
    )
    gen.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the database, signing key and media go (default: next to"
        " the configuration file)",
    )
    gen.add_argument(
        "--port",
        type=_port,
        default=8008,
        metavar="N",
        help="the port of the HTTP listener (default: 8008)",
    )
    gen.add_argument(
        "--format",
        choices=("yaml", "markdown"),
        default="yaml",
        help="yaml: the configuration file; markdown: the option reference (docs/configuration.md)",
    )
    gen.set_defaults(func=cmd_generate_config)

    check = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a configuration file. On error, name each bad key and how to"
        " fix it, and exit with status 1. Unknown top-level keys are warnings.",
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the configuration file")
    check.set_defaults(func=cmd_check_config)

    reg = sub.add_parser(
        "register-user",
        help="create a user account in the database",
        description="Create a local user with a password (stored as a bcrypt hash) directly in"
        " the database. The password is asked twice, or read from the first line of stdin with"
        " --password-stdin. Existing users and invalid names are refused.",
    )
    reg.add_argument(
        "--config", type=Path, default=default_config, metavar="FILE", help=config_help
    )
    reg.add_argument("--admin", action="store_true", help="make the user a server admin")
    reg.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin instead of prompting",
    )
    reg.add_argument(
        "user", metavar="USER", help="a localpart (alice) or full user ID (@alice:example.org)"
    )
    reg.set_defaults(func=cmd_register_user)

    mig = sub.add_parser(
        "migrate",
        help="apply database migrations",
        description="Apply pending database migrations and print which were applied and the"
        " resulting schema version. (`myelin run` does this on start too.)",
    )
    mig.add_argument(
        "--config", type=Path, default=default_config, metavar="FILE", help=config_help
    )
    mig.set_defaults(func=cmd_migrate)

    ver = sub.add_parser("version", help="print the version", description="Print Myelin's version.")
    ver.set_defaults(func=cmd_version)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``myelin`` command; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except CommandError as e:
        print(f"myelin {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status
