#!/bin/sh
# Install Turnout (operator + router) into a fresh virtualenv: the image's install step.
#
#   packaging/install.sh PREFIX [SOURCE]
#
# PREFIX  the virtualenv to create (the image uses /opt/turnout); must not exist yet
# SOURCE  the source tree (default: the repository holding this script)
#
# TURNOUT_COMPILE=1 compiles the router's hot path (packaging/compiled-modules.txt)
# with mypyc; it needs a C compiler and the interpreter's headers. mypy is installed
# for the build only, and every listed module is checked to load compiled.
#
# The Dockerfile runs this script; the tests run it too, in a fresh temporary
# directory, so what the image installs is checked on machines without a
# container engine. Pip's cache is used when there is one (PIP_NO_CACHE_DIR=1
# in the Dockerfile keeps it out of the image).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 PREFIX [SOURCE]" >&2
  exit 2
fi
prefix=$1
source=${2:-$(cd "$(dirname "$0")/.." && pwd)}
python=${PYTHON:-python3}
# The mypy whose mypyc compiled and passed the tests (tests/compiled).
MYPY_FOR_BUILD="mypy==2.4.1"

if [ -e "$prefix" ]; then
  echo "install.sh: $prefix exists; give a new directory" >&2
  exit 2
fi
if [ ! -f "$source/pyproject.toml" ]; then
  echo "install.sh: $source has no pyproject.toml" >&2
  exit 2
fi

"$python" -m venv "$prefix"
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
# Build the wheel from a copy: a build must never write into the source tree.
build=$wheels/src
mkdir "$build"
cp -R "$source/pyproject.toml" "$source/setup.py" "$source/README.md" "$source/operator" \
  "$source/router" "$source/kubectl" "$source/plugin_host" "$build/"
mkdir "$build/packaging"
cp "$source/packaging/compiled-modules.txt" "$build/packaging/"
"$prefix/bin/python" -m pip install --quiet --disable-pip-version-check "setuptools>=77" wheel
compile=${TURNOUT_COMPILE:-0}
if [ "$compile" = 1 ]; then
  # mypyc type-checks the compiled modules against their dependencies: install them
  # first (the wheel's own install below then finds them there), and mypy for the build.
  "$prefix/bin/python" -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' \
    "$build/pyproject.toml" >"$wheels/requirements.txt"
  "$prefix/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$wheels/requirements.txt" "$MYPY_FOR_BUILD" types-pyyaml
  echo "compiling the router's hot path with mypyc (about a minute)"
fi
"$prefix/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps \
  --no-build-isolation -w "$wheels" "$build"
"$prefix/bin/python" -m pip install --quiet --disable-pip-version-check "$wheels"/turnout-*.whl
# Build-only tools stay out of the image.
"$prefix/bin/python" -m pip uninstall --quiet --yes setuptools wheel
if [ "$compile" = 1 ]; then
  "$prefix/bin/python" -m pip uninstall --quiet --yes mypy types-pyyaml pathspec ast-serialize
  "$prefix/bin/python" "$source/packaging/check_compiled.py" "$source/packaging/compiled-modules.txt"
fi

# Both entrypoints must start from the installed package.
"$prefix/bin/python" -m turnout_operator --help >/dev/null
"$prefix/bin/python" -m turnout_router --help >/dev/null
"$prefix/bin/kubectl-turnout" --help >/dev/null
echo "installed turnout into $prefix"
