#!/usr/bin/env bash
# Installs hwc: the static binary as PREFIX/bin/hwc with a relative symlink per applet, and
# optionally the systemd units and an initrd hook. Every file and directory it makes is listed in
# PREFIX/share/hwc/installed-files before it is made, so --uninstall removes exactly what was
# written, after a failed or interrupted run as after a good one. Running it again is harmless:
# what is already right is left alone.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: install/install.sh [--prefix DIR] [--binary PATH] [--systemd DIR] [--systemd-user DIR]
                          [--initrd dracut|mkinitcpio] [--initrd-dir DIR] [--uninstall]

  --prefix DIR        install into DIR/bin (default: ~/.local, or /usr/local for root)
  --binary PATH       install this hwc binary instead of building the static release
  --systemd DIR       also install the system units (setup-ssh-keys@.service,
                      hwc-bridge@.service) into DIR, with the real binary path in them
  --systemd-user DIR  where the user unit (hwc-session-init.service) goes; default with
                      --systemd DIR: DIR/../user when DIR ends in /system (/etc/systemd/system
                      gives /etc/systemd/user); otherwise --systemd needs this option
  --initrd KIND       also install the dracut module or the mkinitcpio install hook, with the
                      installed binary's path in it (dracut and mkinitcpio search their own PATH)
  --initrd-dir DIR    where the hook goes (default: /usr/lib/dracut/modules.d/90hwc for dracut,
                      /etc/initcpio/install for mkinitcpio). A hook there that another prefix
                      installed is never replaced: uninstall that one first, or choose another
                      DIR (for dracut a module directory such as .../modules.d/91hwc-opt)
  --uninstall         remove exactly what earlier runs installed into PREFIX (a hook that
                      another prefix has since installed in its place is kept)

A prefix that goes into units or a hook (--systemd, --systemd-user, --initrd) may hold only
letters, digits and . _ / + @ : - (systemd's ExecStart splits on spaces and expands % and $).
USAGE
}

usage_error() { echo "install.sh: $*" >&2; exit 2; }
die() { echo "install.sh: $*" >&2; exit 1; }

prefix=""
binary=""
systemd_dir=""
systemd_user_dir=""
initrd=""
initrd_dir=""
uninstall=0
need() { [ $# -ge 2 ] || usage_error "$1 needs a value"; }
while (($#)); do
  case "$1" in
    --prefix) need "$@"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --binary) need "$@"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --systemd) need "$@"; systemd_dir=$2; shift 2 ;;
    --systemd=*) systemd_dir=${1#*=}; shift ;;
    --systemd-user) need "$@"; systemd_user_dir=$2; shift 2 ;;
    --systemd-user=*) systemd_user_dir=${1#*=}; shift ;;
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
  *) usage_error "--initrd takes dracut or mkinitcpio, not '$initrd'" ;;
esac
if [ -n "$initrd_dir" ] && [ -z "$initrd" ]; then
  usage_error "--initrd-dir needs --initrd dracut or --initrd mkinitcpio"
fi
if [ -z "$prefix" ]; then
  if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi

# The manifest holds one path a line.
newline=$'\n'
for pair in "--prefix:$prefix" "--systemd:$systemd_dir" "--systemd-user:$systemd_user_dir" \
            "--initrd-dir:$initrd_dir"; do
  case "$pair" in
    *"$newline"*) usage_error "${pair%%:*}: a path with a newline cannot be recorded in the manifest" ;;
  esac
done
absolute() { [ -z "$1" ] || realpath -m -- "$1"; }
prefix=$(absolute "$prefix")
systemd_dir=$(absolute "$systemd_dir")
systemd_user_dir=$(absolute "$systemd_user_dir")
initrd_dir=$(absolute "$initrd_dir")
bindir="${prefix%/}/bin"
manifest="${prefix%/}/share/hwc/installed-files"

