# Shared by the suites that run through the real library, the real worker and a throwaway
# Dovecot started by the testkit binary (tests/Rendering.Tests.ps1, tests/AdminScripts.Tests.ps1):
# one server, one state directory and so one worker per file. Dot-source it in BeforeDiscovery
# (for the skip reason) and in BeforeAll. Needs IMAPMIGRATION_NATIVE_DIR and IMAPMIGRATION_TESTKIT,
# as tests/Integration.Tests.ps1 does; scripts/test sets both.

function Get-MigTestStackSkipReason {
    # $null when the stack can run, else why not.
    $libName = if ($IsWindows) { 'imapmigration.dll' } elseif ($IsMacOS) { 'libimapmigration.dylib' } else { 'libimapmigration.so' }
    if (-not $env:IMAPMIGRATION_NATIVE_DIR) {
        return 'IMAPMIGRATION_NATIVE_DIR is not set (run scripts/test, which builds and stages the native library)'
    }
    if (-not (Test-Path (Join-Path $env:IMAPMIGRATION_NATIVE_DIR $libName))) {
        return "the native library $libName is missing in IMAPMIGRATION_NATIVE_DIR ($env:IMAPMIGRATION_NATIVE_DIR)"
    }
    if (-not $env:IMAPMIGRATION_TESTKIT -or -not (Test-Path $env:IMAPMIGRATION_TESTKIT)) {
        return 'IMAPMIGRATION_TESTKIT does not name the imapmig-testkit binary'
    }
    $null
}

function Start-MigTestStack {
    <#
    Starts Dovecot with the given users (name -> password), seeds each with the testkit's 'small'
    profile, points IMAPMIGRATION_HOME at a fresh state directory and imports the module.
    #>
    param([Parameter(Mandatory)][System.Collections.IDictionary]$Users, [string]$Name = 'stack')
    $repoRoot = Split-Path $PSScriptRoot -Parent
    $work = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-$Name-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $null = New-Item -ItemType Directory -Path $work
    # Dovecot drops privileges; its directory must be reachable.
    if (-not $IsWindows) { chmod 755 $work }
    $stack = [pscustomobject]@{
        RepoRoot     = $repoRoot
        Manifest     = Join-Path $repoRoot 'ImapMigration.psd1'
        Testkit      = $env:IMAPMIGRATION_TESTKIT
        Work         = $work
        DovecotDir   = Join-Path $work 'dovecot'
        Home         = Join-Path $work 'state'
        PreviousHome = $env:IMAPMIGRATION_HOME
        Users        = $Users
        Server       = $null
    }
    $env:IMAPMIGRATION_HOME = $stack.Home
    $spec = ($Users.Keys | ForEach-Object { "$($_):$($Users[$_])" }) -join ','
    $stack.Server = & $stack.Testkit start --dir $stack.DovecotDir --users $spec --json | Out-String | ConvertFrom-Json
    if ($LASTEXITCODE -ne 0 -or -not $stack.Server.imapsPort) { throw "imapmig-testkit start failed (exit $LASTEXITCODE)" }
    foreach ($u in $Users.Keys) {
        $null = & $stack.Testkit seed --dir $stack.DovecotDir --user $u --profile small
        if ($LASTEXITCODE -ne 0) { throw "imapmig-testkit seed failed for $u" }
    }
    Get-Module ImapMigration, ImapMigration.ExchangeShim, ExchangeOnlineManagement | Remove-Module -Force
    Import-Module $stack.Manifest -Force -Global
    $stack
}

function Stop-MigTestStack {
    param($Stack)
    if (-not $Stack) { return }
    Get-MigrationBatch -ErrorAction SilentlyContinue | Remove-MigrationBatch -Confirm:$false -ErrorAction SilentlyContinue
    # The worker outlives sessions by design; end the one this file started.
    # (.NET cannot read worker.lock while the worker holds its flock: ask the library.)
    $status = & (Get-Module ImapMigration) { Invoke-MigNative -Operation 'worker.status' }
    if ($status.Running -and $status.Pid) { Stop-Process -Id $status.Pid -ErrorAction SilentlyContinue }
    $null = & $Stack.Testkit stop --dir $Stack.DovecotDir 2>&1
    $env:IMAPMIGRATION_HOME = $Stack.PreviousHome
    if (Test-Path $Stack.Work) { Remove-Item -Recurse -Force $Stack.Work -ErrorAction SilentlyContinue }
}

function New-MigTestCsv {
    # CSV bytes as admins build them: header and rows joined with CRLF, UTF-8 without BOM.
    param([Parameter(Mandatory)][System.Collections.IDictionary]$Rows)
    $lines = @('EmailAddress,UserName,Password') + @($Rows.Keys | ForEach-Object { "$_@contoso.test,$_,$($Rows[$_])" })
    [System.Text.Encoding]::UTF8.GetBytes(($lines -join "`r`n") + "`r`n")
}

function Wait-MigBatch {
    # Polls as admins do until the batch reaches one of the statuses; returns the last batch seen.
    param([Parameter(Mandatory)][string]$Identity, [string[]]$Until = @('Synced', 'SyncedWithErrors', 'Failed', 'Stopped'), [int]$TimeoutSeconds = 120)
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    do {
        Start-Sleep -Milliseconds 500
        $b = Get-MigrationBatch -Identity $Identity
    } until ($b.Status -in $Until -or (Get-Date) -gt $deadline)
    $b
}

function Add-MigSourceMessage {
    <#
    Delivers one message straight into a user's source Maildir (Dovecot picks it up at the next
    listing), with a body of about -Size bytes.
    #>
    param([Parameter(Mandatory)]$Stack, [Parameter(Mandatory)][string]$User, [Parameter(Mandatory)][string]$Subject,
        [string]$From = 'reports@fabrikam.test', [int]$Size = 1024)
    $dir = Join-Path $Stack.DovecotDir "mail/$User/Maildir/new"
    $null = New-Item -ItemType Directory -Path $dir -Force
    $body = ('x' * 76 + "`r`n") * [math]::Max(1, [math]::Ceiling($Size / 78))
    $text = "From: $From`r`nTo: $User@contoso.test`r`nSubject: $Subject`r`nDate: Mon, 02 Feb 2026 09:30:00 +0000`r`nMessage-ID: <$([guid]::NewGuid())@fabrikam.test>`r`n`r`n$body"
    $file = Join-Path $dir ("{0}.M{1}P{2}.pester" -f [DateTimeOffset]::UtcNow.ToUnixTimeSeconds(), (Get-Random), $PID)
    [System.IO.File]::WriteAllText($file, $text)
    if (-not $IsWindows) { chmod 666 $file; chmod 777 $dir }
}

