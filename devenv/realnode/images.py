"""The real node's images, built here from Debian packages and the repository's Dockerfiles.

Nothing can be pulled on these machines, so every image a real-node pod runs is made
locally and imported into containerd:

* base images named as the Dockerfiles name them (`python:3.11-slim`, `busybox:1.36`),
  made from Debian packages (debootstrap of bookworm with python3; busybox-static)
  and turned into images with `podman import`;
* the sandbox ("pause") image: `pause.c` built with `gcc -static`, FROM scratch;
* Turnout's image from `Dockerfile`, plugin images from `plugin.Dockerfile` (the
  Python zipapp and the Go hardcoded plugin) and one made the way Turing documents
  its plugin images (a binary and a shell command that copies it), all built with
  `podman build --pull=never` exactly as a user builds them.

Each image is cached by content: its tag ends in a hash of everything it is built
from, and the `docker-archive` saved from podman is kept under
$TURNOUT_CACHE/realnode/images/, so an unchanged image is neither rebuilt nor saved
again. Package downloads inside a build (pip) go through this machine's
TLS-intercepting path: the host's CA bundle and pip configuration are mounted into
the build, never copied into an image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from devenv.content import PACKAGE_SOURCES, REPO_ROOT, cache_home, content_key, tree_bytes
from devenv.zipapp import build_hardcoded_plugin

RECIPE: Final = "1"
"""Bump when the way images are made changes without a change to their inputs."""

PYTHON_BASE: Final = "docker.io/library/python:3.11-slim"
BUSYBOX_BASE: Final = "docker.io/library/busybox:1.36"
PAUSE_IMAGE: Final = "turnout.local/pause:1"
"""The sandbox image containerd is configured with (never pulled)."""
DEBIAN_MIRROR: Final = "http://deb.debian.org/debian"

CONTAINERS_CONF: Final = """\
[containers]
# No CAP_SYS_RESOURCE here: podman's default nofile ulimit cannot be set.
default_ulimits = []
[engine]
runtime = "runc"
events_logger = "file"
cgroup_manager = "cgroupfs"
"""
"""podman's settings on these machines (crun refuses cgroup v1 hybrid mode; no systemd)."""


def cache_root() -> Path:
    return cache_home() / "realnode"


def say(message: str) -> None:
    """Progress of slow first builds, on stderr (pytest shows it with -s, make demo always)."""
    print(f"realnode: {message}", file=sys.stderr, flush=True)


@dataclass
class Podman:
    """podman with this machine's settings (a containers.conf of our own, not /etc's)."""

    conf: Path

    @classmethod
    def create(cls) -> Podman:
        conf = cache_root() / "containers.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
            conf.write_text(CONTAINERS_CONF)
        return cls(conf)

    def run(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}
        done = subprocess.run(["podman", *args], env=env, input=input, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"podman {' '.join(args[:2])} failed ({done.returncode}):\n"
                f"{done.stderr.decode(errors='replace')[-4000:]}"
            )
        return done

    def exists(self, image: str) -> bool:
        env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}
        return subprocess.run(["podman", "image", "exists", image], env=env).returncode == 0


