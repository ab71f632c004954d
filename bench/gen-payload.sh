#!/usr/bin/env bash
# Writes a JSON webhook body of exactly SIZE bytes to stdout (scenario 6).
#
# Why synthetic: GitHub's real push payload is ~7 KiB; for 1 KiB, 64 KiB and
# 1 MiB we need the same shape at other sizes. The document keeps the fields
# the benchmark routes test (`ref`, `repository.full_name`), so every size
# takes the same matching path, and pads with a `commits` array of
# commit-like objects plus one filler string to hit the size exactly.
#
#   gen-payload.sh SIZE          e.g. 1024, 65536, 1048576
set -euo pipefail

size=${1:?usage: gen-payload.sh SIZE}

awk -v size="$size" '
BEGIN {
  head = "{\"ref\":\"refs/heads/master\",\"repository\":{\"id\":186853002,\"full_name\":\"Codertocat/Hello-World\",\"private\":false},\"commits\":["
  tail = "],\"pad\":\"\"}"
  commit = "{\"id\":\"6113728f27ae82c7b1a177c8d03f9e96e0adf246\",\"message\":\"Update README.md\",\"author\":{\"name\":\"Codertocat\",\"email\":\"21031067+Codertocat@users.noreply.github.com\"},\"added\":[],\"removed\":[],\"modified\":[\"README.md\"]}"
  body = head
  used = length(head) + length(tail)
  first = 1
  while (used + length(commit) + 1 < size) {
    body = body (first ? "" : ",") commit
    used += length(commit) + (first ? 0 : 1)
    first = 0
  }
  pad = size - used
  if (pad < 0) { print "gen-payload.sh: size too small" > "/dev/stderr"; exit 2 }
  filler = sprintf("%" pad "s", "")
  gsub(/ /, "x", filler)
  printf "%s],\"pad\":\"%s\"}", body, filler
}'
