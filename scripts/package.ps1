#Requires -Version 7.4
<#
.SYNOPSIS
    Stages the ImapMigration module folder and makes its .nupkg with Publish-PSResource.
.DESCRIPTION
    Called by scripts/package once the native builds are staged under module/runtimes/<rid>/native
    and the module's .NET types are compiled into module/bin. Copies into <OutDir>/stage/ImapMigration:
    the manifest, README, licences and docs, module/ (cmdlets, private helpers, Types.cs, format and
    types files, the opt-in Exchange shim folders ImapMigration.ExchangeShim and
    compat/ExchangeOnlineManagement), module/runtimes/<rid>/native of every staged platform (ELF
    files stripped of debug info when binutils' strip is installed), and module/bin with the
    compiled types of this pwsh (checked by importing the staged copy). Then publishes that folder
    into a file repository at <OutDir>, which writes <OutDir>/ImapMigration.<version>.nupkg, and
    prints every artifact's size. Nothing is fetched from the network.
.PARAMETER Root
    The repository root.
.PARAMETER OutDir
    Where the stage folder and the .nupkg go (scripts/package: target/package).
#>
param(
    [Parameter(Mandatory)][string]$Root,
    [Parameter(Mandatory)][string]$OutDir
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3

$manifestPath = Join-Path $Root 'ImapMigration.psd1'
$manifest = Import-PowerShellDataFile $manifestPath
$version = $manifest.ModuleVersion
$stageRoot = Join-Path $OutDir 'stage'
$stage = Join-Path $stageRoot 'ImapMigration'
$nupkg = Join-Path $OutDir "ImapMigration.$version.nupkg"

if (Test-Path $stageRoot) { Remove-Item -Recurse -Force $stageRoot }
$null = New-Item -ItemType Directory -Force -Path (Join-Path $stage 'module')
if (Test-Path $nupkg) { Remove-Item -Force $nupkg }

foreach ($item in 'ImapMigration.psd1', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE', 'docs') {
    Copy-Item -Recurse -Path (Join-Path $Root $item) -Destination $stage
}
# The module without the local builds (runtimes/, bin/): those are added below, checked.
Get-ChildItem -Path (Join-Path $Root 'module') -Exclude 'runtimes', 'bin' |
    Copy-Item -Recurse -Destination (Join-Path $stage 'module')

# Native builds: every runtimes/<rid>/native that holds a library (linux-x64 from this machine;
# win-x64, osx-arm64, linux-arm64 builds dropped in the same layout are packaged the same way).
$strip = Get-Command strip -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$runtimes = @(Get-ChildItem -Path (Join-Path $Root 'module/runtimes') -Directory -ErrorAction SilentlyContinue |
    Where-Object { Get-ChildItem -Path (Join-Path $_.FullName 'native') -Filter '*imapmigration.*' -File -ErrorAction SilentlyContinue })
if (-not $runtimes) { throw "no native build is staged under $(Join-Path $Root 'module/runtimes'); run scripts/build first" }
foreach ($rid in $runtimes) {
    $source = Join-Path $rid.FullName 'native'
    $dest = Join-Path $stage "module/runtimes/$($rid.Name)/native"
    $null = New-Item -ItemType Directory -Force -Path $dest
    foreach ($file in Get-ChildItem -Path $source -File) {
        $target = Join-Path $dest $file.Name
        if ($strip -and $rid.Name -like 'linux-*') {
            # A release build is stripped already (Cargo.toml [profile.release]); a dev build's
            # DWARF is most of its size and of no use to whoever installs the package.
            & $strip.Source --strip-debug -o $target $file.FullName
            if ($LASTEXITCODE -ne 0) { throw "strip failed on $($file.FullName)" }
        }
        else {
            Copy-Item -LiteralPath $file.FullName -Destination $target
        }
    }
}
if (-not $strip) { Write-Warning 'binutils strip not found: the native files are packaged as built' }

# The compiled .NET types: importing the staged copy loads them from its module/bin (copied from
# the source tree's, which scripts/package prefilled); only the one this pwsh loaded is kept.
$bin = Join-Path $stage 'module/bin'
$null = New-Item -ItemType Directory -Force -Path $bin
Get-ChildItem -Path (Join-Path $Root 'module/bin') -Filter 'ImapMigration.Types.*.dll' -File -ErrorAction SilentlyContinue |
    Copy-Item -Destination $bin
$check = pwsh -NoProfile -NonInteractive -c {
    param($Manifest)
    $ErrorActionPreference = 'Stop'
    Import-Module $Manifest
    [ImapMigration.Native].Assembly.Location
    (Get-Command -Module ImapMigration).Count
} -args (Join-Path $stage 'ImapMigration.psd1')
if ($LASTEXITCODE -ne 0) { throw "the staged module does not import (exit $LASTEXITCODE)" }
$typesPath, $commandCount = @($check)[-2, -1]
if (-not $typesPath -or -not $typesPath.StartsWith($bin)) { throw "the staged module loaded its .NET types from '$typesPath', not from $bin" }
if ([int]$commandCount -ne @($manifest.FunctionsToExport).Count) { throw "the staged module exports $commandCount commands, the manifest names $(@($manifest.FunctionsToExport).Count)" }
Get-ChildItem -Path $bin -File | Where-Object FullName -ne $typesPath | Remove-Item -Force

# Publish-PSResource into a file repository at OutDir writes the .nupkg there. The repository is
# registered in the throwaway PSResourceGet data folder scripts/package set up.
$repository = "ImapMigrationPackage$PID"
Register-PSResourceRepository -Name $repository -Uri $OutDir -Trusted
try {
    Publish-PSResource -Path $stage -Repository $repository
}
finally {
    Unregister-PSResourceRepository -Name $repository -ErrorAction SilentlyContinue
}
if (-not (Test-Path $nupkg)) { throw "Publish-PSResource did not write $nupkg" }

function Format-Size([long]$Bytes) {
    if ($Bytes -ge 1MB) { '{0,8:N1} MB' -f ($Bytes / 1MB) } else { '{0,8:N1} KB' -f ($Bytes / 1KB) }
}
Write-Host '==> artifact sizes'
foreach ($file in Get-ChildItem -Path (Join-Path $stage 'module/runtimes'), $bin -Recurse -File) {
    Write-Host ("{0}  {1}" -f (Format-Size $file.Length), [System.IO.Path]::GetRelativePath($stage, $file.FullName))
}
$stageBytes = (Get-ChildItem -Path $stage -Recurse -File | Measure-Object Length -Sum).Sum
Write-Host ("{0}  module folder ({1})" -f (Format-Size $stageBytes), $stage)
Write-Host ("{0}  {1}" -f (Format-Size (Get-Item $nupkg).Length), $nupkg)
