#!/usr/bin/env bash
# Scans a log file (JSON lines) for personal data and secrets; exits 1 on any finding.
# Usage: scripts/scan-logs.sh FILE
#   - a phone number in any written form: 10 or more digits in a row (E.164, national, or
#     with the country code), which no other logged value has;
#   - a field that carries keyed digits or a PIN;
#   - the secrets the test suite configures.
set -euo pipefail
file=${1:?usage: scan-logs.sh FILE}
[[ -s $file ]] || { echo "scan-logs: $file is empty: nothing was logged" >&2; exit 1; }
lines=$(wc -l < "$file")
found=0
check() {
  local what=$1 pattern=$2
  if grep -En -- "$pattern" "$file" | head -5 | grep -q .; then
    echo "scan-logs: $what found:" >&2
    grep -En -- "$pattern" "$file" | head -5 >&2
    found=1
  fi
}
check "a phone number" '[0-9]{10,}'
check "a PIN or digits field" '"(pin|Pin|PIN|digits|Digits|dtmf)"[[:space:]]*:'
check "a configured secret" 'test-(admin-token|exotel-secret|twilio-auth-token|plivo-auth-token|8x8-secret|vonage-signature-secret)'
if ((found)); then exit 1; fi
echo "scan-logs: $lines log lines, no phone number, PIN or secret"
