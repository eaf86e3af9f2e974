# Opt-in shim: lets scripts that begin with Connect-ExchangeOnline (or check
# Get-ConnectionInformation) and end with Disconnect-ExchangeOnline run against ImapMigration.
# Connecting selects a state directory (a profile per -Organization) and checks the worker;
# nothing is contacted over the network. Import it explicitly, by either of its two names:
#   Import-Module <repo>/module/ImapMigration.ExchangeShim
#   Import-Module ExchangeOnlineManagement   # with <repo>/module/compat on PSModulePath
# This file is the one implementation; both module files dot-source it:
# ImapMigration.ExchangeShim.psm1 beside it, and module/compat/ExchangeOnlineManagement, which
# makes `#Requires -Modules ExchangeOnlineManagement` lines work and is found only when an admin
# puts module/compat on PSModulePath. The connections live in the ImapMigration module, so both
# names (even loaded side by side) see the same ones.

$main = Get-Module ImapMigration
if (-not $main) {
    $main = Import-Module (Join-Path $PSScriptRoot '../../ImapMigration.psd1') -Global -PassThru
}

function Get-ImapMigrationBaseHome {
    # Same resolution as the engine (docs/design.md "State directory").
    if ($env:IMAPMIGRATION_HOME) { return $env:IMAPMIGRATION_HOME }
    if ($IsWindows) { return Join-Path $env:LOCALAPPDATA 'ImapMigration' }
    if ($env:XDG_DATA_HOME) { return Join-Path $env:XDG_DATA_HOME 'ImapMigration' }
    Join-Path $HOME '.local/share/ImapMigration'
}

