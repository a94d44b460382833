"""A stand-in for AWS's Lambda Python 3.11 base image, built from Debian packages, without pulling anything.

No image registry is reachable from these machines, so `sam local invoke` cannot pull
``public.ecr.aws/lambda/python:3.11-<arch>``. This builds an image of that name from:

1. a Debian bookworm root file system (``debootstrap --variant=minbase``): Python 3.11, the runtime's minor
   version, with its standard library byte-compiled as in Lambda's image (tagged ``ROOTFS_REPOSITORY:<arch>``);
2. on top, what Lambda's runtime adds: the Runtime Interface Client (``awslambdaric``) and boto3 in
   ``/var/runtime``, ``/var/runtime/bootstrap``, ``/var/lang/bin/python3.11``, ``/lambda-entrypoint.sh`` and
   Lambda's environment (``LAMBDA_TASK_ROOT``, ``PYTHONPATH``...). The Runtime Interface Emulator, which SAM CLI
   ships in its wheel, is copied in as ``/usr/local/bin/aws-lambda-rie``, so that ``docker run`` runs a function
   without SAM (bench/, issue 23: ``docker run --cpus`` at Lambda's CPU share, see :func:`run_function_argv`).

Both images carry a label with a digest of their recipe; an image whose label matches is reused (the cache
between runs on one machine), anything else is rebuilt. SAM builds its own "rapid" image FROM the base image;
a stale one is removed whenever the base is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from okxlocal.containers.daemon import docker_cli
from okxlocal.containers.sam import sam_package_dir

LAMBDA_PYTHON = "3.11"
ROOTFS_REPOSITORY = "okx-shield/bookworm-python3.11"
BASE_REPOSITORY = "public.ecr.aws/lambda/python"  # the name SAM CLI looks for (with --skip-pull-image)
RECIPE_LABEL = "okx-shield.recipe"
DEBIAN_SUITE = "bookworm"  # Python 3.11, Lambda python3.11's minor version
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_VARIABLE = "OKX_SHIELD_DEBIAN_MIRROR"
RUNTIME_REQUIREMENTS = Path(__file__).with_name("runtime-requirements.txt")
_HERE = Path(__file__).read_bytes()


@dataclass(frozen=True)
class Arch:
    name: str  # Lambda's name, as in the template's Architecture
    debian: str
    wheel_platform: str
    docker_platform: str


ARCHES = {
    "x86_64": Arch("x86_64", "amd64", "manylinux2014_x86_64", "linux/amd64"),
    "arm64": Arch("arm64", "arm64", "manylinux2014_aarch64", "linux/arm64"),
}


def host_architecture() -> str:
    machine = os.uname().machine
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def base_image(architecture: str) -> str:
    """The image SAM CLI runs python3.11 functions of this architecture in."""
    return f"{BASE_REPOSITORY}:{LAMBDA_PYTHON}-{ARCHES[architecture].name}"


def rapid_image(architecture: str) -> str:
    return f"{BASE_REPOSITORY}:{LAMBDA_PYTHON}-rapid-{ARCHES[architecture].name}"


def rootfs_image(architecture: str) -> str:
    return f"{ROOTFS_REPOSITORY}:{ARCHES[architecture].name}"


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def rootfs_recipe(architecture: str) -> str:
    return _digest(b"rootfs-1", DEBIAN_SUITE.encode(), architecture.encode())


def base_recipe(architecture: str) -> str:
    return _digest(b"base", _HERE, RUNTIME_REQUIREMENTS.read_bytes(), rootfs_recipe(architecture).encode())


def image_label(image: str) -> str | None:
    """The recipe label of a local image, None when the image does not exist."""
    done = subprocess.run(
        [docker_cli(), "image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', image],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_base_image(architecture: str | None = None, *, log: bool = True) -> str:
    """The Lambda base image for ``architecture`` (default: this machine's), built only when it is missing or
    its recipe changed. Returns its name."""
    arch = architecture or host_architecture()
    if arch not in ARCHES:
        raise ValueError(f"architecture must be one of {sorted(ARCHES)}, got {arch!r}")
    name = base_image(arch)
    if image_label(name) == base_recipe(arch):
        return name
    with _build_lock(arch):  # two test runs on one machine: one builds, the other waits and reuses
        if image_label(name) == base_recipe(arch):
            return name
        if image_label(rootfs_image(arch)) != rootfs_recipe(arch):
            _build_rootfs_image(arch, log=log)
        _build_base_image(arch, log=log)
    return name


@contextmanager
def _build_lock(arch: str) -> Iterator[None]:
    import fcntl

    with Path(f"/tmp/okx-shield-lambda-image-{arch}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _say(log: bool, text: str) -> None:
    if log:
        print(f"[lambda image] {text}", file=sys.stderr, flush=True)


def _run(argv: list[str], *, timeout: float, **options: object) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **options)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:4])} ... failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}"
        )


def _build_rootfs_image(arch: str, *, log: bool) -> None:
    """debootstrap (about 1-5 min, from the Debian mirror), prune what a runtime never reads, import."""
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise RuntimeError(
            "debootstrap is not installed: apt-get install debootstrap (scripts/bootstrap.sh --containers)"
        )
    mirror = os.environ.get(MIRROR_VARIABLE, DEFAULT_MIRROR)
    _say(log, f"debootstrap {DEBIAN_SUITE} ({ARCHES[arch].debian}) from {mirror}: a few minutes, once per machine")
    with tempfile.TemporaryDirectory(prefix="okx-shield-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        _run(
            [
                debootstrap,
                "--variant=minbase",
                f"--arch={ARCHES[arch].debian}",
                "--include=python3,ca-certificates",
                DEBIAN_SUITE,
                str(root),
                mirror,
            ],
            timeout=1500,
        )
        for junk in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info"):
            shutil.rmtree(root / junk, ignore_errors=True)
        for locale in (root / "usr/share/locale").glob("*"):
            shutil.rmtree(locale, ignore_errors=True)
        # Lambda's image has the standard library's bytecode; a container's first import must not compile it.
        _run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "-s",
                str(root),
                "-p",
                "/",
                str(root / "usr/lib" / f"python{LAMBDA_PYTHON}"),
            ],
            timeout=600,
        )
        _say(log, f"importing the root file system as {rootfs_image(arch)}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            _run(
                [
                    docker_cli(),
                    "import",
                    "--platform",
                    ARCHES[arch].docker_platform,
                    "--change",
                    f"LABEL {RECIPE_LABEL}={rootfs_recipe(arch)}",
                    "-",
                    rootfs_image(arch),
                ],
                stdin=tar.stdout,
                timeout=600,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait(timeout=60)


BOOTSTRAP_SH = f"""#!/bin/sh
# Lambda's python{LAMBDA_PYTHON} runtime bootstrap, as the Runtime Interface Emulator starts it.
export AWS_EXECUTION_ENV=AWS_Lambda_python{LAMBDA_PYTHON}
exec /var/lang/bin/python{LAMBDA_PYTHON} /var/runtime/bootstrap.py "$@"
"""

BOOTSTRAP_PY = f"""import os
import sys

# Lambda's order: the function, then layers, then the runtime's own packages (PYTHONPATH=/var/runtime).
sys.path[:0] = [os.environ.get("LAMBDA_TASK_ROOT", "/var/task"),
                "/opt/python/lib/python{LAMBDA_PYTHON}/site-packages", "/opt/python"]
sys.path = [entry for entry in sys.path if entry != os.path.dirname(os.path.abspath(__file__))] + ["/var/runtime"]

from awslambdaric.__main__ import main  # noqa: E402

handler = os.environ.get("_HANDLER") or os.environ.get("AWS_LAMBDA_FUNCTION_HANDLER") or sys.argv[-1]
os.chdir(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))
main([sys.argv[0], handler])
"""

# As in AWS's image: the Runtime Interface Emulator in front of the bootstrap unless a real Runtime API is there.
ENTRYPOINT_SH = """#!/bin/sh
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap "$1"
else
  exec /var/runtime/bootstrap "$1"
