#!/usr/bin/env bats
# Shell completions follow the binary: every verb of `cpb --help` and every option of
# `cpb VERB --help` is offered, and arguments complete to YAML files.  No service needed.
load helpers

setup() {
  [ -x "$CPB" ] || skip "no cpb binary at $CPB"
  BIN=$BATS_TEST_TMPDIR/bin
  mkdir -p "$BIN"
  ln -sf "$CPB" "$BIN/cpb"
  export PATH="$BIN:$PATH"
}

# The verbs as `cpb --help` lists them, one a line.
verbs() {
  "$CPB" --help | sed -n '/^Verbs:/,/^[^ ]/p' | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p'
}

# The long options in the option lines of `cpb VERB --help`.
long_options() {
  "$CPB" "$1" --help | grep -E '^  (-[A-Za-z0-9], )?--' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

# bash_complete WORDS...: what the bash completion offers for the last word.
bash_complete() {
  bash -c 'source "$1"; shift
           COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _cpb
           printf "%s\n" "${COMPREPLY[@]}"' _ "$CPB_SRC/completions/cpb.bash" "$@"
}

@test "every verb prints help in the format the completions read" {
  [ -n "$(verbs)" ]
  for v in $(verbs); do
    run "$CPB" "$v" --help
    [ "$status" -eq 0 ] || { echo "cpb $v --help exited $status" >&2; return 1; }
    [[ ${lines[0]} == "Usage: cpb $v"* ]] || { echo "cpb $v --help starts: ${lines[0]}" >&2; return 1; }
    grep -qE -- '^  (-h, )?--help' <<<"$output" || { echo "cpb $v --help lists no --help" >&2; return 1; }
  done
}

@test "bash: every verb completes, and so does help" {
  run bash_complete cpb ""
  assert_success
  for v in $(verbs) help; do
    grep -qx -- "$v" <<<"$output" || { echo "verb '$v' not offered: $output" >&2; return 1; }
  done
  run bash_complete cpb do
  [ "$output" = doctor ]
}

@test "bash: every option of every verb completes" {
  for v in $(verbs); do
    run bash_complete cpb "$v" --
    for o in $(long_options "$v"); do
      grep -qx -- "$o" <<<"$output" || { echo "cpb $v: '$o' not offered: $output" >&2; return 1; }
    done
  done
  run bash_complete cpb --
  assert_contains "$output" "--url"
  assert_contains "$output" "--verbose"
}

@test "bash: global options before the verb are skipped, and help completes verbs" {
  run bash_complete cpb --url unix:///x.sock doctor --j
  [ "$output" = --json ]
  run bash_complete cpb help doc
  [ "$output" = doctor ]
}

@test "bash: arguments complete to YAML files and directories only" {
  cd "$BATS_TEST_TMPDIR"
  mkdir -p specs/sub && touch specs/pods.yaml specs/jobs.yml specs/notes.txt
  run bash_complete cpb doctor specs/
  assert_success
  assert_contains "$output" "specs/pods.yaml"
  assert_contains "$output" "specs/jobs.yml"
  assert_contains "$output" "specs/sub"
  assert_not_contains "$output" "notes.txt"
}

@test "zsh: the completion function parses" {
  command -v zsh >/dev/null || skip "zsh not installed"
  zsh -n "$CPB_SRC/completions/_cpb"
}

@test "fish: the completion parses, and offers verbs, options and YAML files" {
  command -v fish >/dev/null || skip "fish not installed"
  fish -n "$CPB_SRC/completions/cpb.fish"
  cd "$BATS_TEST_TMPDIR"
  touch pods.yaml notes.txt
  run fish -c "source '$CPB_SRC/completions/cpb.fish'; complete -C 'cpb '"
  assert_success
  for v in $(verbs); do
    grep -q "^$v	" <<<"$output" || { echo "fish: verb '$v' not offered: $output" >&2; return 1; }
  done
  run fish -c "source '$CPB_SRC/completions/cpb.fish'; complete -C 'cpb doctor --'"
  assert_contains "$output" "--json"
  assert_contains "$output" "--local"
  run fish -c "source '$CPB_SRC/completions/cpb.fish'; complete -C 'cpb doctor '"
  assert_contains "$output" "pods.yaml"
  assert_not_contains "$output" "notes.txt"
}

@test "every verb has a man page, and cpb(1) names it" {
  for v in $(verbs); do
    [ -f "$CPB_SRC/docs/man/cpb-$v.1" ] || { echo "no docs/man/cpb-$v.1" >&2; return 1; }
    grep -q -e "cpb-$v" -e "cpb\\\\-$v" "$CPB_SRC/docs/man/cpb.1" \
      || { echo "cpb.1 does not name cpb-$v" >&2; return 1; }
  done
}

@test "every option a verb's --help lists is in its man page" {
  local v page o missing=
  for v in $(verbs); do
    page=$CPB_SRC/docs/man/cpb-$v.1
    # A page that is only ".so man1/cpb-OTHER.1" is the other page.
    if sed -n '1s/^\.so man1\///p' "$page" | grep -q .; then
      page=$CPB_SRC/docs/man/$(sed -n '1s/^\.so man1\///p' "$page")
    fi
    for o in $(long_options "$v"); do
      [ "$o" = --help ] && continue
      # troff writes a dash as \- (grep -F: no pattern, the text itself).
      grep -qF -e "$o" -e "${o//-/\\-}" "$page" || missing+=" cpb-$v.1:$o"
    done
  done
  [ -z "$missing" ] || { echo "options missing from man pages:$missing" >&2; return 1; }
}