function Connect-ExchangeOnline {
    <#
    .SYNOPSIS
    Selects the ImapMigration state profile that the migration cmdlets use (in place of an Exchange Online tenant).
    .DESCRIPTION
    Accepts Exchange Online's connection parameters so existing scripts run unchanged. Only
    -Organization matters: it selects the profile '<state dir>/profiles/<Organization>'; without it
    the default state directory is used. Authentication parameters are accepted and ignored.
    The cmdlet then asks the engine for the worker status and reports it.
    .PARAMETER Organization
    Profile name; its state lives in '<state dir>/profiles/<Organization>'.
    .PARAMETER DelegatedOrganization
    Used as the profile name when -Organization is not given.
    .PARAMETER ShowBanner
    Shows a one-line banner naming the state directory (default $true).
    .PARAMETER UserPrincipalName
    Accepted and ignored.
    .PARAMETER Credential
    Accepted and ignored.
    .PARAMETER AppId
    Accepted and ignored.
    .PARAMETER CertificateThumbprint
    Accepted and ignored.
    .PARAMETER Certificate
    Accepted and ignored.
    .PARAMETER CertificateFilePath
    Accepted and ignored.
    .PARAMETER CertificatePassword
    Accepted and ignored.
    .PARAMETER AccessToken
    Accepted and ignored.
    .PARAMETER ManagedIdentity
    Accepted and ignored.
    .PARAMETER ManagedIdentityAccountId
    Accepted and ignored.
    .PARAMETER Device
    Accepted and ignored.
    .PARAMETER InlineCredential
    Accepted and ignored.
    .PARAMETER ConnectionUri
    Accepted and ignored.
    .PARAMETER AzureADAuthorizationEndpointUri
    Accepted and ignored.
    .PARAMETER ExchangeEnvironmentName
    Accepted and ignored.
    .PARAMETER PSSessionOption
    Accepted and ignored.
    .PARAMETER Prefix
    Accepted and ignored (the cmdlets keep their names).
    .PARAMETER CommandName
    Accepted and ignored.
    .PARAMETER FormatTypeName
    Accepted and ignored.
    .PARAMETER BypassMailboxAnchoring
    Accepted and ignored.
    .PARAMETER EnableErrorReporting
    Accepted and ignored.
    .PARAMETER LogDirectoryPath
    Accepted and ignored.
    .PARAMETER LogLevel
    Accepted and ignored.
    .PARAMETER PageSize
    Accepted and ignored.
    .PARAMETER ShowProgress
    Accepted and ignored.
    .PARAMETER SigningCertificate
    Accepted and ignored.
    .PARAMETER SkipLoadingCmdletHelp
    Accepted and ignored.
    .PARAMETER SkipLoadingFormatData
    Accepted and ignored.
    .PARAMETER LoadCmdletHelp
    Accepted and ignored.
    .PARAMETER TrackPerformance
    Accepted and ignored.
    .PARAMETER UseMultithreading
    Accepted and ignored.
    .PARAMETER UseRPSSession
    Accepted and ignored.
    .PARAMETER DisableWAM
    Accepted and ignored.
    .EXAMPLE
    Connect-ExchangeOnline -UserPrincipalName admin@contoso.com -ShowBanner:$false

    Uses the default state directory.
    .EXAMPLE
    Connect-ExchangeOnline -AppId $appId -CertificateThumbprint $thumb -Organization contoso.onmicrosoft.com

    Uses the profile 'contoso.onmicrosoft.com'.
    .OUTPUTS
    None
    #>
    [CmdletBinding()]
    param(
        [Parameter(Position = 0)][string]$ConnectionUri,
        [Parameter(Position = 1)][string]$AzureADAuthorizationEndpointUri,
        [Parameter(Position = 2)][string]$ExchangeEnvironmentName,
        [Parameter(Position = 3)][object]$PSSessionOption,
        [Parameter(Position = 4)][switch]$BypassMailboxAnchoring,
        [Parameter(Position = 5)][string]$DelegatedOrganization,
        [Parameter(Position = 6)][string]$Prefix,
        [string[]]$CommandName,
        [string[]]$FormatTypeName,
        [string]$AccessToken,
        [string]$AppId,
        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,
        [string]$CertificateFilePath,
        [securestring]$CertificatePassword,
        [string]$CertificateThumbprint,
        [pscredential]$Credential,
        [switch]$Device,
        [switch]$DisableWAM,
        [bool]$EnableErrorReporting,
        [switch]$InlineCredential,
        [switch]$LoadCmdletHelp,
        [string]$LogDirectoryPath,
        [object]$LogLevel,
        [switch]$ManagedIdentity,
        [string]$ManagedIdentityAccountId,
        [string]$Organization,
        [int]$PageSize,
        [bool]$ShowBanner = $true,
        [bool]$ShowProgress,
        [System.Security.Cryptography.X509Certificates.X509Certificate2]$SigningCertificate,
        [switch]$SkipLoadingCmdletHelp,
        [switch]$SkipLoadingFormatData,
        [bool]$TrackPerformance,
        [bool]$UseMultithreading,
        [string]$UserPrincipalName,
        [switch]$UseRPSSession
    )

    $profileName = if ($Organization) { $Organization } elseif ($DelegatedOrganization) { $DelegatedOrganization } else { $null }
    $stateHome = $null
    if ($profileName) {
        if ($profileName -match '[\\/:*?"<>|]' -or $profileName -in '.', '..') {
            $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new(
                    [System.ArgumentException]::new("The organization name '$profileName' cannot be used as a profile name."),
                    'InvalidArgument', [System.Management.Automation.ErrorCategory]::InvalidArgument, $profileName))
        }
        $stateHome = [System.IO.Path]::GetFullPath((Join-Path (Get-ImapMigrationBaseHome) "profiles/$profileName"))
        $null = New-Item -ItemType Directory -Path $stateHome -Force
    }
    & $main { param($h) $script:StateHome = $h } $stateHome

    $status = & $main { param($c) Invoke-MigNative -Operation 'worker.status' -Cmdlet $c } $PSCmdlet
    $shown = if ($stateHome) { $stateHome } else { Get-ImapMigrationBaseHome }
    if ($ShowBanner) {
        $worker = if ($status -and $status.Running) { "worker running (pid $($status.Pid))" } else { 'worker not running; it starts with the next batch operation' }
        Write-Host "ImapMigration: using state directory '$shown'; $worker."
    }
    Write-Verbose "ImapMigration profile: '$shown'."

    $certificateAuth = [bool]($Certificate -or $CertificateFilePath -or $CertificateThumbprint)
    $connection = & $main {
        param($Fields)
        if (-not $script:ExchangeConnections) { $script:ExchangeConnections = [System.Collections.Generic.List[object]]::new() }
        $script:ExchangeConnectionCount = 1 + [int]$script:ExchangeConnectionCount
        $Fields['Id'] = $script:ExchangeConnectionCount
        $Fields['Name'] = "ExchangeOnline_$($script:ExchangeConnectionCount)"
        $c = [pscustomobject]$Fields
        $c.PSObject.TypeNames.Insert(0, 'ImapMigration.ConnectionInformation')
        $script:ExchangeConnections.Add($c)
        $c
    } ([ordered]@{
            ConnectionId                    = [guid]::NewGuid().ToString()
            State                           = 'Connected'
            Id                              = 0
            Name                            = $null
            UserPrincipalName               = if ($UserPrincipalName) { $UserPrincipalName } elseif ($Credential) { $Credential.UserName } else { $null }
            ConnectionUri                   = if ($ConnectionUri) { $ConnectionUri } else { ([uri]::new([System.IO.Path]::GetFullPath($shown))).AbsoluteUri }
            AzureAdAuthorizationEndpointUri = if ($AzureADAuthorizationEndpointUri) { $AzureADAuthorizationEndpointUri } else { $null }
            TokenExpiryTimeUTC              = $null
            CertificateAuthentication       = $certificateAuth
            ModuleName                      = 'ImapMigration'
            ModulePrefix                    = if ($Prefix) { $Prefix } else { '' }
            Organization                    = if ($Organization) { $Organization } else { $null }
            DelegatedOrganization           = if ($DelegatedOrganization) { $DelegatedOrganization } else { $null }
            AppId                           = if ($AppId) { $AppId } else { $null }
            PageSize                        = if ($PageSize) { $PageSize } else { 1000 }
            TenantID                        = $null
            TokenStatus                     = 'Active'
            ConnectionUsedForInbuiltCmdlets = $true
            IsEopSession                    = $false
            StateDirectory                  = $shown
        })
    Write-Verbose "ImapMigration connection $($connection.Name) ($($connection.ConnectionId))."
}

