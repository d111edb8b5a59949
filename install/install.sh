#!/usr/bin/env bash
# Installs hwc: the static binary as PREFIX/bin/hwc with a relative symlink per applet, and
# optionally the systemd units and an initrd hook. Every file it writes is listed in
# PREFIX/share/hwc/installed-files, which --uninstall removes exactly. Running it again is
# harmless: what is already right is left alone.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: install/install.sh [--prefix DIR] [--binary PATH] [--systemd DIR]
                          [--initrd dracut|mkinitcpio] [--initrd-dir DIR] [--uninstall]

  --prefix DIR      install into DIR/bin (default: ~/.local, or /usr/local for root)
  --binary PATH     install this hwc binary instead of building the static release
  --systemd DIR     also install the units (setup-ssh-keys@.service, hwc-bridge@.service,
                    hwc-session-init.service) into DIR, with the real binary path in them
  --initrd KIND     also install the dracut module or the mkinitcpio install hook
  --initrd-dir DIR  where the hook goes (default: /usr/lib/dracut/modules.d/90hwc for dracut,
                    /etc/initcpio/install for mkinitcpio)
  --uninstall       remove exactly what an earlier run installed into PREFIX
USAGE
}

prefix=""
binary=""
systemd_dir=""
initrd=""
initrd_dir=""
uninstall=0
need() { [ $# -ge 2 ] || { echo "install.sh: $1 needs a value" >&2; exit 2; }; }
while (($#)); do
  case "$1" in
    --prefix) need "$@"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --binary) need "$@"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --systemd) need "$@"; systemd_dir=$2; shift 2 ;;
    --systemd=*) systemd_dir=${1#*=}; shift ;;
    --initrd) need "$@"; initrd=$2; shift 2 ;;
    --initrd=*) initrd=${1#*=}; shift ;;
    --initrd-dir) need "$@"; initrd_dir=$2; shift 2 ;;
    --initrd-dir=*) initrd_dir=${1#*=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$initrd" in
  ""|dracut|mkinitcpio) ;;
  *) echo "install.sh: --initrd takes dracut or mkinitcpio, not '$initrd'" >&2; exit 2 ;;
esac
if [ -z "$prefix" ]; then
  if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
prefix=$(realpath -m -- "$prefix")
manifest="$prefix/share/hwc/installed-files"

if ((uninstall)); then
  if [ ! -f "$manifest" ]; then
    echo "install.sh: nothing to uninstall: $manifest does not exist" >&2
    exit 1
  fi
  # Files first, then the manifest, then only the directories this script created, deepest
  # first, and only if they are empty.
  dirs=$(grep '^dir:' "$manifest" | cut -c5- | sort -r || true)
  while IFS= read -r entry; do
    case "$entry" in
      dir:*) ;;
      *) rm -f -- "$entry" ;;
    esac
  done < "$manifest"
  rm -f -- "$manifest"
  if [ -n "$dirs" ]; then
    while IFS= read -r d; do
      rmdir -- "$d" 2>/dev/null || true
    done <<< "$dirs"
  fi
  echo "uninstalled hwc from $prefix"
  exit 0
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$binary" ]; then
  (cd "$repo" && cargo build --release --locked)
  binary="$repo/target/x86_64-unknown-linux-gnu/release/hwc"
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }

# What this run installs; merged with an earlier manifest so a reinstall keeps track of all.
new_manifest=$(mktemp)
trap 'rm -f "$new_manifest"' EXIT
[ -f "$manifest" ] && cat "$manifest" > "$new_manifest"
record() { grep -qxF -- "$1" "$new_manifest" || printf '%s\n' "$1" >> "$new_manifest"; }
make_dir() {
  local d=$1 missing=()
  while [ ! -d "$d" ]; do missing+=("$d"); d=$(dirname "$d"); done
  mkdir -p -- "$1"
  local m
  for m in "${missing[@]}"; do record "dir:$m"; done
}

bindir="$prefix/bin"
make_dir "$bindir"
make_dir "$(dirname "$manifest")"
if ! cmp -s -- "$binary" "$bindir/hwc"; then
  # Copy beside the final name, then rename: a running hwc is never overwritten in place.
  install -m 0755 -- "$binary" "$bindir/.hwc.new"
  mv -f -- "$bindir/.hwc.new" "$bindir/hwc"
fi
record "$bindir/hwc"
"$bindir/hwc" --install -s "$bindir"
for applet in $("$bindir/hwc" --list); do record "$bindir/$applet"; done

if [ -n "$systemd_dir" ]; then
  make_dir "$systemd_dir"
  for unit in "$repo"/install/systemd/*.service; do
    dest="$systemd_dir/$(basename "$unit")"
    sed "s|@BINDIR@|$bindir|g" "$unit" > "$dest.new"
    chmod 0644 "$dest.new"
    mv -f -- "$dest.new" "$dest"
    record "$dest"
  done
fi

case "$initrd" in
  dracut)
    dir=${initrd_dir:-/usr/lib/dracut/modules.d/90hwc}
    make_dir "$dir"
    install -m 0755 -- "$repo/install/initrd/dracut/90hwc/module-setup.sh" "$dir/module-setup.sh"
    record "$dir/module-setup.sh"
    ;;
  mkinitcpio)
    dir=${initrd_dir:-/etc/initcpio/install}
    make_dir "$dir"
    install -m 0644 -- "$repo/install/initrd/mkinitcpio/hwc" "$dir/hwc"
    record "$dir/hwc"
    ;;
esac

mv -f -- "$new_manifest" "$manifest"
trap - EXIT
echo "installed $bindir/hwc and links: $("$bindir/hwc" --list | tr '\n' ' ')"
