# The one gateway to the native engine. Every public cmdlet calls Invoke-MigNative; nothing else
# touches the library. Contract: docs/design.md ("The C ABI").

# ABI version this module speaks (mig_abi_version).
$script:ExpectedAbiVersion = 1

# Operations that may need the background worker; they carry "workerPath" (docs/design.md).
$script:WorkerOperations = @(
    'batch.new', 'batch.set', 'batch.start', 'batch.stop', 'batch.complete', 'batch.remove', 'worker.ensure'
)

# Error code -> ErrorCategory (stable; the code itself becomes the FullyQualifiedErrorId). Every
# code of the library (native/core/src/error_code.rs; system.version lists them as ErrorCodes)
# has an entry, so none falls back to NotSpecified; the last three are the module's own ids.
$script:ErrorCategoryByCode = @{
    InvalidArgument         = [System.Management.Automation.ErrorCategory]::InvalidArgument
    NotFound                = [System.Management.Automation.ErrorCategory]::ObjectNotFound
    AlreadyExists           = [System.Management.Automation.ErrorCategory]::ResourceExists
    InvalidState            = [System.Management.Automation.ErrorCategory]::InvalidOperation
    CsvInvalid              = [System.Management.Automation.ErrorCategory]::InvalidArgument
    AuthenticationFailed    = [System.Management.Automation.ErrorCategory]::AuthenticationError
    EndpointUnreachable     = [System.Management.Automation.ErrorCategory]::ConnectionError
    TlsError                = [System.Management.Automation.ErrorCategory]::SecurityError
    # The server answered and declined (NO, BAD, BYE, too many refused items). Not
    # PermissionDenied: most refusals are a full mailbox, a missing folder or a busy server.
    ServerRefused           = [System.Management.Automation.ErrorCategory]::ResourceUnavailable
    Protocol                = [System.Management.Automation.ErrorCategory]::ProtocolError
    Cancelled               = [System.Management.Automation.ErrorCategory]::OperationStopped
    # A library, worker or state directory of the matching version is not installed.
    VersionMismatch         = [System.Management.Automation.ErrorCategory]::NotInstalled
    Unsupported             = [System.Management.Automation.ErrorCategory]::NotImplemented
    # Our side failed to produce a result (store, key file, a broken invariant, a panic).
    Internal                = [System.Management.Automation.ErrorCategory]::InvalidResult
    Panic                   = [System.Management.Automation.ErrorCategory]::InvalidResult
    UnsupportedParameter    = [System.Management.Automation.ErrorCategory]::InvalidArgument
    NativeLibraryNotFound   = [System.Management.Automation.ErrorCategory]::ResourceUnavailable
    NativeLibraryLoadFailed = [System.Management.Automation.ErrorCategory]::ResourceUnavailable
}

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
    $ri = [System.Runtime.InteropServices.RuntimeInformation]
    $platform = [System.Runtime.InteropServices.OSPlatform]
    $os = if ($ri::IsOSPlatform($platform::Windows)) { 'win' }
          elseif ($ri::IsOSPlatform($platform::OSX)) { 'osx' }
          else { 'linux' }
    $arch = $ri::OSArchitecture.ToString().ToLowerInvariant()
    "$os-$arch"
}

function Get-MigNativeLayout {
    <#
    .SYNOPSIS
    Where the native library and the worker binary are: IMAPMIGRATION_NATIVE_DIR, else module/runtimes/<rid>/native.
    #>
    [CmdletBinding()]
    param()
    $rid = Get-MigRuntimeIdentifier
    $dir = if ($env:IMAPMIGRATION_NATIVE_DIR) { $env:IMAPMIGRATION_NATIVE_DIR }
           else { Join-Path (Split-Path $PSScriptRoot -Parent) "runtimes/$rid/native" }
    $dir = [System.IO.Path]::GetFullPath($dir)
    $library, $worker = switch -Wildcard ($rid) {
        'win-*' { 'imapmigration.dll', 'imapmigration.exe' }
        'osx-*' { 'libimapmigration.dylib', 'imapmigration' }
        default { 'libimapmigration.so', 'imapmigration' }
    }
    [pscustomobject]@{
        RuntimeIdentifier = $rid
        Directory         = $dir
        LibraryPath       = Join-Path $dir $library
        WorkerPath        = Join-Path $dir $worker
    }
}

