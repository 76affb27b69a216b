#!/usr/bin/env bash
# Text from "correction bytes": the decoder run on bytes no encoder made, after a prompt.
#   ./run.sh                      64 zero bytes: the model's first choice every time (greedy)
#   head -c 64 /dev/urandom | ./run.sh -    random bytes: exact mode samples from the model
#   ./run.sh --coder rank ...     the reference's way: each byte gives two ranks (nibbles)
# Options: -c PROMPT, --coder exact|rank, -n MODEL, -s TOKENS
set -euo pipefail
cd "$(dirname "$0")/../.."
prompt="It was a dark and stormy night;" coder=exact model=() tokens=() input=
while [ $# -gt 0 ]; do
  case $1 in
    -c) prompt=$2; shift ;;
    --coder) coder=$2; shift ;;
    -n) model=(-n "$2"); shift ;;
    -s) tokens=(-s "$2"); shift ;;
    -) input=- ;;
    *) echo "generate: unknown option $1" >&2; exit 1 ;;
  esac
  shift
done
stage() { node --import tsx "scripts/$1.ts" "${@:2}"; }
if [ "$input" = - ]; then data=$(mktemp); cat > "$data"; else data=$(mktemp); head -c 64 /dev/zero > "$data"; fi
trap 'rm -f "$data"' EXIT
if [ "$coder" = rank ]; then
  stage tokensOfData "${model[@]}" -c "$prompt" -i "$data" | stage modelOfInx | stage tokensToStr
else
  stage tokensOfData "${model[@]}" "${tokens[@]}" --coder exact -c "$prompt" -i "$data" | stage tokensOfRange | stage tokensToStr
fi
echo
