#!/usr/bin/env bash
# Scans a log file (JSON lines) for personal data and secrets; exits 1 on any finding.
# Usage: scripts/scan-logs.sh FILE
#   - a phone number in any written form: 10 or more digits in a row (E.164, national, or
#     with the country code), which no other logged value has;
#   - a field that carries keyed digits or a PIN;
#   - the secrets the test suite configures;
#   - an identifier field (call.sid, order.id, request_id, ...) longer than 64 characters or
#     with characters other than A-Z a-z 0-9 . _ - : (identifiers from requests are logged as
#     sent only within those bounds, else as hashed-<digest>-<length>B);
#   - a line longer than 4 KB: something from a request logged whole.
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
check "a configured secret" '(test|sdk-check)-(admin-token|exotel-secret|twilio-auth-token|plivo-auth-token|8x8-secret|vonage-signature-secret)'
ids='call\.sid|call\.id|call\.status|order\.id|booking\.id|sms\.sid|sms\.subject|event\.id|request_id'
check "an identifier longer than 64 characters" "\"($ids)\":\"[^\"]{65,}\""
check "an identifier with characters other than A-Z a-z 0-9 . _ - :" "\"($ids)\":\"[^\"]*[^\"A-Za-z0-9._:-]"
check "a line longer than 4 KB" '^.{4097,}'
if ((found)); then exit 1; fi
echo "scan-logs: $lines log lines, no phone number, PIN, secret, unbounded identifier or oversized line"
