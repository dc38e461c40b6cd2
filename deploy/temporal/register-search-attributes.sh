#!/bin/sh
# One-shot (compose service `temporal-search-attributes`), once the Temporal server is healthy:
# make sure our namespace exists (the plain server image creates none) and carries the custom
# search attributes of docs/architecture.md §3, given as SEARCH_ATTRIBUTES="Name=Type Name=Type ...".
#
# Safe to re-run: an existing namespace or attribute is left as it is. The worker registers
# missing attributes too (workers.client.ensure_search_attributes); doing it here means the
# UI can filter by them before the first worker ever starts.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${NAMESPACE_RETENTION:?}" "${SEARCH_ATTRIBUTES:?}"
export TEMPORAL_ADDRESS

if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $TEMPORAL_NAMESPACE exists"
else
  temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" \
    --retention "$NAMESPACE_RETENTION" --description "Followthrough interactions"
fi

# A new namespace reaches the frontend's namespace cache within a few seconds.
tries=0
until temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "namespace $TEMPORAL_NAMESPACE is not usable after 60 s" >&2
    exit 1
  fi
  sleep 2
done

existing="$(temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE")"
for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw -- "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" \
      --name "$name" --type "$type"
  fi
done
echo "search attributes registered in namespace $TEMPORAL_NAMESPACE"
