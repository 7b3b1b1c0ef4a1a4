#!/usr/bin/env bash
# Greets a name and lists the files of the repository the job runs in.
# Input: optional JSON on stdin, {"name": "Ada"}.
set -euo pipefail

input=$(cat)
trimmed=$(printf '%s' "$input" | tr -d '[:space:]')
if [[ -n $trimmed && ! ( $trimmed == \{* && $trimmed == *\} ) ]]; then
  echo 'invalid input: expected a JSON object like {"name": "Ada"}' >&2
  exit 2
fi

name=world
# Plain bash has no JSON parser: this pattern reads a "name" string without escaped quotes.
pattern='"name"[[:space:]]*:[[:space:]]*"([^"\\]*)"'
if [[ $input =~ $pattern ]]; then
  name=${BASH_REMATCH[1]}
fi

mapfile -t files < <(find . -type f -not -path './.git/*' | sort)
echo "Hello, ${name}!"
echo "This job runs in $(pwd), which contains ${#files[@]} files. The first ones:"
printf '  %s\n' "${files[@]:0:10}"

echo "main.sh greeted ${name}" >&2
