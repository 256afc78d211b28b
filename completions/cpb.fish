# fish completion for cpb.
#
# The verbs and their options are read at completion time from cpb's own help: the
# "Verbs:" section of `cpb --help` (lines "  NAME  summary") and the option lines of
# `cpb VERB --help` (lines starting "  -x, --long" or "  --long"), and the "Commands:"
# section of a verb with commands of its own (cpb node), so completion follows whatever
# the installed binary offers.  Other arguments complete to *.yaml/*.yml files.

function __cpb_bin
    set -l cmd (commandline -opc)
    if command -sq -- $cmd[1]; or test -x "$cmd[1]"
        echo $cmd[1]
    else
        echo cpb
    end
end

# The verb already typed, if any: the first word that is neither a global option nor
# the argument of --url.
function __cpb_verb
    set -l cmd (commandline -opc)
    set -e cmd[1]
    set -l skip 0
    for w in $cmd
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --url
                set skip 1
            case '-*'
            case '*'
                echo $w
                return 0
        end
    end
    return 1
end

# "name<TAB>summary" for each verb.
function __cpb_verbs
    set -l cpb (__cpb_bin)
    $cpb --help 2>/dev/null | awk '
        /^Verbs:/ { on = 1; next }
        on && /^[^ ]/ { exit }
        on && /^  [a-z]/ { name = $1; $1 = ""; sub(/^ +/, ""); print name "\t" $0 }'
end

# The options of the verb typed so far (or the global ones).
function __cpb_options
    set -l cpb (__cpb_bin)
    set -l verb (__cpb_verb)
    $cpb $verb --help 2>/dev/null | awk '
        /^  -/ {
            for (i = 1; i <= NF; i++) {
                w = $i; sub(/,$/, "", w)
                if (w !~ /^-/) break
                sub(/[=\[].*/, "", w)
                print w
            }
        }'
end

# Directories and *.yaml/*.yml files starting with the word being completed.
function __cpb_yaml_files
    set -l cur (commandline -ct)
    for f in $cur*
        if test -d $f
            echo $f/
        else if string match -qr '\\.ya?ml$' -- $f
            echo $f
        end
    end
end

# "name<TAB>summary" for each command of the verb typed (its help's "Commands:" section).
function __cpb_commands
    set -l cpb (__cpb_bin)
    set -l verb (__cpb_verb)
    $cpb $verb --help 2>/dev/null | awk '
        /^Commands:/ { on = 1; next }
        on && /^[^ ]/ { exit }
        on && /^  [a-z]/ { name = $1; $1 = ""; sub(/^ +/, ""); print name "\t" $0 }'
end

# True when the word being completed is the first operand after a verb with commands.
function __cpb_wants_command
    set -l verb (__cpb_verb); or return 1
    test "$verb" = help; and return 1
    set -l cmd (commandline -opc)
    set -l seen 0
    for w in $cmd[2..-1]
        if test $seen = 1
            string match -q -- '-*' $w; or return 1
        else if test "$w" = "$verb"
            set seen 1
        end
    end
    set -l cmds (__cpb_commands)
    test (count $cmds) -gt 0
end

function __cpb_wants_verb
    set -l verb (__cpb_verb)
    test -z "$verb"; or test "$verb" = help
end

complete -c cpb -f
complete -c cpb -n '__cpb_wants_verb; and not string match -q -- "-*" (commandline -ct)' -a '(__cpb_verbs)'
complete -c cpb -n '__cpb_wants_verb; and not __cpb_verb' -a help -d 'show the help of a verb'
complete -c cpb -n 'string match -q -- "-*" (commandline -ct)' -a '(__cpb_options)'
complete -c cpb -n '__cpb_wants_command; and not string match -q -- "-*" (commandline -ct)' -a '(__cpb_commands)'
complete -c cpb -n 'not __cpb_wants_verb; and not __cpb_wants_command; and not string match -q -- "-*" (commandline -ct)' -a '(__cpb_yaml_files)'
