#!/usr/bin/env bash
# A producer in another language: bash and curl, nothing else. It uploads an
# invoice PDF, enqueues an invoice message that references it (with an
# Idempotency-Key), retries the POST as a flaky pipeline would, and polls
# the job until it has its final outcome.
#
# Environment:
#   SPMSG_API       base URL of `enqueue serve`, e.g. http://127.0.0.1:8080
#   SPMSG_TOKEN     a bearer token from ENQUEUE_API_TOKENS (empty: none)
#   SELLER_ID, MARKETPLACE_ID, ORDER_ID   the message's seller, marketplace, order
#   PDF             the invoice file to upload
#   TIMEOUT         seconds to wait for the final outcome (default 60)
#
# Prints JOB_ID=<id> and OUTCOME=<outcome>; exits 0 only when the job was sent.
set -euo pipefail

: "${SPMSG_API:?}" "${SELLER_ID:?}" "${MARKETPLACE_ID:?}" "${ORDER_ID:?}" "${PDF:?}"
TIMEOUT="${TIMEOUT:-60}"
auth=()
if [ -n "${SPMSG_TOKEN:-}" ]; then
  auth=(-H "Authorization: Bearer ${SPMSG_TOKEN}")
fi

# call METHOD PATH [curl args...]: sets CODE and BODY.
call() {
  local method="$1" path="$2"
  shift 2
  local out
  out="$(curl -sS --max-time 10 -X "$method" "${auth[@]}" -w '\n%{http_code}' "$@" "${SPMSG_API}${path}")"
  CODE="${out##*$'\n'}"
  BODY="${out%$'\n'*}"
}

# field NAME: the first string value of NAME in BODY.
field() {
  printf '%s' "$BODY" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1
}

expect() {
  if [ "$CODE" != "$1" ]; then
    echo "curl_client: $2: want HTTP $1, got $CODE: $BODY" >&2
    exit 1
  fi
}

# 1. Upload the PDF; the answer names it in the attachment store.
call POST "/v1/attachments?name=invoice.pdf" -H 'Content-Type: application/pdf' --data-binary "@${PDF}"
expect 201 "upload"
source="$(field source)"
echo "uploaded: $source"

# 2. Enqueue the invoice, with an idempotency key.
job=$(cat <<EOF
{"seller_id":"${SELLER_ID}","marketplace_id":"${MARKETPLACE_ID}","order_id":"${ORDER_ID}",
 "type":"invoice","attachments":[{"source":"${source}","file_name":"invoice-${ORDER_ID}.pdf"}]}
EOF
)
key="invoice-${ORDER_ID}"
call POST /v1/messages -H 'Content-Type: application/json' -H "Idempotency-Key: ${key}" --data-binary "$job"
expect 202 "enqueue"
id="$(field id)"
echo "JOB_ID=${id}"

# 3. The pipeline retries (say its connection dropped): same id, nothing new.
call POST /v1/messages -H 'Content-Type: application/json' -H "Idempotency-Key: ${key}" --data-binary "$job"
expect 200 "retry"
if [ "$(field status)" != "duplicate" ] || [ "$(field id)" != "$id" ]; then
  echo "curl_client: retry: want a duplicate of $id, got: $BODY" >&2
  exit 1
fi

# 4. Poll until the job has its final outcome.
deadline=$((SECONDS + TIMEOUT))
while :; do
  call GET "/v1/messages/${id}"
  expect 200 "status"
  if [ "$(field state)" = "final" ]; then
    break
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "curl_client: job $id not final after ${TIMEOUT}s: $BODY" >&2
    exit 1
  fi
  sleep 0.2
done
outcome="$(field outcome)"
echo "OUTCOME=${outcome}"
echo "$BODY"
[ "$outcome" = "sent" ]