def _import_rootfs(podman: Podman, rootfs: Path, image: str, changes: Sequence[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tar = Path(scratch) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
        podman.run("import", *[f"--change={c}" for c in changes], str(tar), image)


def python_base(podman: Podman) -> None:
    """`python:3.11-slim` as the Dockerfile names it: Debian bookworm's python3 (3.11)."""
    key = content_key(RECIPE, [b"debootstrap minbase bookworm python3 python3-venv"])
    marker = cache_root() / f"python-base-{key}"
    if marker.exists() and podman.exists(PYTHON_BASE):
        return
    started = time.monotonic()
    rootfs = cache_root() / f"rootfs-python-{key}"
    if not rootfs.exists():
        say("making the Python base image from Debian packages (debootstrap, about 2 min)")
        partial = rootfs.with_name(rootfs.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv",
                "bookworm",
                str(partial),
                DEBIAN_MIRROR,
            ],
            check=True,
            capture_output=True,
        )
        # The official image has `python` too; the Dockerfile's venv links to it.
        (partial / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        for archive in (partial / "var/cache/apt/archives").glob("*.deb"):
            archive.unlink()
        partial.rename(rootfs)
    _import_rootfs(
        podman,
        rootfs,
        PYTHON_BASE,
        [
            "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
        ],
    )
    marker.touch()
    say(f"Python base image made in {time.monotonic() - started:.0f} s")


def busybox_base(podman: Podman) -> None:
    """`busybox:1.36` as plugin.Dockerfile names it: Debian's busybox-static."""
    busybox = Path("/bin/busybox")
    key = content_key(RECIPE, [busybox.read_bytes()])
    marker = cache_root() / f"busybox-base-{key}"
    if marker.exists() and podman.exists(BUSYBOX_BASE):
        return
    with tempfile.TemporaryDirectory(dir=cache_root()) as scratch:
        rootfs = Path(scratch) / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        for directory in ("tmp", "etc", "usr/local/bin"):
            (rootfs / directory).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, rootfs / "bin" / "busybox")
        applets = subprocess.run(
            [str(busybox), "--list"], check=True, capture_output=True, text=True
        ).stdout.split()
        for applet in applets:
            link = rootfs / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
        _import_rootfs(podman, rootfs, BUSYBOX_BASE, ["ENV PATH=/usr/local/bin:/bin", 'CMD ["sh"]'])
    marker.touch()


def pause_image(podman: Podman) -> None:
    source = Path(__file__).with_name("pause.c")
    key = content_key(RECIPE, [source.read_bytes()])
    marker = cache_root() / f"pause-{key}"
    if marker.exists() and podman.exists(PAUSE_IMAGE):
        return
    with tempfile.TemporaryDirectory() as scratch:
        context = Path(scratch)
        subprocess.run(
            ["gcc", "-static", "-O2", "-o", str(context / "pause"), str(source)], check=True
        )
        (context / "Dockerfile").write_text(
            'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n'
        )
        podman.run("build", "--pull=never", "-t", PAUSE_IMAGE, str(context))
    marker.touch()


@dataclass(frozen=True)
class Images:
    """The images a real-node test runs, by name, each saved as a docker-archive."""

    turnout: str
    python_plugin: str
    go_plugin: str
    turing_style_plugin: str
    crashing_router: str
    """Turnout's image with a router setting it refuses: its router exits at start."""
    archives: tuple[Path, ...]


def _build(podman: Podman, name: str, context: Path, dockerfile: Path, *args: str) -> None:
    """`podman build --pull=never` with the host's CA bundle and pip configuration mounted."""
    mounts: list[str] = []
    for host in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
        if Path(host).exists():
            mounts.append(f"--volume={host}:{host}:ro")
    started = time.monotonic()
    podman.run(
        "build",
        "--pull=never",
        # The host network: no podman bridge, no chains left behind.
        "--network=host",
        *mounts,
        "-f",
        str(dockerfile),
        "-t",
        name,
        *args,
        str(context),
    )
    say(f"built {name} in {time.monotonic() - started:.0f} s")


def _save(podman: Podman, name: str) -> Path:
    archive = cache_root() / "images" / (name.replace("/", "_").replace(":", "_") + ".tar")
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        # Older builds of the same image are replaced, not kept.
        repository = archive.name.rsplit("_", 1)[0]
        for older in archive.parent.glob(f"{repository}_*.tar"):
            older.unlink()
        partial = archive.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        podman.run("save", "--format=docker-archive", "-o", str(partial), name)
        partial.rename(archive)
    return archive


def turnout_image(podman: Podman) -> str:
    inputs = [REPO_ROOT / "Dockerfile", *PACKAGE_SOURCES]
    name = f"turnout.local/turnout:{content_key(RECIPE, tree_bytes(inputs))}"
    if not podman.exists(name):
        say("building the Turnout image from Dockerfile (pip installs the wheel; about 1-2 min)")
        with tempfile.TemporaryDirectory() as scratch:
            context = Path(scratch)
            for source in inputs:
                target = context / source.relative_to(REPO_ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    shutil.copytree(
                        source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                    )
                else:
                    shutil.copy2(source, target)
            _build(podman, name, context, context / "Dockerfile")
    return name


def _plugin_context(
    plugin: Path, dockerfile_text: str | None = None
) -> tempfile.TemporaryDirectory[str]:
    scratch = tempfile.TemporaryDirectory()
    context = Path(scratch.name)
    (context / "packaging").mkdir()
    shutil.copy2(REPO_ROOT / "packaging" / "plugin-install.sh", context / "packaging")
    shutil.copy2(REPO_ROOT / "plugin.Dockerfile", context / "plugin.Dockerfile")
    shutil.copy2(plugin, context / "plugin")
    if dockerfile_text is not None:
        (context / "turing.Dockerfile").write_text(dockerfile_text)
    return scratch


TURING_STYLE_DOCKERFILE: Final = """\
# A plugin image the way Turing documents them: the binary, and a shell command that
# copies it to ${PLUGINS_DIR}/${PLUGIN_NAME}. Nothing of Turnout's.
FROM busybox:1.36
COPY plugin /app/plugin
ENTRYPOINT ["sh", "-c", "cp /app/plugin ${PLUGINS_DIR}/${PLUGIN_NAME}"]
"""


def plugin_image(podman: Podman, repository: str, plugin: Path, turing_style: bool = False) -> str:
    recipe = [
        plugin.read_bytes(),
        (REPO_ROOT / "plugin.Dockerfile").read_bytes(),
        (REPO_ROOT / "packaging" / "plugin-install.sh").read_bytes(),
        TURING_STYLE_DOCKERFILE.encode() if turing_style else b"",
    ]
    name = f"turnout.local/{repository}:{content_key(RECIPE, recipe)}"
    if not podman.exists(name):
        with _plugin_context(plugin, TURING_STYLE_DOCKERFILE if turing_style else None) as scratch:
            context = Path(scratch)
            if turing_style:
                _build(podman, name, context, context / "turing.Dockerfile")
            else:
                _build(
                    podman,
                    name,
                    context,
                    context / "plugin.Dockerfile",
                    "--build-arg=PLUGIN=plugin",
                )
    return name


CRASHING_ROUTER_DOCKERFILE: Final = """\
# Turnout's image whose router refuses to start: a setting no router accepts, so that
# `python -m turnout_router` exits non-zero at once, saying which setting and why.
FROM {base}
ENV ROUTER_EVENT_LOOP=no-such-loop
"""


def crashing_router_image(podman: Podman, turnout: str) -> str:
    """A router image that crashes at start, for rollouts of a version that cannot start."""
    dockerfile = CRASHING_ROUTER_DOCKERFILE.format(base=turnout)
    name = f"turnout.local/crashing-router:{content_key(RECIPE, [dockerfile.encode()])}"
    if not podman.exists(name):
        with tempfile.TemporaryDirectory() as scratch:
            context = Path(scratch)
            (context / "Dockerfile").write_text(dockerfile)
            _build(podman, name, context, context / "Dockerfile")
    return name


def build_images(go_plugin: Path) -> Images:
    """Build (or reuse) every image; returns their names and saved archives."""
    cache_root().mkdir(parents=True, exist_ok=True)
    podman = Podman.create()
    python_base(podman)
    busybox_base(podman)
    pause_image(podman)
    turnout = turnout_image(podman)
    with tempfile.TemporaryDirectory() as scratch:
        zipapp = Path(scratch) / "hardcoded"
        build_hardcoded_plugin(zipapp)
        python_plugin = plugin_image(podman, "hardcoded-plugin", zipapp)
    go = plugin_image(podman, "go-hardcoded-plugin", go_plugin)
    turing = plugin_image(podman, "turing-hardcoded-plugin", go_plugin, turing_style=True)
    crashing = crashing_router_image(podman, turnout)
    names = (PAUSE_IMAGE, turnout, python_plugin, go, turing, crashing)
    return Images(
        turnout=turnout,
        python_plugin=python_plugin,
        go_plugin=go,
        turing_style_plugin=turing,
        crashing_router=crashing,
        archives=tuple(_save(podman, name) for name in names),
    )


if __name__ == "__main__":
    from devenv.gopeers import locate

    built = build_images(locate().hardcoded_plugin)
    for archive in built.archives:
        print(archive)