function Get-ConnectionInformation {
    <#
    .SYNOPSIS
    Lists the connections Connect-ExchangeOnline made in this session (nothing when not connected).
    .DESCRIPTION
    Returns what Exchange Online's Get-ConnectionInformation returns for each connection (State,
    Name, Id, ConnectionId, UserPrincipalName, Organization, ConnectionUri, ModuleName,
    ModulePrefix, TokenStatus...), so scripts that test for a connection before connecting keep
    working. ConnectionUri is the state directory the connection selected (a file: URI) unless
    Connect-ExchangeOnline was given -ConnectionUri; ModuleName is ImapMigration, the module that
    has the migration cmdlets; StateDirectory is an extension.
    .PARAMETER ConnectionId
    Returns only the connections with these ConnectionId values.
    .PARAMETER ModulePrefix
    Returns only the connections made with these -Prefix values.
    .EXAMPLE
    if (-not (Get-ConnectionInformation | Where-Object State -eq 'Connected')) { Connect-ExchangeOnline -ShowBanner:$false }

    Connects unless the session already is.
    .OUTPUTS
    ImapMigration.ConnectionInformation
    #>
    [CmdletBinding()]
    [OutputType('ImapMigration.ConnectionInformation')]
    param(
        [string[]]$ConnectionId,
        [string[]]$ModulePrefix
    )
    $all = & $main { if ($script:ExchangeConnections) { $script:ExchangeConnections.ToArray() } }
    foreach ($c in @($all)) {
        if ($null -eq $c) { continue }
        if ($ConnectionId -and $c.ConnectionId -notin $ConnectionId) { continue }
        if ($ModulePrefix -and $c.ModulePrefix -notin $ModulePrefix) { continue }
        $c
    }
}

function Disconnect-ExchangeOnline {
    <#
    .SYNOPSIS
    Returns the migration cmdlets to the default state directory.
    .DESCRIPTION
    Undoes Connect-ExchangeOnline -Organization. Migrations keep running in the background worker.
    It asks for confirmation, as Exchange's does, unless -Confirm:$false is given.
    .PARAMETER ConnectionId
    Ends only the connections with these ConnectionId values (see Get-ConnectionInformation).
    .PARAMETER ModulePrefix
    Ends only the connections made with these -Prefix values.
    .EXAMPLE
    Disconnect-ExchangeOnline -Confirm:$false

    Ends the session without prompting.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [string[]]$ConnectionId,
        [string[]]$ModulePrefix
    )
    if (-not $PSCmdlet.ShouldProcess('ImapMigration session', 'Disconnect')) { return }
    & $main {
        param($ConnectionId, $ModulePrefix)
        if ($script:ExchangeConnections) {
            foreach ($c in $script:ExchangeConnections.ToArray()) {
                if ($ConnectionId -and $c.ConnectionId -notin $ConnectionId) { continue }
                if ($ModulePrefix -and $c.ModulePrefix -notin $ModulePrefix) { continue }
                $null = $script:ExchangeConnections.Remove($c)
            }
        }
        # The state directory goes back to the default once no connection is left.
        if (-not $script:ExchangeConnections -or $script:ExchangeConnections.Count -eq 0) { $script:StateHome = $null }
    } $ConnectionId $ModulePrefix
}

$script:ShimFunctions = 'Connect-ExchangeOnline', 'Disconnect-ExchangeOnline', 'Get-ConnectionInformation'
