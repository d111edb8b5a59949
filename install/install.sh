#!/usr/bin/env bash
# Installs hwc: the static binary as PREFIX/bin/hwc with a relative symlink per applet, and
# optionally the systemd units and an initrd hook.
#
# It never replaces what it did not write: before anything is written every destination is
# checked, and one that exists and is neither what this run would write, nor a file an earlier
# run for this prefix wrote (same content), nor an applet link to hwc, stops it with nothing
# written. Every file, link and directory it makes is listed in PREFIX/share/hwc/installed-files
# before it is made (a file with the SHA-256 of its content), so --uninstall removes exactly
# what was written, after a failed or interrupted run as after a good one, and keeps what has
# changed since. Running it again is harmless: what is already right is left alone.
#
# As root it writes and removes only in directories that only root can change.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: install/install.sh [--prefix DIR] [--binary PATH] [--systemd DIR] [--systemd-user DIR]
                          [--textfile-dir DIR] [--initrd dracut|mkinitcpio] [--initrd-dir DIR]
                          [--uninstall]

  --prefix DIR        install into DIR/bin (default: ~/.local, or /usr/local for root)
  --binary PATH       install this hwc binary instead of building the static release for
                      this machine's platform (x86_64 or aarch64 Linux)
  --systemd DIR       also install the system units (setup-ssh-keys@.service and its .path,
                      which re-runs it when the secret changes; hwc-bridge@.service;
                      hwc-doctor.service and .timer) into DIR, with the real binary path in
                      them; enable them with systemctl (enable --now setup-ssh-keys@USER.service
                      setup-ssh-keys@USER.path hwc-doctor.timer)
  --textfile-dir DIR  where hwc-doctor.service writes hwc-doctor.prom: node_exporter's textfile
                      directory (default: /var/lib/prometheus/node-exporter, Debian's)
  --systemd-user DIR  where the user unit (hwc-session-init.service) goes; default with
                      --systemd DIR: DIR/../user when DIR ends in /system (/etc/systemd/system
                      gives /etc/systemd/user); otherwise --systemd needs this option
  --initrd KIND       also install the dracut module or the mkinitcpio install hook, with the
                      installed binary's path in it (dracut and mkinitcpio search their own PATH)
  --initrd-dir DIR    where the hook goes (default: /usr/lib/dracut/modules.d/90hwc for dracut,
                      /etc/initcpio/install for mkinitcpio). A hook there that another prefix
                      installed is never replaced: uninstall that one first, or choose another
                      DIR (for dracut a module directory such as .../modules.d/91hwc-opt)
  --uninstall         remove exactly what earlier runs installed into PREFIX and is unchanged
                      since (a file changed or replaced since, such as a hook that another
                      prefix has installed in its place, is kept), and the links that
                      systemctl enable made to the units it removes

A file already where install.sh would write (bin/hwc, an applet name, a unit, the hook) that it
did not write there stops it before anything is written: move it away, or choose another place.
A prefix that goes into units or a hook (--systemd, --systemd-user, --initrd), and the textfile
directory, may hold only letters, digits and . _ / + @ : - (systemd's ExecStart splits on spaces
and expands % and $).
As root, every directory written or removed in, and each directory above it, must be root's and
writable by no one else (a sticky directory such as /tmp may be above it).
USAGE
}

usage_error() { echo "install.sh: $*" >&2; exit 2; }
die() { echo "install.sh: $*" >&2; exit 1; }

