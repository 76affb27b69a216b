#!/usr/bin/env bash
# Text from "correction bytes": the decoder run on bytes no encoder made, after a prompt.
#   ./run.sh                                  64 zero bytes: the model's first choice every time (greedy)
#   head -c 64 /dev/urandom | ./run.sh        random bytes: exact mode samples from the model
#   ./run.sh FILE                             the bytes of FILE (- for stdin)
#   ./run.sh --coder rank ...                 the reference's way: each byte gives two ranks (nibbles)
# The bytes are FILE's, else stdin's when it is not a terminal; with neither, or nothing piped in, 64 zero bytes.
# Options: -c PROMPT, --coder exact|rank, -n MODEL (every stage: a document never picks the model), -s TOKENS
set -euo pipefail
prompt="It was a dark and stormy night;" coder=exact model=() tokens=() input=
while [ $# -gt 0 ]; do
  case $1 in
    -c) prompt=$2; shift ;;
    --coder) coder=$2; shift ;;
    -n) model=(-n "$2"); shift ;;
    -s) tokens=(-s "$2"); shift ;;
    -?*) echo "generate: unknown option $1" >&2; exit 1 ;;
    *) input=$1 ;;
  esac
  shift
done
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# Read before the cd below, so that a relative FILE still names the caller's file.
if [ -n "$input" ]; then cat -- "$input" > "$data"
elif [ ! -t 0 ]; then cat > "$data"
fi
# An empty stdin is a non-interactive run with nothing piped (cron, CI): greedy, as on a terminal.
[ -n "$input" ] || [ -s "$data" ] || head -c 64 /dev/zero > "$data"
cd "$(dirname "$0")/../.."
stage() { node --import tsx "scripts/$1.ts" "${@:2}"; }
if [ "$coder" = rank ]; then
  stage tokensOfData "${model[@]}" -c "$prompt" -i "$data" | stage modelOfInx "${model[@]}" | stage tokensToStr "${model[@]}"
else
  stage tokensOfData "${model[@]}" "${tokens[@]}" --coder exact -c "$prompt" -i "$data" | stage tokensOfRange "${model[@]}" | stage tokensToStr "${model[@]}"
fi
echo
