#!/usr/bin/env bash
# Install the system packages k2bench needs outside Python; idempotent, safe to re-run (CI calls it).
#
# Why: suites/grading/sandbox/ runs untrusted model-written programs in fresh namespaces as an unprivileged
# uid inside a per-run cgroup (see shared/reference/sandbox.md, part 4), built by its warm zygote (seccomp
# through libseccomp2) or by bubblewrap (the cold path and the fallback). The sandboxed
# interpreter is Debian's /usr/bin/python3 (the venv/pyenv interpreter lives under /root, which the
# sandbox uid cannot read), so python3 must come from apt as well; SciCode's programs need numpy, scipy and
# sympy inside the sandbox (sandbox.run_tests(..., site_packages=True) puts Debian's dist-packages on sys.path).
#
# Usage: scripts/install_system_deps.sh        (as root, or with sudo available)
set -euo pipefail

PACKAGES=(bubblewrap libseccomp2 python3 python3-numpy python3-scipy python3-sympy)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_system_deps.sh: need root (or sudo) to apt-get install ${PACKAGES[*]}" >&2
        exit 1
    fi
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    # dpkg-query is cheap and offline; only touch apt when something is actually missing.
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install_system_deps.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "install_system_deps.sh: ${PACKAGES[*]} already installed"
fi

# Smoke check: bwrap must be able to create its namespaces here (unprivileged user namespaces allowed).
if ! bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib \
        --symlink usr/lib64 /lib64 --symlink usr/bin /bin /usr/bin/true; then
    echo "install_system_deps.sh: WARNING: bwrap is installed but cannot create a sandbox here" \
         "(user namespaces disabled?); suites/grading/sandbox/ will refuse to run untrusted code." >&2
    exit 2
fi
echo "install_system_deps.sh: bwrap $(bwrap --version | awk '{print $2}') works"