fi
"""

ENVIRONMENT = {
    "LANG": "C.UTF-8",
    "TZ": ":/etc/localtime",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}


def emulator_binary(arch: str) -> Path:
    """The Runtime Interface Emulator inside the SAM CLI wheel (.venv-tools), for the given architecture."""
    path = sam_package_dir() / "local" / "rapid" / f"aws-lambda-rie-{ARCHES[arch].name}"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: the SAM CLI in .venv-tools ships it (make setup)")
    return path


def _build_base_image(arch: str, *, log: bool) -> None:
    _say(log, f"building {base_image(arch)} on {rootfs_image(arch)} (awslambdaric, boto3, bootstrap)")
    with tempfile.TemporaryDirectory(prefix="okx-shield-lambda-image-") as tmp:
        context = Path(tmp)
        layer = context / "layer"
        runtime = layer / "var" / "runtime"
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--target",
                str(runtime),
                "--platform",
                ARCHES[arch].wheel_platform,
                "--implementation",
                "cp",
                "--python-version",
                LAMBDA_PYTHON,
                "--only-binary=:all:",
                "-r",
                str(RUNTIME_REQUIREMENTS),
            ],
            timeout=900,
        )
        shutil.rmtree(runtime / "bin", ignore_errors=True)
        # Lambda's image ships the runtime's bytecode; compiled with the paths the container sees.
        _run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                "-s",
                str(layer),
                "-p",
                "/",
                str(runtime),
            ],
            timeout=600,
        )
        (runtime / "bootstrap").write_text(BOOTSTRAP_SH)
        (runtime / "bootstrap.py").write_text(BOOTSTRAP_PY)
        (layer / "lambda-entrypoint.sh").write_text(ENTRYPOINT_SH)
        rie = layer / "usr" / "local" / "bin" / "aws-lambda-rie"
        rie.parent.mkdir(parents=True)
        shutil.copyfile(emulator_binary(arch), rie)
        lang = layer / "var" / "lang" / "bin"
        lang.mkdir(parents=True)
        (layer / "var" / "task").mkdir(parents=True)
        for executable in (runtime / "bootstrap", layer / "lambda-entrypoint.sh", rie):
            executable.chmod(0o755)
        env_lines = "".join(f'ENV {name}="{value}"\n' for name, value in ENVIRONMENT.items())
        (context / "Dockerfile").write_text(
            f"FROM {rootfs_image(arch)}\n"
            "COPY layer/ /\n"
            f"ENV PYTHONPATH=/var/runtime\n{env_lines}"
            # /var/lang/bin/python3.11 is where Lambda's image keeps its interpreter; Debian's is in /usr/bin.
            # A symbolic link made by the Dockerfile itself: no RUN step (none runs for a foreign architecture).
            "WORKDIR /var/task\n"
            'ENTRYPOINT ["/lambda-entrypoint.sh"]\n'
            f"LABEL {RECIPE_LABEL}={base_recipe(arch)}\n"
        )
        os.symlink(f"/usr/bin/python{LAMBDA_PYTHON}", lang / f"python{LAMBDA_PYTHON}")
        os.symlink(f"python{LAMBDA_PYTHON}", lang / "python3")
        remove_image(rapid_image(arch))  # SAM's image FROM the old base would hide the new one
        _run(
            [docker_cli(), "build", "--platform", ARCHES[arch].docker_platform, "-t", base_image(arch), str(context)],
            timeout=600,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )


def remove_image(image: str) -> None:
    subprocess.run([docker_cli(), "image", "rm", "-f", image], capture_output=True, timeout=120, check=False)


def run_function_argv(
    architecture: str,
    task_root: Path,
    handler: str,
    *,
    port: int,
    environment: dict[str, str],
    cpus: float | None = None,
    memory_mb: int | None = None,
    name: str | None = None,
) -> list[str]:
    """`docker run` of one function in the base image without SAM: the emulator listens on ``port`` of 127.0.0.1
    (POST /2015-03-31/functions/function/invocations). --cpus/--memory give it Lambda's share of the machine."""
    argv = [docker_cli(), "run", "--rm", "-d", "-p", f"127.0.0.1:{port}:8080", "-v", f"{task_root}:/var/task:ro"]
    if name:
        argv += ["--name", name]
    if cpus is not None:
        argv += ["--cpus", str(cpus)]
    if memory_mb is not None:
        argv += ["--memory", f"{memory_mb}m"]
    for key, value in environment.items():
        argv += ["-e", f"{key}={value}"]
    return [*argv, base_image(architecture), handler]
