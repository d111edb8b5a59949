#!/usr/bin/env bash
# Builds the static release binary (unless --binary is given) and installs it as PREFIX/bin/hwc
# with one relative symlink per applet beside it.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: install/install.sh [--prefix DIR] [--binary PATH]

  --prefix DIR    install into DIR/bin (default: ~/.local, or /usr/local for root)
  --binary PATH   install this hwc binary instead of building one
USAGE
}

prefix=""
binary=""
while (($#)); do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$prefix" ]; then
  if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$binary" ]; then
  (cd "$repo" && cargo build --release --locked)
  binary="$repo/target/x86_64-unknown-linux-gnu/release/hwc"
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }

mkdir -p "$prefix/bin"
# Copy beside the final name, then rename: a running hwc is never overwritten in place.
install -m 0755 "$binary" "$prefix/bin/.hwc.new"
mv -f "$prefix/bin/.hwc.new" "$prefix/bin/hwc"
"$prefix/bin/hwc" --install -s "$prefix/bin"
echo "installed $prefix/bin/hwc and links: $("$prefix/bin/hwc" --list | tr '\n' ' ')"
