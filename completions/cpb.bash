# bash completion for cpb.
#
# The verbs and their options are read at completion time from cpb's own help: the
# "Verbs:" section of `cpb --help` (lines "  NAME  summary"), the option lines of
# `cpb VERB --help` (lines starting "  -x, --long" or "  --long") and, for a verb with
# commands of its own (cpb node add|list|...), the "Commands:" section of its help, so
# completion follows whatever the installed binary offers.  Arguments that are not options complete to
# *.yaml/*.yml files and directories; the argument of an option shown with one
# ("--out FILE") completes to any file.

# The verbs of cpb binary $1, one a line.
_cpb_verbs()
{
  "$1" --help 2>/dev/null | awk '
    /^Verbs:/ { on = 1; next }
    on && /^[^ ]/ { exit }
    on && /^  [a-z]/ { print $1 }'
}

# The options of `$1 $2 --help` (or `$1 --help` without $2); with $3 = arg, only those
# whose help line shows an argument after them.
_cpb_options()
{
  "$1" ${2:+"$2"} --help 2>/dev/null | awk -v want="${3:-}" '
    /^  -/ {
      for (i = 1; i <= NF; i++) {
        w = $i; sub(/,$/, "", w)
        if (w !~ /^-/) break
        arg = (w ~ /=/) || ($(i + 1) ~ /^[A-Z<\[]/)
        sub(/[=\[].*/, "", w)
        if (want == "" || arg) print w
      }
    }'
}

# The commands of verb $2 (the "Commands:" section of `$1 $2 --help`), one a line.
_cpb_commands()
{
  "$1" "$2" --help 2>/dev/null | awk '
    /^Commands:/ { on = 1; next }
    on && /^[^ ]/ { exit }
    on && /^  [a-z]/ { print $1 }'
}

_cpb()
{
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local cpb=${COMP_WORDS[0]} verb='' i
  COMPREPLY=()
  type -P "$cpb" >/dev/null 2>&1 || cpb=cpb

  # The verb is the first word that is neither a global option nor its argument.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --url) ((i++)) ;;
      -*) ;;
      *) verb=${COMP_WORDS[i]}; break ;;
    esac
  done

  if [[ -z $verb || $verb == help ]]; then
    if [[ -z $verb && $prev == --url ]]; then
      return 0
    elif [[ -z $verb && $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$(_cpb_options "$cpb")" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_cpb_verbs "$cpb") ${verb:-help}" -- "$cur")
    fi
    return 0
  fi

  # The first operand of a verb with commands is the command.
  local j operands=0 takes_arg
  takes_arg=$(_cpb_options "$cpb" "$verb" arg)
  for ((j = i + 1; j < COMP_CWORD; j++)); do
    [[ ${COMP_WORDS[j]} == -* ]] && continue
    grep -qxF -- "${COMP_WORDS[j - 1]}" <<<"$takes_arg" && continue
    ((operands++))
  done
  if [[ $cur != -* && $operands == 0 && -n $(_cpb_commands "$cpb" "$verb") ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_cpb_commands "$cpb" "$verb")" -- "$cur")
    return 0
  fi

  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_cpb_options "$cpb" "$verb")" -- "$cur")
  elif [[ $prev == -* ]] && _cpb_options "$cpb" "$verb" arg | grep -qxF -- "$prev"; then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  else
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -X '!*.yaml' -- "$cur"; compgen -f -X '!*.yml' -- "$cur";
                             compgen -d -- "$cur")
  fi
  return 0
}

complete -F _cpb cpb
