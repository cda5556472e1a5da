#!/bin/sh
# npm postinstall: apply the project's fuse-native patch, then build it and layerfs's own addon
# from source against the system's libfuse-dev and Node's headers (no download).
set -e
nodedir=${npm_config_nodedir:-$(node -p 'require("path").dirname(require("path").dirname(process.execPath))')}
arg=
[ -f "$nodedir/include/node/node_api.h" ] && arg="--nodedir=$nodedir"
patch-package
node-gyp rebuild --directory node_modules/fuse-native $arg
node-gyp rebuild --directory native $arg
