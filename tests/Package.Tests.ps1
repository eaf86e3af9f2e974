#Requires -Version 7.4
# The package as admins get it: target/package/ImapMigration.<version>.nupkg (scripts/package;
# scripts/test makes it from the build it staged) is published into a file repository, installed
# with Install-PSResource into a clean home, and the README's flow (New-MigrationEndpoint,
# New-MigrationBatch -AutoStart, Get-MigrationBatch until Synced) runs from the installed copy
# in a pwsh of its own against a throwaway Dovecot. Nothing of the source tree may be used: the
# child's environment names none of it, and every module, assembly, native library and worker
# process it used is checked to come from the install folder.

BeforeDiscovery {
    $script:RepoRoot = Split-Path $PSScriptRoot -Parent
    $version = (Import-PowerShellDataFile (Join-Path $RepoRoot 'ImapMigration.psd1')).ModuleVersion
    $script:Package = Join-Path $RepoRoot "target/package/ImapMigration.$version.nupkg"
    $script:SkipReason = $null
    if (-not (Test-Path $Package)) {
        $SkipReason = "no package at $Package (run scripts/package, or scripts/test which makes it)"
    }
    elseif (-not $env:IMAPMIGRATION_TESTKIT -or -not (Test-Path $env:IMAPMIGRATION_TESTKIT)) {
        $SkipReason = 'IMAPMIGRATION_TESTKIT does not name the imapmig-testkit binary'
    }
    elseif (-not $IsLinux) {
        $SkipReason = 'the package carries a linux-x64 build only'
    }
    $script:Skip = [bool]$SkipReason
}

Describe 'Package prerequisites' {
    It 'has the package and the testkit' {
        # scripts/test requires this suite, as it requires the integration suite.
        if ($SkipReason -and $env:IMAPMIGRATION_REQUIRE_INTEGRATION -eq '1') { throw "package prerequisites missing: $SkipReason" }
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason }
    } -TestCases @{ SkipReason = $SkipReason }
}

