# The options every figures/*/run.sh takes; sourced once run.sh has set $here (its folder) and $root:
#   run.sh [-o DIR | --update] [INPUT]
# The images go to DIR, by default figures/out/NAME/, which git ignores: fonts differ between machines, so a
# run would rewrite the committed images beside run.sh for nothing. --update writes over those on purpose.
out=$root/figures/out/$(basename "$here") input=
while [ $# -gt 0 ]; do
  case $1 in
    -o) [ $# -ge 2 ] || { echo "$0: -o needs a folder" >&2; exit 1; }; out=$2; shift ;;
    --update) out=$here ;;
    -?*) echo "$0: unknown option $1 (usage: run.sh [-o DIR | --update] [INPUT])" >&2; exit 1 ;;
    *) input=$1 ;;
  esac
  shift
done
mkdir -p "$out"
