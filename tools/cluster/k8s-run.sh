#!/usr/bin/env bash
# Runs tools/cluster/kubernetes.yaml: N shards as an Indexed Job, then the merge Job, and
# copies the merged report out of the merge Job's log.
#
#   OPENPACE_IMAGE=registry.example/openpace:0.1 tools/cluster/k8s-run.sh 8
#
# START_DELAY (default 120 s) must cover scheduling and pulling the image on every node.
set -euo pipefail

SHARDS=${1:?usage: OPENPACE_IMAGE=IMAGE tools/cluster/k8s-run.sh SHARDS}
: "${OPENPACE_IMAGE:?set OPENPACE_IMAGE to an image holding /usr/local/bin/openpace}"
DIR=$(dirname "$0")
RUN_ID=${RUN_ID:-run-$(date +%Y%m%d-%H%M%S)}
START_AT=$(($(date +%s) + ${START_DELAY:-120}))

fill() { sed -e "s|\${SHARDS}|$SHARDS|g" -e "s|\${OPENPACE_IMAGE}|$OPENPACE_IMAGE|g" \
    -e "s|\${RUN_ID}|$RUN_ID|g" -e "s|\${START_AT}|$START_AT|g" "$1"; }

kubectl delete job openpace-shards openpace-merge --ignore-not-found
fill "$DIR/kubernetes.yaml" | kubectl apply -f -
# Until the Job is Complete or Failed (a failed shard could not run: the merge says which).
finished() {
    local state
    state=$(kubectl get job "$1" -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
    [[ $state == *Complete* || $state == *Failed* ]]
}
until finished openpace-shards; do sleep 5; done
fill "$DIR/kubernetes-merge.yaml" | kubectl apply -f -
until finished openpace-merge; do sleep 2; done
kubectl logs job/openpace-merge > "merged-$RUN_ID.json"
echo "merged report: merged-$RUN_ID.json (openpace report merged-$RUN_ID.json)"
