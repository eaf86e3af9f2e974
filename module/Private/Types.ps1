# .NET types the module's output objects use, and the P/Invoke shim of the native library: the C#
# in Types.cs. Loaded once per process at import time: converters need them even when the native
# library is absent (unit tests, -WhatIf), and a type cannot be redefined in a running process,
# hence the guard.
#
# Compiling C# (Add-Type loads the Roslyn compiler) takes seconds, so the assembly is compiled once
# with Add-Type -OutputAssembly and loaded from a cache afterwards. The cache key is the SHA-256 of
# Types.cs with the PowerShell and .NET versions: an assembly built by pwsh 7.6 on .NET 10 does not
# load in pwsh 7.4 on .NET 8, and a source hash (rather than the module version) also catches a
# changed Types.cs in a source tree whose version was not bumped. scripts/build prefills the cache
# beside the module for the pwsh at hand (packages carry it); elsewhere the first import compiles.

function Get-MigShimCacheDirectory {
    <#
    .SYNOPSIS
    Folders that may hold the compiled shim, in the order they are tried: beside the module
    (module/bin, prefilled by scripts/build and shipped in packages), then the user's cache folder.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()
    [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../bin'))
    $userCache = if ($IsWindows) { [Environment]::GetFolderPath('LocalApplicationData') }
                 elseif ($env:XDG_CACHE_HOME) { $env:XDG_CACHE_HOME }
                 elseif ($HOME) { Join-Path $HOME '.cache' }
    if ($userCache) { Join-Path $userCache 'ImapMigration' }
}

function Get-MigShimAssemblyName {
    <#
    .SYNOPSIS
    The cache file name of the shim compiled from the given source by this PowerShell on this .NET.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][byte[]]$Source)
    $hash = [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($Source)).Substring(0, 16).ToLowerInvariant()
    $ps = ([string]$PSVersionTable.PSVersion) -replace '[^0-9A-Za-z.]', '_'
    "ImapMigration.Types.$hash.pwsh$ps.net$([Environment]::Version).dll"
}

function Import-MigShimAssembly {
    <#
    .SYNOPSIS
    Loads the module's .NET types: from the first cache folder that has them, else compiles them
    into the first cache folder that takes a file, else (no folder writable) in memory.
    Returns the path of the assembly loaded, or $null when it was compiled in memory.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()
    $sourcePath = Join-Path $PSScriptRoot 'Types.cs'
    $source = [System.IO.File]::ReadAllBytes($sourcePath)
    $name = Get-MigShimAssemblyName -Source $source
    $folders = @(Get-MigShimCacheDirectory)
    foreach ($folder in $folders) {
        $path = Join-Path $folder $name
        if ([System.IO.File]::Exists($path)) {
            try {
                $null = [System.Reflection.Assembly]::LoadFrom($path)
                return $path
            }
            catch {
                # A truncated or foreign file: compile again below (over it, where writable).
                Write-Verbose "ImapMigration: cannot load the cached types '$path': $($_.Exception.Message)"
            }
        }
    }
    $text = [System.Text.Encoding]::UTF8.GetString($source)
    foreach ($folder in $folders) {
        $path = Join-Path $folder $name
        # Compiled under a name of its own and renamed into place, so that a concurrent import
        # never loads a half-written file; the rename replaces a file another import just wrote.
        $temp = Join-Path $folder ".$name.$PID.tmp"
        try {
            $null = [System.IO.Directory]::CreateDirectory($folder)
            Add-Type -Language CSharp -TypeDefinition $text -OutputAssembly $temp -OutputType Library -ErrorAction Stop
            [System.IO.File]::Move($temp, $path, $true)
            $null = [System.Reflection.Assembly]::LoadFrom($path)
            return $path
        }
        catch {
            Write-Verbose "ImapMigration: cannot cache the compiled types in '$folder': $($_.Exception.Message)"
            if ([System.IO.File]::Exists($temp)) { Remove-Item -LiteralPath $temp -Force -ErrorAction SilentlyContinue }
            if ('ImapMigration.Native' -as [type]) { return [ImapMigration.Native].Assembly.Location }
            # Another import put its copy in place first (Windows refuses to replace a file that a
            # process has loaded): that one serves.
            if ([System.IO.File]::Exists($path)) {
                try { $null = [System.Reflection.Assembly]::LoadFrom($path); return $path }
                catch { Write-Verbose "ImapMigration: cannot load the cached types '$path': $($_.Exception.Message)" }
            }
        }
    }
    Add-Type -Language CSharp -TypeDefinition $text
    $null
}

if (-not ('ImapMigration.NotGivenWhenNullAttribute' -as [type])) {
    $null = Import-MigShimAssembly
}

# The error category of each stable code (Native.ps1), as the compiled gateway maps them.
$script:ErrorCategoryByCode = [ImapMigration.Native]::ErrorCategories()
