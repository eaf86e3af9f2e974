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
# Leading options (e.g. --no-install-recommends) go to apt-get install.
apt_ensure() {
    local opts=()
    while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do opts+=("$1"); shift; done
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
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${opts[@]}" "${missing[@]}" >&2
}

# Dovecot (the throwaway test and demo server), openssl (its test CA).
ensure_dovecot() {
    apt_ensure dovecot-imapd openssl
    if [ ! -x /usr/sbin/dovecot ]; then
        echo "error: /usr/sbin/dovecot not found; install it with: apt-get install -y dovecot-imapd" >&2
        return 1
    fi
}

# Headless Chromium and its WebDriver for the console's browser test (native/core/tests/console_flow.rs).
ensure_chromium() {
    apt_ensure chromium chromium-driver
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        echo "error: chromium or chromedriver not found; install them with: apt-get install -y chromium chromium-driver" >&2
        return 1
    fi
}

# Cyrus IMAP 3.6 for the server matrix (native/testkit/src/cyrus.rs), beside Dovecot: the
# cyrus-imapd package conflicts with dovecot-imapd, so only cyrus-common (master, ctl_cyrusdb)
# and sasl2-bin (saslpasswd2) are installed, without their recommends (which name cyrus-imapd
# and would remove dovecot-imapd), and imapd is unpacked from the cyrus-imapd package into
# /opt/imapmigration-cyrus. Sets IMAPMIGRATION_REQUIRE_CYRUS=1: the Cyrus tests then fail,
# rather than skip, when Cyrus cannot be started.
CYRUS_UNPACKED=/opt/imapmigration-cyrus
ensure_cyrus() {
    apt_ensure --no-install-recommends cyrus-common sasl2-bin
    if [ ! -x /usr/lib/cyrus/bin/imapd ] && [ ! -x "$CYRUS_UNPACKED/usr/lib/cyrus/bin/imapd" ]; then
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        local tmp
        tmp="$(mktemp -d)"
        chmod 755 "$tmp" # apt-get download writes as _apt where it can
        echo "==> unpacking cyrus-imapd into $CYRUS_UNPACKED" >&2
        if ! (cd "$tmp" && apt-get download -qq cyrus-imapd >&2 && $sudo dpkg-deb -x cyrus-imapd_*.deb "$CYRUS_UNPACKED"); then
            rm -rf "$tmp"
            echo "error: cannot unpack cyrus-imapd; run: apt-get download cyrus-imapd && dpkg-deb -x cyrus-imapd_*.deb $CYRUS_UNPACKED" >&2
            return 1
        fi
        rm -rf "$tmp"
    fi
    if [ ! -x /usr/lib/cyrus/bin/master ] || [ ! -x /usr/sbin/saslpasswd2 ]; then
        echo "error: Cyrus master or saslpasswd2 missing; install them with: apt-get install -y --no-install-recommends cyrus-common sasl2-bin" >&2
        return 1
    fi
    export IMAPMIGRATION_REQUIRE_CYRUS=1
}

# PostgreSQL 15 for the store's second backend (native/testkit/src/postgres.rs starts a private
# cluster per test as the `postgres` user: initdb and pg_ctl refuse to run as root). Sets
# IMAPMIGRATION_REQUIRE_POSTGRES=1: the PostgreSQL tests then fail, rather than skip, when no
# cluster can be started.
POSTGRES_BIN=/usr/lib/postgresql/15/bin
ensure_postgresql() {
    apt_ensure --no-install-recommends postgresql
    if [ ! -x "$POSTGRES_BIN/initdb" ] || [ ! -x "$POSTGRES_BIN/pg_ctl" ]; then
        echo "error: $POSTGRES_BIN/initdb or pg_ctl not found; install them with: apt-get install -y postgresql" >&2
        return 1
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        echo "error: the postgres user is missing (created by the postgresql package); reinstall it: apt-get install --reinstall -y postgresql-common" >&2
        return 1
    fi
    export IMAPMIGRATION_REQUIRE_POSTGRES=1
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
    prefill_module_types "$ROOT/ImapMigration.psd1"
}

# Compiles the module's .NET types (module/Private/Types.cs) into <module>/module/bin for the
# pwsh at hand, so that Import-Module loads them instead of compiling them (seconds) at every
# import; copies compiled for other pwsh versions stay, older ones for this version go. Without
# pwsh this is skipped: the module then compiles them at its first import.
prefill_module_types() {
    local manifest="$1"
    if ! ensure_pwsh >/dev/null 2>&1; then
        echo "==> note: no pwsh 7.4+; the module compiles its .NET types at its first import" >&2
        return 0
    fi
    IMAPMIG_MANIFEST="$manifest" pwsh -NoProfile -NonInteractive -c '
        $ErrorActionPreference = "Stop"
        Import-Module $env:IMAPMIG_MANIFEST
        $loaded = [ImapMigration.Native].Assembly.Location
        $bin = Join-Path (Split-Path $env:IMAPMIG_MANIFEST -Parent) "module/bin"
        if (-not $loaded -or (Split-Path $loaded -Parent) -ne $bin) { throw "the module types were not cached in $bin (loaded: ''$loaded'')" }
        $tag = ([System.IO.Path]::GetFileName($loaded) -split "\.", 4)[3]
        Get-ChildItem $bin -Filter "ImapMigration.Types.*.$tag" -File | Where-Object FullName -ne $loaded | Remove-Item -Force
        Write-Host "==> module types: $loaded"' >&2
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