# Who a hook file belongs to, from the line `local recorded='...'` in it: "prefix DIR" when
# install.sh wrote DIR/bin/hwc there, "package" when the placeholder is still there (a
# distribution package's copy), nothing otherwise (any other file, or a hook from an install.sh
# that recorded no path).
hook_owner() {
  local recorded
  if [ ! -f "$1" ] || [ -L "$1" ]; then return 0; fi
  recorded=$(sed -n "s|^ *local recorded='\([^']*\)'.*|\1|p" -- "$1" | head -n 1) || true
  case "$recorded" in
    /bin/hwc | /*/bin/hwc) recorded=${recorded%/bin/hwc}; printf 'prefix %s\n' "${recorded:-/}" ;;
    @HWC_BINARY@) printf 'package\n' ;;
  esac
}

if ((uninstall)); then
  if [ ! -f "$manifest" ]; then
    echo "install.sh: nothing to uninstall: $manifest does not exist" >&2
    exit 1
  fi
  # Files first, then the manifest, then only the directories this script created, deepest
  # first, and only if they are empty. A hook that another prefix's install has since put in
  # the same place is that prefix's now.
  dirs=$(grep '^dir:' "$manifest" | cut -c5- | sort -r || true)
  while IFS= read -r entry; do
    case "$entry" in
      dir:*) continue ;;
      "$bindir"/*) ;;
      *)
        owner=$(hook_owner "$entry")
        case "$owner" in
          "" | "prefix $prefix") ;;
          package)
            echo "install.sh: kept $entry: a package's copy has replaced the one installed here" >&2
            continue
            ;;
          *)
            echo "install.sh: kept $entry: it belongs to the hwc installed in ${owner#prefix }" >&2
            continue
            ;;
        esac
        ;;
    esac
    # With the temporary file an interrupted run may have left beside it.
    rm -f -- "$entry" "${entry%/*}/.${entry##*/}.hwc-new"
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

# Everything that can refuse is checked before anything is written.

# Units and hooks hold the binary's path: systemd splits ExecStart on spaces and expands % and
# $, the hook holds it in single quotes. A prefix of these characters means the same to both.
safe_chars='abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/+@:-'
unsafe_char() {
  local s=$1 c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$safe_chars" in
      *"$c"*) ;;
      *) printf '%s' "$c"; return 0 ;;
    esac
  done
  return 1
}
if [ -n "$systemd_dir$systemd_user_dir$initrd" ] && bad=$(unsafe_char "$prefix"); then
  case "$bad" in
    " ") bad="a space" ;;
    *) bad="'$bad'" ;;
  esac
  usage_error "the prefix $prefix contains $bad, which a systemd unit or an initrd hook cannot hold as it is; choose a prefix of letters, digits and . _ / + @ : -"
fi

user_units=" hwc-session-init.service "
if [ -n "$systemd_dir" ] && [ -z "$systemd_user_dir" ]; then
  case "$systemd_dir" in
    */system) systemd_user_dir="${systemd_dir%/system}/user" ;;
    *) usage_error "--systemd $systemd_dir does not end in /system, so the user unit (hwc-session-init.service) has no directory; pass --systemd-user DIR" ;;
  esac
fi

in_manifest() { [ -f "$manifest" ] && grep -qxF -- "$1" "$manifest"; }
hook_src=""
case "$initrd" in
  dracut)
    hook_dir=${initrd_dir:-/usr/lib/dracut/modules.d/90hwc}
    hook_src=install/initrd/dracut/90hwc/module-setup.sh
    hook_dest="$hook_dir/module-setup.sh"
    hook_mode=0755
    ;;
  mkinitcpio)
    hook_dir=${initrd_dir:-/etc/initcpio/install}
    hook_src=install/initrd/mkinitcpio/hwc
    hook_dest="$hook_dir/hwc"
    hook_mode=0644
    ;;