Describe 'Installing the package from a repository' -Skip:$Skip {
    BeforeAll {
        $script:RepoRoot = Split-Path $PSScriptRoot -Parent
        $script:Manifest = Import-PowerShellDataFile (Join-Path $RepoRoot 'ImapMigration.psd1')
        $script:Testkit = $env:IMAPMIGRATION_TESTKIT
        $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-package-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $null = New-Item -ItemType Directory -Path $Work
        # Dovecot drops privileges; its directory must be reachable.
        chmod 755 $Work
        $script:Repo = Join-Path $Work 'repo'
        $script:CleanHome = Join-Path $Work 'home'
        $script:StateHome = Join-Path $Work 'state'
        $null = New-Item -ItemType Directory -Path $Repo, $CleanHome
        Copy-Item $Package $Repo
        $script:InstallRoot = Join-Path $CleanHome ".local/share/powershell/Modules/ImapMigration/$($Manifest.ModuleVersion)"

        $script:Users = [ordered]@{ alice = 'alice-package-pw'; bob = 'bob-package-pw' }
        $spec = ($Users.Keys | ForEach-Object { "$($_):$($Users[$_])" }) -join ','
        $script:DovecotDir = Join-Path $Work 'dovecot'
        $script:Server = & $Testkit start --dir $DovecotDir --users $spec --json | Out-String | ConvertFrom-Json
        if ($LASTEXITCODE -ne 0 -or -not $Server.imapsPort) { throw "imapmig-testkit start failed (exit $LASTEXITCODE)" }
        foreach ($u in $Users.Keys) {
            $null = & $Testkit seed --dir $DovecotDir --user $u --profile small
            if ($LASTEXITCODE -ne 0) { throw "imapmig-testkit seed failed for $u" }
        }
        $csv = Join-Path $Work 'mailboxes.csv'
        $rows = foreach ($u in $Users.Keys) { "$u@contoso.test,$u,$($Users[$u])" }
        Set-Content -Path $csv -Value (@('EmailAddress,UserName,Password') + $rows) -Encoding utf8NoBOM

        # What the admin runs after installing, in a pwsh of its own. It prints one result line.
        $flow = Join-Path $Work 'flow.ps1'
        Set-Content -Path $flow -Encoding utf8NoBOM -Value @'
param($Repo, $Csv, $ServerHost, $Port, $CaFile)
$ErrorActionPreference = 'Stop'
$facts = [ordered]@{}
Register-PSResourceRepository -Name Ours -Uri $Repo -Trusted
$found = Find-PSResource -Name ImapMigration -Repository Ours
$facts.Found = [ordered]@{
    Version = "$($found.Version)"; Tags = @($found.Tags); ProjectUri = "$($found.ProjectUri)"
    LicenseUri = "$($found.LicenseUri)"; ReleaseNotes = "$($found.ReleaseNotes)"
}
Install-PSResource -Name ImapMigration -Repository Ours -TrustRepository -Scope CurrentUser -Quiet
$facts.InstalledBase = (Get-InstalledPSResource -Name ImapMigration).InstalledLocation

Import-Module ImapMigration
$module = Get-Module ImapMigration
$facts.ModuleBase = $module.ModuleBase
New-MigrationEndpoint -IMAP -Name IMAPonpremises -RemoteServer $ServerHost -Port $Port -Security Ssl -CertificateAuthorityFile $CaFile | Out-Null
New-MigrationBatch -Name IMAPImport -SourceEndpoint IMAPonpremises -CSVData ([System.IO.File]::ReadAllBytes($Csv)) -AutoStart | Out-Null
$deadline = (Get-Date).AddMinutes(5)
do {
    Start-Sleep -Seconds 1
    $b = Get-MigrationBatch -Identity IMAPImport
} until ($b.Status -in 'Synced', 'SyncedWithErrors', 'Failed', 'Stopped' -or (Get-Date) -gt $deadline)
$facts.Status = "$($b.Status)"
$facts.Message = "$($b.Message)"
$facts.SyncedCount = $b.SyncedCount
$facts.Users = @(Get-MigrationUser -BatchId IMAPImport | Get-MigrationUserStatistics | ForEach-Object {
    [ordered]@{ Identity = "$($_.Identity)"; Status = "$($_.Status)"; SyncedItemCount = [long]$_.SyncedItemCount }
})

# The opt-in Exchange shim, from the installed copy.
Import-Module (Join-Path $module.ModuleBase 'module/ImapMigration.ExchangeShim')
$facts.ShimModule = (Get-Command Connect-ExchangeOnline).Module.Path

# Everything this process and the worker ran.
$facts.Modules = @(Get-Module | ForEach-Object Path)
$facts.TypesAssembly = [ImapMigration.Native].Assembly.Location
$facts.Assemblies = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { -not $_.IsDynamic -and $_.Location } | ForEach-Object Location)
$facts.LibraryPath = [ImapMigration.Native]::LibraryPath
$facts.MappedNative = @(Get-Content /proc/self/maps | Where-Object { $_ -match 'imapmigration' } | ForEach-Object { ($_ -split '\s+', 6)[5] } | Sort-Object -Unique)
$worker = & $module { Invoke-MigNative -Operation 'worker.status' }
$facts.WorkerPid = $worker.Pid
$facts.WorkerExe = if ($worker.Pid) { [System.IO.File]::ResolveLinkTarget("/proc/$($worker.Pid)/exe", $false).FullName }
'##RESULT## ' + (ConvertTo-Json -InputObject $facts -Depth 6 -Compress)
'@

        # A clean environment: a home of its own (the user module path and PSResourceGet's
        # repository list live there), no PSModulePath, no IMAPMIGRATION_NATIVE_DIR. The pwsh
        # wrapper of this repository's tools unpacks itself under XDG_CACHE_HOME: keep ours.
        $pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
        $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh)
        foreach ($a in '-NoProfile', '-NonInteractive', '-File', $flow, '-Repo', $Repo, '-Csv', $csv,
            '-ServerHost', $Server.host, '-Port', $Server.imapsPort, '-CaFile', $Server.caFile) { $psi.ArgumentList.Add([string]$a) }
        $psi.WorkingDirectory = $Work
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $cache = if ($env:XDG_CACHE_HOME) { $env:XDG_CACHE_HOME } else { Join-Path $HOME '.cache' }
        foreach ($name in 'PSModulePath', 'IMAPMIGRATION_NATIVE_DIR', 'IMAPMIGRATION_TESTKIT', 'IMAPMIGRATION_WORKER', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME') {
            $null = $psi.Environment.Remove($name)
        }
        $psi.Environment['HOME'] = $CleanHome
        $psi.Environment['XDG_CACHE_HOME'] = $cache
        $psi.Environment['IMAPMIGRATION_HOME'] = $StateHome
        $child = [System.Diagnostics.Process]::Start($psi)
        $stderrTask = $child.StandardError.ReadToEndAsync()
        $script:ChildOut = $child.StandardOutput.ReadToEnd()
        # A guard against a hung child, not a timing assertion.
        if (-not $child.WaitForExit(600000)) { $child.Kill($true); throw 'the installed-copy flow did not finish in 10 minutes' }
        $script:ChildErr = $stderrTask.Result
        $script:ChildExit = $child.ExitCode
        $line = ($ChildOut -split "`n" | Where-Object { $_.StartsWith('##RESULT## ') } | Select-Object -Last 1)
        $script:Facts = if ($line) { $line.Substring(11) | ConvertFrom-Json } else { $null }
    }

    AfterAll {
        if ($Facts -and $Facts.WorkerPid) { Stop-Process -Id $Facts.WorkerPid -ErrorAction SilentlyContinue }
        if ($Testkit -and $DovecotDir) { $null = & $Testkit stop --dir $DovecotDir 2>&1 }
        if ($Work -and (Test-Path $Work)) { Remove-Item -Recurse -Force $Work -ErrorAction SilentlyContinue }
    }

    It 'carries the module, its format and types files, the native build, the worker and the Exchange shim folders' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [System.IO.Compression.ZipFile]::OpenRead($Package)
        try { $entries = @($zip.Entries | ForEach-Object FullName) } finally { $zip.Dispose() }
        foreach ($path in 'ImapMigration.psd1', 'module/ImapMigration.psm1', 'module/ImapMigration.Format.ps1xml',
            'module/ImapMigration.Types.ps1xml', 'module/Private/Types.cs',
            'module/runtimes/linux-x64/native/libimapmigration.so', 'module/runtimes/linux-x64/native/imapmigration',
            'module/ImapMigration.ExchangeShim/ImapMigration.ExchangeShim.psd1',
            'module/compat/ExchangeOnlineManagement/ExchangeOnlineManagement.psd1') {
            $entries | Should -Contain $path
        }
        foreach ($name in $Manifest.FunctionsToExport) { $entries | Should -Contain "module/Public/$name.ps1" }
        @($entries | Where-Object { $_ -like 'module/bin/ImapMigration.Types.*.dll' }).Count | Should -Be 1 -Because 'the package carries the .NET types compiled for the pwsh that built it'
    }

    It 'runs the flow in a clean pwsh' {
        $ChildExit | Should -Be 0 -Because "the child said:`n$ChildOut`n$ChildErr"
        $Facts | Should -Not -BeNullOrEmpty -Because "the child said:`n$ChildOut`n$ChildErr"
    }

    It 'is found in the repository with the manifest''s PSData' {
        $Facts.Found.Version | Should -Be $Manifest.ModuleVersion
        $psData = $Manifest.PrivateData.PSData
        foreach ($tag in $psData.Tags) { $Facts.Found.Tags | Should -Contain $tag }
        $Facts.Found.ProjectUri | Should -Be $psData.ProjectUri
        $Facts.Found.LicenseUri | Should -Be $psData.LicenseUri
        $Facts.Found.ReleaseNotes.Trim() | Should -Be ($psData.ReleaseNotes -replace "`r`n", "`n").Trim()
    }

    It 'is installed into the user module path of the clean home and imported from there' {
        $Facts.InstalledBase | Should -Be (Split-Path (Split-Path $InstallRoot -Parent) -Parent)
        $Facts.ModuleBase | Should -Be $InstallRoot
    }

    It 'uses nothing of the source tree: modules, .NET types, native library and worker come from the install folder' {
        $used = @($Facts.Modules) + @($Facts.Assemblies) + @($Facts.LibraryPath) + @($Facts.MappedNative) + @($Facts.WorkerExe)
        # The types compiled for this pwsh came with the package: nothing was compiled at import.
        $Facts.TypesAssembly | Should -BeLike (Join-Path $InstallRoot 'module/bin/ImapMigration.Types.*.dll')
        @(Get-ChildItem (Join-Path $InstallRoot 'module/bin') -File).Count | Should -Be 1
        @($Facts.Assemblies | Where-Object { $_ -like "$InstallRoot/*" }) | Should -Be @($Facts.TypesAssembly)
        $Facts.LibraryPath | Should -Be (Join-Path $InstallRoot 'module/runtimes/linux-x64/native/libimapmigration.so')
        @($Facts.MappedNative) | Should -Contain $Facts.LibraryPath
        $Facts.WorkerExe | Should -Be (Join-Path $InstallRoot 'module/runtimes/linux-x64/native/imapmigration')
        $Facts.ShimModule | Should -BeLike (Join-Path $InstallRoot 'module/ImapMigration.ExchangeShim/*')
        foreach ($path in @($Facts.Modules | Where-Object { $_ -like '*ImapMigration*' -or $_ -like '*ExchangeShim*' })) {
            $path | Should -BeLike "$InstallRoot/*"
        }
        foreach ($path in $used) {
            $path | Should -Not -BeLike "$RepoRoot/*" -Because "$path is in the source tree"
        }
    }

    It 'reaches Synced with every seeded message copied byte for byte, flags and dates kept' {
        $Facts.Status | Should -Be 'Synced' -Because "the batch said: $($Facts.Message)"
        $Facts.SyncedCount | Should -Be $Users.Count
        @($Facts.Users).Count | Should -Be $Users.Count
        $render = {
            param($snap)
            @($snap.GetEnumerator() | Where-Object { @($_.Value).Count -gt 0 } | Sort-Object Key | ForEach-Object {
                $folder = $_.Key
                @($_.Value) | ForEach-Object { '{0}|{1}|{2}|{3}' -f $folder, $_.sha256, (@($_.flags) -join ' '), $_.internalDate }
            })
        }
        foreach ($u in $Facts.Users) {
            $user = $u.Identity.Split('@')[0]
            $source = & $Testkit snapshot --dir $DovecotDir --user $user | Out-String | ConvertFrom-Json -AsHashtable
            $target = & $Testkit snapshot --maildir (Join-Path $StateHome "maildir/$($u.Identity)") | Out-String | ConvertFrom-Json -AsHashtable
            $expected = & $render $source
            $expected.Count | Should -BeGreaterThan 0
            $u.Status | Should -Be 'Synced'
            $u.SyncedItemCount | Should -Be $expected.Count
            ((& $render $target) -join "`n") | Should -Be ($expected -join "`n")
        }
    }
}

