#!/bin/sh
# The plugin delivery contract (the same as Turing's): copy this image's plugin
# executable to ${PLUGINS_DIR}/${PLUGIN_NAME}. An initContainer runs it with a
# shared emptyDir mounted at PLUGINS_DIR; the operator or router then starts the
# plugin from there.
#
#   plugin-install.sh [SOURCE]   SOURCE defaults to /plugin/plugin
#
# POSIX sh only: plugin images are often busybox or distroless-with-shell.
set -eu

source=${1:-/plugin/plugin}

if [ -z "${PLUGINS_DIR:-}" ]; then
  echo "plugin-install: PLUGINS_DIR is not set; it must name the shared volume to copy the plugin into" >&2
  exit 64
fi
if [ -z "${PLUGIN_NAME:-}" ]; then
  echo "plugin-install: PLUGIN_NAME is not set; it must be the experiment engine's name" >&2
  exit 64
fi
case "$PLUGIN_NAME" in
  */* | . | ..)
    echo "plugin-install: PLUGIN_NAME must be a file name, not a path: $PLUGIN_NAME" >&2
    exit 64
    ;;
esac
if [ ! -f "$source" ]; then
  echo "plugin-install: no plugin executable at $source" >&2
  exit 66
fi
if [ ! -d "$PLUGINS_DIR" ]; then
  echo "plugin-install: PLUGINS_DIR $PLUGINS_DIR is not a directory (is the volume mounted?)" >&2
  exit 73
fi

target="$PLUGINS_DIR/$PLUGIN_NAME"
# Copy to a temporary name and rename, so a reader never sees half a file; the mode
# is set on the copy, since the source may be read-only or not executable.
tmp="$PLUGINS_DIR/.$PLUGIN_NAME.tmp.$$"
cp "$source" "$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "$target"
echo "plugin-install: copied $source to $target"
