"""``kallglot doctor``: check a node's setup and say what to fix."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import typer

from kallglot.cli.common import settings_or_exit
from kallglot.core.settings import Settings


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    verdict: Verdict
    detail: str
    fix: str = ""


Check = Callable[[Settings], Iterator[Finding]]
_UPGRADE = "run `kallglot db upgrade`"


def _database(settings: Settings) -> Iterator[Finding]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from kallglot.db import migrate
    from kallglot.db.engine import build_engine

    url = settings.effective_database_url
    database = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and database and not Path(database).exists():
        # Connecting would create an empty file: say so instead.
        yield Finding("database", Verdict.FAIL, f"{database} does not exist", _UPGRADE)
        return
    engine = build_engine(url)
    try:
        current = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        yield Finding(
            "database",
            Verdict.FAIL,
            f"unreachable ({type(exc.__cause__ or exc).__name__})",
            "check KALLGLOT_DATABASE_URL and that the database server is up",
        )
        return
    finally:
        engine.dispose()
    head = migrate.head_revision(url)
    if current == head:
        yield Finding("database", Verdict.OK, f"reachable, migrated to {head}")
    else:
        yield Finding(
            "database",
            Verdict.FAIL,
            f"at revision {current or 'none'}, the code needs {head}",
            _UPGRADE,
        )


def _master_key(settings: Settings) -> Iterator[Finding]:
    key_file = settings.var_dir / "master.key"
    if settings.master_key is not None:
        source = "KALLGLOT_MASTER_KEY"
    elif key_file.is_file():
        source = str(key_file)
    else:
        yield Finding(
            "master key",
            Verdict.WARN if settings.env != "production" else Verdict.FAIL,
            f"none yet; {key_file} is created at the first start",
            "set KALLGLOT_MASTER_KEY (base64 of 32 random bytes) to keep it outside var/",
        )
        return
    try:
        master_key = settings.master_key_bytes()
    except ValueError as exc:
        yield Finding("master key", Verdict.FAIL, f"{source}: {exc}", "set a valid master key")
        return
    yield Finding("master key", Verdict.OK, f"from {source}")
    yield from _data_keys_unwrappable(settings, master_key)


def _data_keys_unwrappable(settings: Settings, master_key: bytes) -> Iterator[Finding]:
    from sqlalchemy.exc import SQLAlchemyError

    from kallglot.crypto.keyring import Keyring
    from kallglot.crypto.wrapping import LocalKeyWrapper, local_key_id
    from kallglot.db.engine import database_transaction

    previous = settings.previous_master_keys_bytes()
    known = {local_key_id(key) for key in (master_key, *previous)}
    try:
        with database_transaction(settings.effective_database_url) as session:
            usage = Keyring(LocalKeyWrapper(master_key, previous)).master_key_usage(session)
    except SQLAlchemyError:
        return  # the database finding says why
    unknown = sorted(set(usage) - known)
    if unknown:
        yield Finding(
            "data keys",
            Verdict.FAIL,
            f"{sum(usage[k] for k in unknown)} live data keys wrapped by a master key not "
            f"configured here ({', '.join(unknown)})",
            "put that key in KALLGLOT_PREVIOUS_MASTER_KEYS and run `kallglot keys rotate`",
        )
    else:
        yield Finding("data keys", Verdict.OK, f"{sum(usage.values())} live, all unwrappable")


def _models(settings: Settings) -> Iterator[Finding]:
    from kallglot.speech.models import model_statuses

    statuses = model_statuses(verify=True)
    bad = [s.name for s in statuses if not s.installed or s.intact is False]
    if bad:
        yield Finding(
            "speech models",
            Verdict.FAIL,
            f"missing or damaged: {', '.join(bad)}",
            "run `kallglot models install` (after `make setup`)",
        )
    else:
        yield Finding("speech models", Verdict.OK, f"{len(statuses)} installed, checksums match")


def _voices(settings: Settings) -> Iterator[Finding]:
    from kallglot.speech import capabilities as caps
    from kallglot.speech import registry

    voiced = {tts.language for tts in caps.TTS if registry.engine_available(tts.engine)}
    silent = sorted(set(caps.LANGUAGES) - voiced)
    if silent:
        yield Finding(
            "voices",
            Verdict.FAIL,
            f"no voice installed for: {', '.join(silent)}",
            "run `make setup` (installs Piper and espeak-ng)",
        )
    else:
        yield Finding("voices", Verdict.OK, f"a voice for each of {len(voiced)} languages")


def _sip_port(settings: Settings) -> Iterator[Finding]:
    if settings.sip_listen is None:
        yield Finding("SIP", Verdict.OK, "no SIP listener configured (KALLGLOT_SIP_LISTEN)")
        return
    _, host, port = settings.sip_listen.split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            yield Finding(
                "SIP",
                Verdict.WARN,
                f"udp {host}:{port} cannot be bound ({exc.strerror})",
                "fine if a Kallglot node runs here; otherwise free the port or change "
                "KALLGLOT_SIP_LISTEN",
            )
            return
    yield Finding("SIP", Verdict.OK, f"udp {host}:{port} is free for the gateway")


def _public_url(settings: Settings) -> Iterator[Finding]:
    url = settings.public_base_url
    if url.startswith("https://"):
        yield Finding("public URL", Verdict.OK, url)
    elif settings.env == "production":
        yield Finding(
            "public URL",
            Verdict.FAIL,
            f"{url} is not https: carriers would be sent ws:// stream URLs",
            "set KALLGLOT_PUBLIC_BASE_URL to the https address carriers reach",
        )
    else:
        yield Finding("public URL", Verdict.WARN, f"{url} (http: fine for local use only)")


def _redis(settings: Settings) -> Iterator[Finding]:
    if settings.redis_url is None:
        yield Finding("Redis", Verdict.OK, "not configured (single node, in-process bus)")
        return
    import redis
    from redis.exceptions import RedisError

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except RedisError as exc:
        yield Finding(
            "Redis",
            Verdict.FAIL,
            f"unreachable ({type(exc).__name__})",
            "check KALLGLOT_REDIS_URL and that Redis is up",
        )
        return
    finally:
        client.close()
    yield Finding("Redis", Verdict.OK, "reachable")


CHECKS: tuple[Check, ...] = (
    _database,
    _master_key,
    _models,
    _voices,
    _sip_port,
    _public_url,
    _redis,
)


def doctor() -> None:
    """Check this node's setup (database, keys, models, voices, SIP, URL, Redis); exit 1 on a
    failure, saying what to fix."""
    settings = settings_or_exit()
    failed = False
    for check in CHECKS:
        for finding in check(settings):
            failed = failed or finding.verdict is Verdict.FAIL
            typer.echo(f"{finding.verdict.value:<5} {finding.check}: {finding.detail}")
            if finding.fix:
                typer.echo(f"      fix: {finding.fix}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