# PowerShellGet v2 (Install-Module, still the habit of many admins and of Windows PowerShell's
# scripts) installs the same .nupkg from a file repository offline: its NuGet provider ships with
# PackageManagement and reads the folder; only Publish-Module needs a dotnet CLI or nuget.exe, so
# scripts/package publishes with PSResourceGet. v2 reads its messages with Import-LocalizedData,
# which fails in .NET's culture-invariant mode: it needs ICU (libicu, a dependency of Debian's
# powershell package), as the admin's pwsh has it.
Describe 'Installing the package with PowerShellGet v2' -Skip:$Skip {
    BeforeAll {
        $script:RepoRoot = Split-Path $PSScriptRoot -Parent
        $script:Manifest = Import-PowerShellDataFile (Join-Path $RepoRoot 'ImapMigration.psd1')
        $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-psget2-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $script:Repo = Join-Path $Work 'repo'
        $script:CleanHome = Join-Path $Work 'home'
        $null = New-Item -ItemType Directory -Path $Repo, $CleanHome
        Copy-Item $Package $Repo
        $script:InstallRoot = Join-Path $CleanHome ".local/share/powershell/Modules/ImapMigration/$($Manifest.ModuleVersion)"
        $script:NoV2 = if (-not (Get-Module -ListAvailable PowerShellGet | Where-Object { $_.Version.Major -eq 2 })) { 'PowerShellGet 2 is not installed with this pwsh' }
                       elseif (-not (Get-ChildItem /usr/lib/*/libicuuc.so.*, /usr/lib/libicuuc.so.* -ErrorAction Ignore)) { 'no ICU (libicu): PowerShellGet 2 does not run culture-invariant' }
        if ($NoV2) { return }

        $flow = Join-Path $Work 'flow.ps1'
        Set-Content -Path $flow -Encoding utf8NoBOM -Value @'
param($Repo)
$ErrorActionPreference = 'Stop'
Import-Module PowerShellGet -MaximumVersion 2.99
$facts = [ordered]@{}
# v2 keeps its repositories in $XDG_CACHE_HOME/powershell/PowerShellGet, the cache this child
# shares with the caller (for the compiled types): a name of this run's own, removed at the end.
$name = 'ImapMigrationTest' + [guid]::NewGuid().ToString('N').Substring(0, 8)
Register-PSRepository -Name $name -SourceLocation $Repo -InstallationPolicy Trusted
try {
    $facts.Found = "$((Find-Module -Name ImapMigration -Repository $name).Version)"
    Install-Module -Name ImapMigration -Repository $name -Scope CurrentUser
} finally {
    Unregister-PSRepository -Name $name
}
$facts.Installed = (Get-InstalledModule -Name ImapMigration).InstalledLocation
Import-Module ImapMigration
$facts.ModuleBase = (Get-Module ImapMigration).ModuleBase
$facts.Config = [bool](Get-MigrationConfig)
$facts.LibraryPath = [ImapMigration.Native]::LibraryPath
$facts.TypesAssembly = [ImapMigration.Native].Assembly.Location
$worker = Join-Path $facts.ModuleBase 'module/runtimes/linux-x64/native/imapmigration'
$facts.WorkerMode = "$([System.IO.File]::GetUnixFileMode($worker))"
'##RESULT## ' + (ConvertTo-Json -InputObject $facts -Compress)
'@
        $pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
        $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh)
        foreach ($a in '-NoProfile', '-NonInteractive', '-File', $flow, '-Repo', $Repo) { $psi.ArgumentList.Add([string]$a) }
        $psi.WorkingDirectory = $Work
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $cache = if ($env:XDG_CACHE_HOME) { $env:XDG_CACHE_HOME } else { Join-Path $HOME '.cache' }
        foreach ($name in 'PSModulePath', 'IMAPMIGRATION_NATIVE_DIR', 'IMAPMIGRATION_TESTKIT', 'IMAPMIGRATION_WORKER', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME') {
            $null = $psi.Environment.Remove($name)
        }
        $psi.Environment['HOME'] = $CleanHome
        $psi.Environment['XDG_CACHE_HOME'] = $cache
        $psi.Environment['IMAPMIGRATION_HOME'] = Join-Path $Work 'state'
        # ICU is there (checked above): culture data on, whatever this process runs with.
        $psi.Environment['DOTNET_SYSTEM_GLOBALIZATION_INVARIANT'] = '0'
        $child = [System.Diagnostics.Process]::Start($psi)
        $stderrTask = $child.StandardError.ReadToEndAsync()
        $script:ChildOut = $child.StandardOutput.ReadToEnd()
        # A guard against a hung child, not a timing assertion.
        if (-not $child.WaitForExit(300000)) { $child.Kill($true); throw 'the PowerShellGet v2 install did not finish in 5 minutes' }
        $script:ChildErr = $stderrTask.Result
        $script:ChildExit = $child.ExitCode
        $line = ($ChildOut -split "`n" | Where-Object { $_.StartsWith('##RESULT## ') } | Select-Object -Last 1)
        $script:Facts = if ($line) { $line.Substring(11) | ConvertFrom-Json } else { $null }
    }

    AfterAll {
        if ($Work -and (Test-Path $Work)) { Remove-Item -Recurse -Force $Work -ErrorAction SilentlyContinue }
    }

    It 'installs with Install-Module from a file repository and runs from the installed copy' {
        if ($NoV2) { Set-ItResult -Skipped -Because $NoV2; return }
        $ChildExit | Should -Be 0 -Because "the child said:`n$ChildOut`n$ChildErr"
        $Facts.Found | Should -Be $Manifest.ModuleVersion
        $Facts.Installed | Should -Be $InstallRoot
        $Facts.ModuleBase | Should -Be $InstallRoot
        $Facts.Config | Should -BeTrue
        $Facts.LibraryPath | Should -Be (Join-Path $InstallRoot 'module/runtimes/linux-x64/native/libimapmigration.so')
        $Facts.TypesAssembly | Should -BeLike (Join-Path $InstallRoot 'module/bin/ImapMigration.Types.*.dll')
        # The zip kept no file modes; the first call gave the worker its executable bit back.
        $Facts.WorkerMode | Should -Match 'UserExecute'
    }
}

Describe 'The module''s compiled .NET types' {
    BeforeAll {
        $script:RepoRoot = Split-Path $PSScriptRoot -Parent
        # A copy of the module without any compiled types, imported by pwsh processes of its own.
        $script:Copy = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-types-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $null = New-Item -ItemType Directory -Path (Join-Path $Copy 'module')
        Copy-Item (Join-Path $RepoRoot 'ImapMigration.psd1') $Copy
        Get-ChildItem (Join-Path $RepoRoot 'module') -Exclude 'runtimes', 'bin' | Copy-Item -Recurse -Destination (Join-Path $Copy 'module')
        $script:Bin = Join-Path $Copy 'module/bin'
        $script:Pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
        function Get-LoadedTypes {
            $out = & $Pwsh -NoProfile -NonInteractive -c {
                param($Manifest)
                Import-Module $Manifest -ErrorAction Stop
                [ImapMigration.Native].Assembly.Location
                # The types work: a status compares and prints as Exchange's does.
                [string][ImapMigration.MigrationBatchStatus]::new('Synced')
            } -args (Join-Path $Copy 'ImapMigration.psd1')
            if ($LASTEXITCODE -ne 0) { throw "import failed: $out" }
            @($out)
        }
    }

    AfterAll {
        if ($Copy -and (Test-Path $Copy)) { Remove-Item -Recurse -Force $Copy -ErrorAction SilentlyContinue }
    }

    It 'compiles them into module/bin at the first import and loads that file at the next' {
        $first = Get-LoadedTypes
        $first[1] | Should -Be 'Synced'
        $first[0] | Should -BeLike (Join-Path $Bin 'ImapMigration.Types.*.dll')
        $file = Get-Item $first[0]
        $stamp = $file.LastWriteTimeUtc
        $second = Get-LoadedTypes
        $second[0] | Should -Be $first[0]
        (Get-Item $first[0]).LastWriteTimeUtc | Should -Be $stamp -Because 'the second import loads the cached file instead of compiling'
        @(Get-ChildItem $Bin -File).Count | Should -Be 1 -Because 'no temporary file is left behind'
    }

    It 'names the file after the source, PowerShell and .NET versions, and compiles anew when Types.cs changes' {
        $before = (Get-LoadedTypes)[0]
        [System.IO.Path]::GetFileName($before) | Should -BeLike "ImapMigration.Types.*.pwsh$($PSVersionTable.PSVersion).net$([Environment]::Version).dll"
        Add-Content -Path (Join-Path $Copy 'module/Private/Types.cs') -Value '// changed'
        $after = Get-LoadedTypes
        $after[1] | Should -Be 'Synced'
        $after[0] | Should -Not -Be $before
        $after[0] | Should -BeLike (Join-Path $Bin 'ImapMigration.Types.*.dll')
    }
}