prefix=""
binary=""
systemd_dir=""
systemd_user_dir=""
textfile_dir=""
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
    --textfile-dir) need "$@"; textfile_dir=$2; shift 2 ;;
    --textfile-dir=*) textfile_dir=${1#*=}; shift ;;
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
as_root=0
if [ "$(id -u)" = 0 ]; then
  as_root=1
  # What root makes is root's alone, whatever umask it was started with.
  umask 022
fi
if [ -z "$prefix" ]; then
  if ((as_root)); then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi

# The manifest holds one entry a line.
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
manifest_dir="${prefix%/}/share/hwc"
manifest="$manifest_dir/installed-files"

# The manifest, one entry a line:
#   dir:PATH          a directory this script made (removed on uninstall if empty)
#   dest:PATH         a directory that already existed and that files were installed into
#   file:SHA256:PATH  a file, with the SHA-256 of the content written (a path may have several
#                     lines while a run replaces it; any of them counts as this script's)
#   link:PATH         an applet link (a symlink to hwc beside it)
#   PATH              an entry of an earlier install.sh, which recorded no hashes

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

file_hash() { local h; h=$(sha256sum < "$1") && printf '%s\n' "${h%% *}"; }
is_file() { [ -f "$1" ] && [ ! -L "$1" ]; }
exists() { [ -e "$1" ] || [ -L "$1" ]; }
# An applet link as `hwc --install -s` makes it in the binary's own directory.
is_hwc_link() { [ -L "$1" ] && [ "$(readlink -- "$1")" = hwc ]; }
# Whether FILE runs a program of this prefix: `=DIR/bin/` (a unit), `'DIR/bin/` (a hook).
names_bindir() { grep -qF -e "=$bindir/" -e "'$bindir/" -- "$1"; }
# Whether PATH, listed without a hash by an earlier install.sh, still holds what that wrote: the
# hwc binary, an applet link to it, a unit naming this prefix's binaries, or an initrd hook.
legacy_ours() {
  local p=$1
  case "$p" in
    "$bindir/hwc") is_file "$p" && grep -qaF -- 'hwc --install' "$p" ;;
    "$bindir"/*) is_hwc_link "$p" ;;
    */module-setup.sh | */hwc)
      is_file "$p" && { names_bindir "$p" || { [ -z "$(hook_owner "$p")" ] && grep -qF -- '--list' "$p"; }; }
      ;;
    *) is_file "$p" && names_bindir "$p" ;;
  esac
}

