#!/usr/bin/env bash
# The action's validate step (action.yml): `runbook validate --format github`
# with the action's inputs, which arrive in the environment so that no input is
# ever pasted into shell code.
set -euo pipefail
args=(validate --format github)
if [ "${RUNBOOK_DENY_WARNINGS:-false}" = "true" ]; then
    args+=(--deny-warnings)
fi
read -r -a ignore <<< "${RUNBOOK_IGNORE:-}"
for code in "${ignore[@]}"; do
    args+=(--ignore "$code")
done
read -r -a paths <<< "${RUNBOOK_PATHS:-}"
exec runbook "${args[@]}" "${paths[@]}"
