#!/usr/bin/env bash
# A walk through the API with curl, as the README tells it: reads with ETags, an account and an API key, a word
# list, an NDJSON import followed live, an editor's conditional edit, and cleaning up.
#
#   LEXICA_URL=http://127.0.0.1:8000 ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD='…' examples/walkthrough.sh
#
# The admin account is the one the server creates at start-up from LEXICA_FIRST_ADMIN_EMAIL and
# LEXICA_FIRST_ADMIN_PASSWORD, or one made with `.venv/bin/lexica users create admin@example.com --role admin`.
# Needs curl and python3 (to read JSON). contract-tests/test_examples.py runs it against a live server.
set -euo pipefail

BASE=${LEXICA_URL:-http://127.0.0.1:8000}
HERE=$(cd "$(dirname "$0")" && pwd)
: "${ADMIN_EMAIL:?set ADMIN_EMAIL and ADMIN_PASSWORD to an admin account}"
: "${ADMIN_PASSWORD:?set ADMIN_PASSWORD}"

api() { curl -sS --fail-with-body "$@"; } # a 4xx or 5xx stops the walk and prints its problem document
get() {                                     # a field of the JSON on stdin: get items 0 headword
  python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value if not isinstance(value, (dict, list)) else json.dumps(value))' "$@"
}
etag() { curl -sS -o /dev/null -D - "$@" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}'; }
status() { curl -sS -o /dev/null -w '%{http_code}\n' "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "Look a word up; asked again with its ETag, the answer is 304 with no body"
api "$BASE/api/v1/words/apple" | get headword
ETAG=$(etag "$BASE/api/v1/words/apple")
status -H "If-None-Match: $ETAG" "$BASE/api/v1/words/apple"

step "Search (a typo still finds the word) and page through headwords"
api "$BASE/api/v1/search?q=aple&mode=fuzzy" | get items 0 headword
api "$BASE/api/v1/words?prefix=appl&limit=2" | get links next

step "Register, sign in, and make an API key"
EMAIL="walker-$(date +%s)-$$@example.com"
PASSWORD="a long passphrase of the walker"
api -X POST "$BASE/api/v1/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\": \"$EMAIL\", \"password\": \"$PASSWORD\"}" | get email
ACCESS=$(api -X POST "$BASE/api/v1/auth/token" -d grant_type=password \
  --data-urlencode "username=$EMAIL" --data-urlencode "password=$PASSWORD" | get access_token)
USER_ID=$(api "$BASE/api/v1/users/me" -H "Authorization: Bearer $ACCESS" | get id)
KEY=$(api -X POST "$BASE/api/v1/users/me/api-keys" \
  -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' -d '{"name": "walkthrough"}' | get key)
echo "user $USER_ID, API key ${KEY:0:8}…"

step "Keep a word list: every write to it sends the ETag of the last answer (If-Match)"
CREATED=$(api -X POST "$BASE/api/v1/lists" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
  -D "$HERE/.headers" -d '{"name": "Fruit", "visibility": "public"}')
LIST=$(echo "$CREATED" | get id)
LIST_ETAG=$(tr -d '\r' <"$HERE/.headers" | awk 'tolower($1) == "etag:" {print $2}')
rm -f "$HERE/.headers"
api -X POST "$BASE/api/v1/lists/$LIST/words" -H "X-API-Key: $KEY" -H "If-Match: $LIST_ETAG" \
  -H 'Content-Type: application/json' -d '{"headwords": ["apple", "applesauce"]}' | get added
status -X POST "$BASE/api/v1/lists/$LIST/words" -H "X-API-Key: $KEY" -H "If-Match: $LIST_ETAG" \
  -H 'Content-Type: application/json' -d '{"headwords": ["apple pie"]}' # 412: the list changed since
api "$BASE/api/v1/lists/$LIST?limit=50" | get words items 0 headword
api "$BASE/api/v1/lists/$LIST/export" | head -n 1

step "As the admin: import examples/entries.ndjson (one entry per line) and follow the job live"
ADMIN=$(api -X POST "$BASE/api/v1/auth/token" -d grant_type=password \
  --data-urlencode "username=$ADMIN_EMAIL" --data-urlencode "password=$ADMIN_PASSWORD" | get access_token)
JOB=$(api -X POST "$BASE/api/v1/imports" -H "Authorization: Bearer $ADMIN" \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$HERE/entries.ndjson" | get id)
# Server-sent events until the job ends (the stream closes after job.finished).
curl -sS -N --max-time 60 "$BASE/api/v1/jobs/$JOB/events" -H "Authorization: Bearer $ADMIN" | grep '^event:'
api "$BASE/api/v1/jobs/$JOB" -H "Authorization: Bearer $ADMIN" | get result

step "Make the walker an editor; the editor merge-patches an entry with If-Match"
api -X PUT "$BASE/api/v1/admin/users/$USER_ID/role" -H "Authorization: Bearer $ADMIN" \
  -H 'Content-Type: application/json' -d '{"role": "editor"}' | get role
ENTRY_ETAG=$(etag "$BASE/api/v1/words/lexicate")
api -X PATCH "$BASE/api/v1/words/lexicate" -H "X-API-Key: $KEY" -H "If-Match: $ENTRY_ETAG" \
  -H 'Content-Type: application/merge-patch+json' \
  -d '{"parts_of_speech": [{"part_of_speech": "v. t.", "etymology": null, "compounds": null, "synonyms": null,
       "definitions": [{"text": "To enter a word in a dictionary.", "examples": ["Lexicate it."]}]}]}' |
  get parts_of_speech 0 definitions 0 text
status -X PATCH "$BASE/api/v1/words/lexicate" -H "X-API-Key: $KEY" -H "If-Match: $ENTRY_ETAG" \
  -H 'Content-Type: application/merge-patch+json' -d '{"parts_of_speech": []}' # 412: stale ETag, nothing written

step "Clean up: delete the finished job and the list"
status -X DELETE "$BASE/api/v1/jobs/$JOB" -H "Authorization: Bearer $ADMIN"
status "$BASE/api/v1/jobs/$JOB" -H "Authorization: Bearer $ADMIN"
LIST_ETAG=$(etag "$BASE/api/v1/lists/$LIST" -H "X-API-Key: $KEY")
status -X DELETE "$BASE/api/v1/lists/$LIST" -H "X-API-Key: $KEY" -H "If-Match: $LIST_ETAG"