# As root: why DIR is no place for root to write into or remove from, or nothing when it is.
# DIR and every existing directory above it, as named and as resolved, must be root's and
# writable by no one else; a sticky directory above it (/tmp) is fine, as others can neither
# rename nor remove root's entries there.
untrusted() {
  local path d info uid user mode group type
  for path in "$1" "$(realpath -m -- "$1")"; do
    d=$path
    while :; do
      if info=$(stat -c '%u %U %a %G %F' -- "$d" 2>/dev/null); then
        read -r uid user mode group type <<< "$info"
        if [ "$uid" != 0 ]; then
          printf '%s is owned by %s\n' "$d" "$user"
          return 0
        fi
        if [ "$type" = directory ] && (((8#$mode & 8#022) != 0)) &&
           { [ "$d" = "$path" ] || (((8#$mode & 8#1000) == 0)); }; then
          if (((8#$mode & 8#002) != 0)); then
            printf '%s is writable by others\n' "$d"
          else
            printf '%s is writable by its group (%s)\n' "$d" "$group"
          fi
          return 0
        fi
      fi
      [ "$d" != / ] || break
      d=${d%/*}
      d=${d:-/}
    done
  done
}
# As root, stops unless DIR (for WHAT) is a place only root can change.
require_trusted() {
  local why
  ((as_root)) || return 0
  why=$(untrusted "$1")
  [ -z "$why" ] ||
    die "not using $1 ($2) as root: $why, so someone else could change what root writes or removes there; make it root's alone (chown root, chmod go-w) or choose another directory"
}
# The manifest itself: a plain file, and as root one only root can change.
check_manifest_file() {
  local info uid user mode
  [ ! -L "$manifest" ] || die "$manifest is a symbolic link; not reading or writing through it"
  exists "$manifest" || return 0
  is_file "$manifest" || die "$manifest is not a regular file"
  ((as_root)) || return 0
  info=$(stat -c '%u %U %a' -- "$manifest")
  read -r uid user mode <<< "$info"
  if [ "$uid" != 0 ] || (((8#$mode & 8#022) != 0)); then
    die "not trusting $manifest as root: it is owned by $user with mode $mode, so someone else may have written it; make it root's alone (chown root, chmod go-w) after checking what it lists"
  fi
}

if ((uninstall)); then
  [ ! -L "$manifest" ] || die "$manifest is a symbolic link; not reading it"
  if [ ! -f "$manifest" ]; then
    echo "install.sh: nothing to uninstall: $manifest does not exist" >&2
    exit 1
  fi
  require_trusted "$manifest_dir" "the manifest's directory"
  check_manifest_file

  declare -A kinds=() hashes=()
  paths=()
  made_dirs=()
  dest_dirs=()
  notes=()
  while IFS= read -r line || [ -n "$line" ]; do
    kind="legacy"
    case "$line" in
      "") continue ;;
      dir:/*) made_dirs+=("${line#dir:}"); continue ;;
      dest:/*) dest_dirs+=("${line#dest:}"); continue ;;
      link:/*) kind="link"; p=${line#link:} ;;
      file:*:/*) kind="file"; rest=${line#file:}; p=${rest#*:}; hashes[$p]+=" ${rest%%:*} " ;;
      /*) p=$line ;;
      *) notes+=("install.sh: skipped a line of $manifest it does not understand: $line"); continue ;;
    esac
    [ -n "${kinds[$p]+set}" ] || paths+=("$p")
    kinds[$p]+=" $kind "
  done < "$manifest"

  # Only entries under the prefix or under a directory the manifest says was made or written
  # into, as it would have written them, are removed (an entry of an earlier install.sh
  # elsewhere only if it is still what that wrote: a unit or a hook naming this prefix).
  under() {
    local p=$1 d
    case "$p" in "${prefix%/}"/*) return 0 ;; esac
    for d in ${made_dirs[@]+"${made_dirs[@]}"} ${dest_dirs[@]+"${dest_dirs[@]}"}; do
      case "$p" in "${d%/}"/*) return 0 ;; esac
    done
    return 1
  }
  accepted=()
  for p in ${paths[@]+"${paths[@]}"}; do
    case "$p/" in
      */../* | */./* | *//*)
        notes+=("install.sh: skipped $p: not a plain absolute path")
        continue
        ;;
    esac
    legacy=0
    case "${kinds[$p]}" in *" legacy "*) legacy=1 ;; esac
    if under "$p" || { ((legacy)) && legacy_ours "$p"; }; then
      accepted+=("$p")
    elif exists "$p"; then
      why="it is outside $prefix and the directories $manifest records"
      ((!legacy)) || why+=", and not what install.sh installed there"
      notes+=("install.sh: kept $p: $why")
    fi
  done
  # Nothing is removed unless everything it would remove from is root's alone.
  require_trusted "$bindir" "the binary's directory"
  for p in ${accepted[@]+"${accepted[@]}"}; do
    d=${p%/*}
    require_trusted "${d:-/}" "the directory of $p"
  done
  for d in ${made_dirs[@]+"${made_dirs[@]}"} ${dest_dirs[@]+"${dest_dirs[@]}"}; do
    require_trusted "$d" "a directory in $manifest"
  done
  for n in ${notes[@]+"${notes[@]}"}; do echo "$n" >&2; done

  removed_units=()
  # Files first, then the manifest, then only the directories this script created, deepest
  # first, and only if they are empty. A file is removed only while it holds what was written
  # (a hook that another prefix's install has since put in the same place is that prefix's
  # now), a link only while it is still the link to hwc.
  for p in ${accepted[@]+"${accepted[@]}"}; do
    exists "$p" || continue
    case "$p" in
      "$bindir"/*) ;;
      *)
        owner=$(hook_owner "$p")
        case "$owner" in
          "" | "prefix $prefix") ;;
          package)
            echo "install.sh: kept $p: a package's copy has replaced the one installed here" >&2
            continue
            ;;
          *)
            echo "install.sh: kept $p: it belongs to the hwc installed in ${owner#prefix }" >&2
            continue
            ;;
        esac
        ;;
    esac
    k=${kinds[$p]}
    ours=0
    case "$k" in *" link "*) if is_hwc_link "$p"; then ours=1; fi ;; esac
    case "$k" in
      *" file "*)
        if ((!ours)) && is_file "$p" && h=$(file_hash "$p"); then
          case "${hashes[$p]}" in *" $h "*) ours=1 ;; esac
        fi
        ;;
    esac
    case "$k" in *" legacy "*) if ((!ours)) && legacy_ours "$p"; then ours=1; fi ;; esac
    if ((ours)); then
      rm -f -- "$p"
      case "$p" in *.service | *.path | *.timer) removed_units+=("$p") ;; esac
    else
      echo "install.sh: kept $p: it is not what install.sh installed there (changed or replaced since)" >&2
    fi
  done
  # What `systemctl enable` made for the units removed: links in *.wants/, *.requires/ and
  # *.upholds/ beside them and under /etc/systemd/{system,user}, named after a removed unit (or
  # an instance of a removed template) and pointing at a file of that name, which no longer
  # exists. Only such dangling links are removed, never a link that still leads somewhere.
  if ((${#removed_units[@]})); then
    link_dirs=()
    for u in "${removed_units[@]}"; do link_dirs+=("${u%/*}"); done
    link_dirs+=(/etc/systemd/system /etc/systemd/user)
    while IFS= read -r d; do
      [ -d "$d" ] || continue
      for w in "$d"/*.wants "$d"/*.requires "$d"/*.upholds; do
        [ -d "$w" ] && [ ! -L "$w" ] || continue
        if ((as_root)); then
          why=$(untrusted "$w")
          if [ -n "$why" ]; then
            echo "install.sh: left the links in $w: $why" >&2
            continue
          fi
        fi
        for l in "$w"/*; do
          [ -L "$l" ] && [ ! -e "$l" ] || continue
          target=$(readlink -- "$l")
          name=${l##*/}
          for u in "${removed_units[@]}"; do
            unit=${u##*/}
            [ "${target##*/}" = "$unit" ] || continue
            case "$unit" in
              *@.*) case "$name" in "${unit%%@*}"@*."${unit##*.}") ;; *) continue ;; esac ;;
              *) [ "$name" = "$unit" ] || continue ;;
            esac
            rm -f -- "$l"
            echo "install.sh: removed $l (systemctl enable's link to $unit)" >&2
            break
          done
        done
      done
    done < <(printf '%s\n' "${link_dirs[@]}" | sort -u)
  fi
  # Temporary files an interrupted run may have left.
  for d in "$bindir" "$manifest_dir" ${made_dirs[@]+"${made_dirs[@]}"} ${dest_dirs[@]+"${dest_dirs[@]}"}; do
    for f in "$d"/.*.hwc-new "$d"/.*.hwc-new.?????? "$d"/.installed-files.??????; do
      if is_file "$f"; then rm -f -- "$f"; fi
    done
  done
  rm -f -- "$manifest"
  if ((${#made_dirs[@]})); then
    while IFS= read -r d; do
      rmdir -- "$d" 2>/dev/null || true
    done < <(printf '%s\n' "${made_dirs[@]}" | sort -r)
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
textfile_dir=${textfile_dir:-/var/lib/prometheus/node-exporter}
case "$textfile_dir" in
  /*) ;;
  *) usage_error "--textfile-dir $textfile_dir is not an absolute path" ;;
esac
if bad=$(unsafe_char "$textfile_dir"); then
  usage_error "--textfile-dir $textfile_dir contains '$bad', which a systemd unit cannot hold as it is; choose a directory of letters, digits and . _ / + @ : -"
fi

user_units=" hwc-session-init.service "
if [ -n "$systemd_dir" ] && [ -z "$systemd_user_dir" ]; then
  case "$systemd_dir" in
    */system) systemd_user_dir="${systemd_dir%/system}/user" ;;
    *) usage_error "--systemd $systemd_dir does not end in /system, so the user unit (hwc-session-init.service) has no directory; pass --systemd-user DIR" ;;
  esac
fi

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

# As root, only into directories only root can change: the binary there is what the units and
# the hook run as root.
require_trusted "$bindir" "the binary's directory"
require_trusted "$manifest_dir" "the manifest's directory"
[ -z "$systemd_dir" ] || require_trusted "$systemd_dir" "--systemd"
[ -z "$systemd_user_dir" ] || require_trusted "$systemd_user_dir" "--systemd-user"
[ -z "$hook_src" ] || require_trusted "$hook_dir" "the initrd hook's directory"
check_manifest_file

recorded() { [ -f "$manifest" ] && grep -qxF -- "$1" "$manifest"; }
# Whether the file at DEST may be replaced by content of hash NEW: it is not there, holds exactly
# that, holds what an earlier run for this prefix wrote, or is listed by an earlier install.sh
# that recorded no hashes and still holds what that wrote.
replaceable_file() {
  local dest=$1 new=$2 h
  exists "$dest" || return 0
  is_file "$dest" || return 1
  h=$(file_hash "$dest") || return 1
  [ "$h" = "$new" ] || recorded "file:$h:$dest" || { recorded "$dest" && legacy_ours "$dest"; }
}

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$hook_src" ]; then
  text=$(< "$repo/$hook_src")
  hook_text=${text//@HWC_BINARY@/"$bindir/hwc"}
  if exists "$hook_dest"; then
    owner=$(hook_owner "$hook_dest")
    case "$owner" in
      "prefix $prefix" | "") ;;
      "prefix "*)
        owner=${owner#prefix }
        die "$hook_dest belongs to the hwc installed in $owner; uninstall that first (install/install.sh --prefix $owner --uninstall) or put this one elsewhere with --initrd-dir DIR"
        ;;
      package)
        die "$hook_dest is a package's copy; remove that package or put this one elsewhere with --initrd-dir DIR"
        ;;
    esac
    replaceable_file "$hook_dest" "$(file_hash <(printf '%s\n' "$hook_text"))" ||
      die "$hook_dest exists and is not what install.sh wrote for $prefix; remove it or put this one elsewhere with --initrd-dir DIR"
  fi
fi

# The units, with the binaries' path in them.
unit_dests=()
unit_texts=()
for unit in "$repo"/install/systemd/*.service "$repo"/install/systemd/*.path "$repo"/install/systemd/*.timer; do
  name=${unit##*/}
  case "$user_units" in
    *" $name "*) dir=$systemd_user_dir ;;
    *) dir=$systemd_dir ;;
  esac
  [ -n "$dir" ] || continue
  text=$(< "$unit")
  text=${text//@BINDIR@/"$bindir"}
  unit_dests+=("$dir/$name")
  unit_texts+=("${text//@TEXTFILE_DIR@/"$textfile_dir"}")
done

if [ -z "$binary" ]; then
  # For this machine's own platform, named: .cargo/config.toml's build.target is x86_64 (it keeps
  # the static flags off host code), and it sets the static flags for the platforms it names.
  host=$(rustc -vV 2> /dev/null | sed -n 's/^host: //p') || host=
  [ -n "$host" ] || die "rustc not found: install Rust (rustup.rs), or pass --binary PATH"
  grep -qxF "[target.$host]" "$repo/.cargo/config.toml" ||
    die "no static build is set up for $host (.cargo/config.toml names x86_64 and aarch64); pass --binary PATH"
  (cd "$repo" && cargo build --release --locked --target "$host")
  binary="$repo/target/$host/release/hwc"
fi
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then die "$binary is not an executable"; fi
# Run as hwc, whatever the file is called: the name it is run by chooses the applet.
applets=$(exec -a hwc "$binary" --list) || die "$binary --list failed"
mapfile -t applet_names <<< "$applets"
for applet in "${applet_names[@]}"; do
  case "$applet" in
    "") die "$binary --list printed an empty line" ;;
    hwc | . | .. | *[!A-Za-z0-9._+@-]*) die "$binary lists an applet name install.sh will not link: '$applet'" ;;
  esac
done

# What is in the way, all of it in one line.
in_the_way=()
replaceable_file "$bindir/hwc" "$(file_hash "$binary")" || in_the_way+=("$bindir/hwc")
for applet in "${applet_names[@]}"; do
  if exists "$bindir/$applet" && ! is_hwc_link "$bindir/$applet"; then
    in_the_way+=("$bindir/$applet")
  fi
done
for i in ${unit_dests[@]+"${!unit_dests[@]}"}; do
  replaceable_file "${unit_dests[i]}" "$(file_hash <(printf '%s\n' "${unit_texts[i]}"))" ||
    in_the_way+=("${unit_dests[i]}")
done
if ((${#in_the_way[@]})); then
  list=$(printf '%s, ' "${in_the_way[@]}")
  if ((${#in_the_way[@]} == 1)); then
    it="it exists and is not"; them=it
  else
    it="they exist and are not"; them=them
  fi
  die "not replacing ${list%, }: $it what install.sh wrote there for $prefix; nothing was written: move $them away or choose another prefix or directory"
fi

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
    if exists "$d"; then
      die "cannot make the directory $1: $d exists and is not a directory"
    fi
    missing+=("$d")
    d=$(dirname -- "$d")
  done
}
# make_dir DIR: each missing directory is recorded, then made, from the top down; one made by
# someone else meanwhile stops it (mkdir fails).
make_dir() {
  local i
  missing_dirs "$1"
  if ((${#missing[@]} == 0)); then
    case "$1" in "${prefix%/}"/*) ;; *) grep -qxF -- "dir:$1" "$manifest" || record "dest:$1" ;; esac
    return 0
  fi
  for ((i = ${#missing[@]} - 1; i >= 0; i--)); do
    record "dir:${missing[i]}"
    mkdir -- "${missing[i]}"
  done
}
# What this run wrote, as manifest lines.
written=()
# put MODE DEST: stdin becomes DEST through a temporary file beside it (mktemp: a new name no
# one can guess or have made) and a rename, so DEST is never half written and a running hwc is
# never overwritten in place; DEST is left alone when it already holds exactly that. The
# content's hash is recorded before the rename.
put() {
  local mode=$1 dest=$2 h
  pending=$(mktemp -- "${dest%/*}/.${dest##*/}.hwc-new.XXXXXX")
  cat > "$pending"
  chmod "$mode" -- "$pending"
  h=$(file_hash "$pending")
  record "file:$h:$dest"
  written+=("file:$h:$dest")
  if is_file "$dest" && cmp -s -- "$pending" "$dest" \
     && [ "$(stat -c %a -- "$dest")" = "${mode#0}" ]; then
    rm -f -- "$pending"
  else
    mv -fT -- "$pending" "$dest"
  fi
  pending=""
}

# The manifest's own directories can only be recorded once it exists.
missing_dirs "$manifest_dir"
manifest_dirs=("${missing[@]}")
for ((i = ${#manifest_dirs[@]} - 1; i >= 0; i--)); do mkdir -- "${manifest_dirs[i]}"; done
: >> "$manifest"
for m in "${manifest_dirs[@]}"; do record "dir:$m"; done

make_dir "$bindir"
put 0755 "$bindir/hwc" < "$binary"
for applet in "${applet_names[@]}"; do
  record "link:$bindir/$applet"
  written+=("link:$bindir/$applet")
done
"$bindir/hwc" --install -s "$bindir"

for i in ${unit_dests[@]+"${!unit_dests[@]}"}; do
  make_dir "${unit_dests[i]%/*}"
  put 0644 "${unit_dests[i]}" <<< "${unit_texts[i]}"
done

if [ -n "$hook_src" ]; then
  make_dir "$hook_dir"
  put "$hook_mode" "$hook_dest" <<< "$hook_text"
fi

# Done: for each path this run wrote, only its own line stays (older hashes, and an earlier
# install.sh's line without one, go); the rest of what earlier runs wrote stays listed.
pending=$(mktemp -- "$manifest_dir/.installed-files.XXXXXX")
WRITTEN=$(printf '%s\n' "${written[@]}") awk '
  function path(l) { sub(/^(file:[^:]*:|link:)/, "", l); return l }
  BEGIN {
    n = split(ENVIRON["WRITTEN"], w, "\n")
    for (i = 1; i <= n; i++) if (w[i] != "") { keep[w[i]] = 1; wrote[path(w[i])] = 1 }
  }
  seen[$0]++ { next }
  keep[$0] { print; next }
  /^(file|link):/ && (path($0) in wrote) { next }
  /^\// && ($0 in wrote) { next }
  { print }
' "$manifest" > "$pending"
chmod 0644 -- "$pending"
mv -fT -- "$pending" "$manifest"
pending=""

echo "installed $bindir/hwc and links: $(tr '\n' ' ' <<< "$applets")"
