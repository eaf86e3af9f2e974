# The one gateway to the native engine. Every public cmdlet calls Invoke-MigNative; nothing else
# touches the library. Contract: docs/design.md ("The C ABI").

# ABI version this module speaks (mig_abi_version).
$script:ExpectedAbiVersion = 1

# Operations that may need the background worker carry "workerPath" (docs/design.md):
# [ImapMigration.Native]::WorkerOperations. The first call's path (where the library is, binding
# it, the request and the response) is compiled code in Types.cs: PowerShell runs a script
# function slowly the first time, and every session's first cmdlet paid for each step.

# Error code -> ErrorCategory (stable; the code itself becomes the FullyQualifiedErrorId): every
# code of the library (native/core/src/error_code.rs; system.version lists them as ErrorCodes)
# has an entry in [ImapMigration.Native]'s table, so none falls back to NotSpecified.
# $script:ErrorCategoryByCode holds a copy (Types.ps1 sets it once the types are loaded).

# State directory override; set by the ExchangeShim's Connect-ExchangeOnline -Organization.
# $null = let the library resolve IMAPMIGRATION_HOME / XDG.
if (-not (Test-Path variable:script:StateHome)) { $script:StateHome = $null }
$script:NativeReady = $false

function Get-MigRuntimeIdentifier {
    <#
    .SYNOPSIS
    The .NET runtime identifier naming the runtimes/<rid>/native folder (linux-x64, osx-arm64, win-x64...).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()
    [ImapMigration.Native]::RuntimeIdentifier()
}

function Get-MigNativeLayout {
    <#
    .SYNOPSIS
    Where the native library and the worker binary are: IMAPMIGRATION_NATIVE_DIR, else module/runtimes/<rid>/native.
    #>
    [CmdletBinding()]
    param()
    [ImapMigration.Native]::Layout($PSScriptRoot)
}

function Set-MigWorkerExecutable {
    <#
    .SYNOPSIS
    Gives the worker binary back its executable bits where they are lost (Unix).
    .DESCRIPTION
    A .nupkg is a zip file, which keeps no file modes: Install-PSResource unpacks the worker as a
    plain file. Execute is granted to whoever may read it; when that is not allowed (an install
    owned by another user) the worker's start reports the path and the permission error.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string]$Path)
    $note = [ImapMigration.Native]::MakeExecutable($Path)
    if ($note) { Write-Verbose $note }
}

# Initialize-MigNative and Invoke-MigNativeCall are plain functions (no [CmdletBinding()]): the
# first call of a session runs them, and an advanced function's binding costs milliseconds there.

function Initialize-MigNative {
    <#
    .SYNOPSIS
    Binds the P/Invoke shim to the library on first use and checks the library's ABI version.
    Throws a terminating error (with a stable id) when the library is missing or speaks another ABI.
    .DESCRIPTION
    Import-Module loads no native code: the library is loaded here, by the first call that needs it.
    #>
    if ($script:NativeReady) { return }
    foreach ($note in [ImapMigration.Native]::Initialize($PSScriptRoot, $script:ExpectedAbiVersion)) { Write-Verbose $note }
    $script:NativeReady = $true
}

function Invoke-MigNativeCall {
    <#
    .SYNOPSIS
    Sends one JSON request through mig_call and returns the JSON response text (the raw transport).
    #>
    [OutputType([string])]
    param([Parameter(Mandatory)][string]$RequestJson)
    if (-not $script:NativeReady) { Initialize-MigNative }
    [ImapMigration.Native]::Call($RequestJson)
}

function Get-MigErrorCategory {
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorCategory])]
    param([string]$Code)
    [ImapMigration.Native]::Category($Code)
}

function New-MigErrorRecord {
    <#
    .SYNOPSIS
    Builds the ErrorRecord for a stable error code; the caller's cmdlet name is appended to the id
    when the record is written or thrown through that cmdlet's $PSCmdlet.
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)][string]$Code,
        [Parameter(Mandatory)][string]$Message,
        [object]$TargetObject,
        [object]$Details
    )
    [ImapMigration.Native]::NewErrorRecord($Code, $Message, $TargetObject, $Details)
}

function Invoke-MigNative {
    <#
    .SYNOPSIS
    Calls one native operation and returns its result, or reports the native error as an ErrorRecord.
    .DESCRIPTION
    Adds "home" (when the state directory is overridden) and "workerPath" (for operations that may
    start the worker) to the request, serialises it, calls the library and parses the response.
    On ok=false the error becomes an ErrorRecord with FullyQualifiedErrorId "<Code>,<Cmdlet>":
    thrown as terminating, or with -NonTerminating written as a non-terminating error (then nothing
    is returned). The request is never logged: it may carry passwords.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Operation,
        [Parameter(Position = 1)][hashtable]$Arguments = @{},
        # The calling cmdlet's $PSCmdlet, so errors carry its name.
        [System.Management.Automation.PSCmdlet]$Cmdlet,
        [object]$TargetObject,
        [switch]$NonTerminating,
        # Return an engine error as its ImapMigration.MigrationException instead of reporting it.
        [switch]$ReturnError
    )
    if (-not $Cmdlet) { $Cmdlet = $PSCmdlet }

    # The state directory: the one Connect-ExchangeOnline chose, else IMAPMIGRATION_HOME as this
    # session sees it. .NET keeps $env: changes to itself on Unix (the native environment is not
    # updated), so the library cannot read a value set in the session: pass it explicitly.
    $stateHome = if ($script:StateHome) { [string]$script:StateHome } else { $env:IMAPMIGRATION_HOME }
    try {
        $json = [ImapMigration.Native]::Request($Operation, $Arguments, $stateHome, $PSScriptRoot)
        Write-Verbose "ImapMigration: native operation '$Operation'"
        $responseText = Invoke-MigNativeCall -RequestJson $json
    }
    catch {
        # Library missing, not loadable or speaking another ABI: nothing can work, always terminating.
        $ex = $_.Exception
        while ($ex -isnot [ImapMigration.MigrationException] -and $ex.InnerException) { $ex = $ex.InnerException }
        $code = if ($ex -is [ImapMigration.MigrationException]) { $ex.Code } else { 'NativeLibraryLoadFailed' }
        $Cmdlet.ThrowTerminatingError((New-MigErrorRecord -Code $code -Message $ex.Message -TargetObject $TargetObject))
    }

    # Warnings (what the operation did on the side) are written to $Cmdlet here; the engine's
    # error comes back as its ErrorRecord.
    $outcome = [ImapMigration.Native]::Respond($Cmdlet, $Operation, $responseText, $TargetObject)
    if ($outcome.Ok) { return , $outcome.Result }
    if ($ReturnError) { return $outcome.Error.Exception }
    if ($NonTerminating) { $Cmdlet.WriteError($outcome.Error); return }
    $Cmdlet.ThrowTerminatingError($outcome.Error)
}