function Initialize-MigNative {
    <#
    .SYNOPSIS
    Compiles the P/Invoke shim on first use and checks the library's ABI version.
    Throws a terminating error (with a stable id) when the library is missing or speaks another ABI.
    #>
    [CmdletBinding()]
    param()
    if ($script:NativeReady) { return }
    $layout = Get-MigNativeLayout
    if (-not ('ImapMigration.Native' -as [type])) {
        if (-not (Test-Path -LiteralPath $layout.LibraryPath -PathType Leaf)) {
            throw [ImapMigration.MigrationException]::new('NativeLibraryNotFound',
                "The ImapMigration native library was not found at '$($layout.LibraryPath)'. Build it (scripts/build) or set IMAPMIGRATION_NATIVE_DIR to the folder that holds it.",
                $layout.LibraryPath)
        }
        # An absolute path in DllImport loads exactly that file. mig_call returns IntPtr so the
        # marshaller never frees Rust memory with the wrong allocator; mig_free gives it back.
        $lib = $layout.LibraryPath.Replace('\', '\\').Replace('"', '\"')
        Add-Type -Language CSharp -TypeDefinition @"
using System;
using System.Runtime.InteropServices;

namespace ImapMigration
{
    public static class Native
    {
        public const string LibraryPath = "$lib";

        [DllImport(LibraryPath, EntryPoint = "mig_call", CallingConvention = CallingConvention.Cdecl)]
        private static extern IntPtr mig_call([MarshalAs(UnmanagedType.LPUTF8Str)] string request);

        [DllImport(LibraryPath, EntryPoint = "mig_free", CallingConvention = CallingConvention.Cdecl)]
        private static extern void mig_free(IntPtr response);

        [DllImport(LibraryPath, EntryPoint = "mig_abi_version", CallingConvention = CallingConvention.Cdecl)]
        private static extern uint mig_abi_version();

        public static uint AbiVersion() { return mig_abi_version(); }

        public static string Call(string request)
        {
            IntPtr p = mig_call(request);
            try { return Marshal.PtrToStringUTF8(p); }
            finally { mig_free(p); }
        }
    }
}
"@
    }
    elseif ([ImapMigration.Native]::LibraryPath -ne $layout.LibraryPath) {
        Write-Verbose "The native library was already loaded from '$([ImapMigration.Native]::LibraryPath)' in this process; it stays in use."
    }
    $abi = [ImapMigration.Native]::AbiVersion()
    if ($abi -ne $script:ExpectedAbiVersion) {
        throw [ImapMigration.MigrationException]::new('VersionMismatch',
            "The native library '$([ImapMigration.Native]::LibraryPath)' speaks ABI version $abi, but this module expects ABI version $($script:ExpectedAbiVersion). Install a module and library from the same release.",
            $abi)
    }
    $script:NativeReady = $true
}

function Invoke-MigNativeCall {
    <#
    .SYNOPSIS
    Sends one JSON request through mig_call and returns the JSON response text (the raw transport).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][string]$RequestJson)
    Initialize-MigNative
    [ImapMigration.Native]::Call($RequestJson)
}

function Get-MigErrorCategory {
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorCategory])]
    param([string]$Code)
    if ($Code -and $script:ErrorCategoryByCode.ContainsKey($Code)) { return $script:ErrorCategoryByCode[$Code] }
    [System.Management.Automation.ErrorCategory]::NotSpecified
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
    $ex = [ImapMigration.MigrationException]::new($Code, $Message, $Details)
    [System.Management.Automation.ErrorRecord]::new($ex, $Code, (Get-MigErrorCategory -Code $Code), $TargetObject)
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

    $request = [ordered]@{ op = $Operation }
    # The state directory: the one Connect-ExchangeOnline chose, else IMAPMIGRATION_HOME as this
    # session sees it. .NET keeps $env: changes to itself on Unix (the native environment is not
    # updated), so the library cannot read a value set in the session: pass it explicitly.
    if ($script:StateHome) { $request['home'] = [string]$script:StateHome }
    elseif ($env:IMAPMIGRATION_HOME) { $request['home'] = [string]$env:IMAPMIGRATION_HOME }
    try {
        if ($Operation -in $script:WorkerOperations) { $request['workerPath'] = (Get-MigNativeLayout).WorkerPath }
        foreach ($key in $Arguments.Keys) { $request[$key] = $Arguments[$key] }
        $json = ConvertTo-Json -InputObject $request -Depth 20 -Compress
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

    $parse = @{ Depth = 100 }
    if ($script:JsonHasDateKind) { $parse['DateKind'] = 'String' }
    $response = $responseText | ConvertFrom-Json @parse
    if ($response.ok) { return , $response.result }

    $code = [string]$response.error.code
    if (-not $code) { $code = 'Internal' }
    $message = [string]$response.error.message
    if (-not $message) { $message = "The native operation '$Operation' failed with $code." }
    $record = New-MigErrorRecord -Code $code -Message $message -TargetObject $TargetObject -Details $response.error.details
    if ($ReturnError) { return $record.Exception }
    if ($NonTerminating) { $Cmdlet.WriteError($record); return }
    $Cmdlet.ThrowTerminatingError($record)
}

# ConvertFrom-Json -DateKind (PowerShell 7.5+) keeps dates as strings; the converters parse them.
$script:JsonHasDateKind = (Get-Command ConvertFrom-Json).Parameters.ContainsKey('DateKind')
