# Shared helpers for the scripts in this folder; sourced, not run.
# Finds the repository, the tools the scripts need, and installs what apt can install.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

rid() {
    case "$(uname -s)-$(uname -m)" in
        Linux-x86_64) echo linux-x64 ;;
        Linux-aarch64) echo linux-arm64 ;;
        Darwin-x86_64) echo osx-x64 ;;
        Darwin-arm64) echo osx-arm64 ;;
        *) echo "unsupported platform $(uname -s)-$(uname -m)" >&2; return 1 ;;
    esac
}

# Installs the Debian packages named, when they are missing and we may (root or sudo).
apt_ensure() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then sudo="sudo"; else
            echo "error: missing packages: ${missing[*]}; install them with: apt-get install -y ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "==> installing ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
}

# Dovecot (the throwaway test and demo server), openssl (its test CA).
ensure_dovecot() {
    apt_ensure dovecot-imapd openssl
    if [ ! -x /usr/sbin/dovecot ]; then
        echo "error: /usr/sbin/dovecot not found; install it with: apt-get install -y dovecot-imapd" >&2
        return 1
    fi
}

# PowerShell 7.4+: the packaged one, else a copy beside the repository (../shared/tools/bin).
ensure_pwsh() {
    if ! command -v pwsh >/dev/null 2>&1; then
        for d in "$ROOT/../shared/tools/bin" /opt/microsoft/powershell/7; do
            if [ -x "$d/pwsh" ]; then export PATH="$d:$PATH"; break; fi
        done
    fi
    if ! command -v pwsh >/dev/null 2>&1; then
        echo "error: PowerShell 7.4+ (pwsh) not found. Install it as described at" >&2
        echo "  https://learn.microsoft.com/powershell/scripting/install/install-debian" >&2
        echo "  (Debian 12: apt-get install -y powershell, after adding Microsoft's package repository)" >&2
        return 1
    fi
    if ! pwsh -NoProfile -NonInteractive -c 'if ($PSVersionTable.PSVersion -lt [version]"7.4") { exit 3 }'; then
        echo "error: PowerShell 7.4 or later is needed; $(pwsh -NoProfile -c '$PSVersionTable.PSVersion.ToString()') found" >&2
        return 1
    fi
}

# Pester 5.5+ for the test suites.
ensure_pester() {
    if ! pwsh -NoProfile -NonInteractive -c 'if (-not (Get-Module -ListAvailable Pester | Where-Object Version -ge ([version]"5.5"))) { exit 3 }'; then
        echo "error: Pester 5.5+ not found; install it with:" >&2
        echo "  pwsh -c 'Install-Module Pester -MinimumVersion 5.5 -Scope CurrentUser -Force'" >&2
        return 1
    fi
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: Rust not found; install it with: curl https://sh.rustup.rs -sSf | sh" >&2
        return 1
    fi
}

# Builds the workspace in the given profile (dev|release) and stages the library and the worker
# where the module loads them: module/runtimes/<rid>/native/.
build_and_stage() {
    local profile="${1:-release}" dir
    ensure_rust
    if [ "$profile" = release ]; then
        cargo build --release --locked -p imapmigration -p imapmigration-testkit
        dir="$ROOT/target/release"
    else
        cargo build --locked -p imapmigration -p imapmigration-testkit
        dir="$ROOT/target/debug"
    fi
    local dest="$ROOT/module/runtimes/$(rid)/native"
    mkdir -p "$dest"
    cp -f "$dir/libimapmigration.so" "$dest/libimapmigration.so.tmp" && mv -f "$dest/libimapmigration.so.tmp" "$dest/libimapmigration.so"
    cp -f "$dir/imapmigration" "$dest/imapmigration.tmp" && mv -f "$dest/imapmigration.tmp" "$dest/imapmigration"
    export IMAPMIGRATION_NATIVE_DIR="$dest"
    export IMAPMIGRATION_TESTKIT="$dir/imapmig-testkit"
    echo "==> staged $profile build in $dest" >&2
}

# Named stages with their elapsed time: `stage NAME` ends the running stage (printing
# "==> NAME (N s)") and starts the next; `stages_summary` ends the last one and prints every
# stage's time. scripts/test calls the summary from an EXIT trap, so a failing stage still shows.
_stage_name=""
_stage_start=0
_stage_lines=()
_stage_total_start=$SECONDS

stage() {
    stage_end
    _stage_name="$1"
    _stage_start=$SECONDS
    echo "==> $1"
}

stage_end() {
    [ -n "$_stage_name" ] || return 0
    local secs=$((SECONDS - _stage_start))
    echo "==> $_stage_name ($secs s)"
    _stage_lines+=("$(printf '%6d s  %s' "$secs" "$_stage_name")")
    _stage_name=""
}

stages_summary() {
    stage_end
    [ ${#_stage_lines[@]} -gt 0 ] || return 0
    echo "==> stage times"
    printf '%s\n' "${_stage_lines[@]}"
    printf '%6d s  total\n' $((SECONDS - _stage_total_start))
}
