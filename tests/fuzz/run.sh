#!/bin/sh
# Run each libFuzzer harness of tests/fuzz: first, once each, its committed
# regression inputs (crashes found before) and its seeds; then fuzzing for
# FUZZ_SECONDS seconds (default 11: about a minute for the five in
# "make check"; "make fuzz" runs them longer).  New inputs go to
# tests/fuzz/work/<harness>/ in the build tree, crashes to
# tests/fuzz/artifacts/<harness>/.  Skips (77) when configure found no
# clang that links -fsanitize=fuzzer, so the harnesses were not built.
set -u
: "${FUZZ_SECONDS:=11}"
src=$(cd "$(dirname "$0")" && pwd)
dir=${top_builddir:-.}/tests/fuzz
harnesses="signreq ucspienv options engine-immediate engine-starttls"

for h in $harnesses; do
	if [ ! -x "$dir/fuzz-$h" ]; then
		echo "SKIP: $dir/fuzz-$h not built (configure found no clang -fsanitize=fuzzer)"
		exit 77
	fi
done

failed=
for h in $harnesses; do
	mkdir -p "$dir/work/$h" "$dir/artifacts/$h"
	echo "== $h: regressions and seeds"
	inputs=$(ls -d "$src/regressions/$h"/* "$src/corpus/$h"/* 2>/dev/null)
	[ -n "$inputs" ] || { echo "$h: no seeds in $src/corpus/$h"; exit 1; }
	# shellcheck disable=SC2086 # one argument per file
	if ! "$dir/fuzz-$h" $inputs; then
		failed="$failed $h"
		continue
	fi
	echo "== $h: fuzzing for $FUZZ_SECONDS s"
	# -timeout below the engine harness's own handshake timeout: an engine
	# that waits is reported, not hidden
	if ! "$dir/fuzz-$h" -max_total_time="$FUZZ_SECONDS" -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/$h/" "$dir/work/$h" "$src/corpus/$h"; then
		echo "$h: crash: a reproducer is in $dir/artifacts/$h/; once fixed, commit it to tests/fuzz/regressions/$h/"
		failed="$failed $h"
	fi
done
[ -z "$failed" ] || { echo "FAIL:$failed"; exit 1; }