esac
if [ -n "$hook_src" ] && { [ -e "$hook_dest" ] || [ -L "$hook_dest" ]; }; then
  owner=$(hook_owner "$hook_dest")
  case "$owner" in
    "prefix $prefix") ;;
    "prefix "*)
      owner=${owner#prefix }
      die "$hook_dest belongs to the hwc installed in $owner; uninstall that first (install/install.sh --prefix $owner --uninstall) or put this one elsewhere with --initrd-dir DIR"
      ;;
    package)
      die "$hook_dest is a package's copy; remove that package or put this one elsewhere with --initrd-dir DIR"
      ;;
    *)
      # A hook an earlier install.sh for this prefix wrote before hooks recorded their path.
      in_manifest "$hook_dest" ||
        die "$hook_dest exists and is not from install.sh for $prefix; remove it or put this one elsewhere with --initrd-dir DIR"
      ;;
  esac
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$binary" ]; then
  (cd "$repo" && cargo build --release --locked)
  binary="$repo/target/x86_64-unknown-linux-gnu/release/hwc"
fi
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then die "$binary is not an executable"; fi

# From here on every path is recorded before it is made; on failure the manifest already lists
# what this run wrote, and a temporary file in flight is removed.
pending=""
on_exit() {
  local status=$?
  [ -z "$pending" ] || rm -f -- "$pending"
  if [ "$status" != 0 ] && [ -f "$manifest" ]; then
    echo "install.sh: stopped; what was written is in $manifest, and install/install.sh --prefix $prefix --uninstall removes it" >&2
  fi
}
trap on_exit EXIT

record() { grep -qxF -- "$1" "$manifest" || printf '%s\n' "$1" >> "$manifest"; }
# The directories from $1 up that do not exist yet, deepest first, in the array `missing`.
missing_dirs() {
  local d=$1
  missing=()
  while [ ! -d "$d" ]; do
    if [ -e "$d" ] || [ -L "$d" ]; then
      die "cannot make the directory $1: $d exists and is not a directory"
    fi
    missing+=("$d")
    d=$(dirname -- "$d")
  done
}
make_dir() {
  local m
  missing_dirs "$1"
  for m in "${missing[@]}"; do record "dir:$m"; done
  mkdir -p -- "$1"
}
# put MODE DEST: stdin becomes DEST through a temporary file beside it and a rename, so DEST is
# never half written and a running hwc is never overwritten in place; DEST is left alone when
# it already holds exactly that.
put() {
  local mode=$1 dest=$2
  record "$dest"
  pending="${dest%/*}/.${dest##*/}.hwc-new"
  rm -f -- "$pending"
  cat > "$pending"
  chmod "$mode" -- "$pending"
  if [ ! -L "$dest" ] && cmp -s -- "$pending" "$dest" \
     && [ "$(stat -c %a -- "$dest")" = "${mode#0}" ]; then
    rm -f -- "$pending"
  else
    mv -fT -- "$pending" "$dest"
  fi
  pending=""
}

# The manifest's own directories can only be recorded once it exists.
missing_dirs "$(dirname "$manifest")"
manifest_dirs=("${missing[@]}")
mkdir -p -- "$(dirname "$manifest")"
: >> "$manifest"
for m in "${manifest_dirs[@]}"; do record "dir:$m"; done

make_dir "$bindir"
put 0755 "$bindir/hwc" < "$binary"
applets=$("$bindir/hwc" --list)
for applet in $applets; do record "$bindir/$applet"; done
"$bindir/hwc" --install -s "$bindir"

for unit in "$repo"/install/systemd/*.service; do
  name=${unit##*/}
  case "$user_units" in
    *" $name "*) dir=$systemd_user_dir ;;
    *) dir=$systemd_dir ;;
  esac
  [ -n "$dir" ] || continue
  make_dir "$dir"
  text=$(< "$unit")
  put 0644 "$dir/$name" <<< "${text//@BINDIR@/"$bindir"}"
done

if [ -n "$hook_src" ]; then
  make_dir "$hook_dir"
  text=$(< "$repo/$hook_src")
  put "$hook_mode" "$hook_dest" <<< "${text//@HWC_BINARY@/"$bindir/hwc"}"
fi

echo "installed $bindir/hwc and links: $(tr '\n' ' ' <<< "$applets")"
