function New-MigrationEndpoint {
    <#
    .SYNOPSIS
    Creates an IMAP migration endpoint: the connection settings of a source (or target) IMAP server.
    .DESCRIPTION
    New-MigrationEndpoint -IMAP stores the server name, port, security, authentication and
    concurrency limits that IMAP migration batches use. Unless -SkipVerification is given, the
    engine first checks that the server is reachable (Write-Progress shows the check).
    IMAP source endpoints carry no credentials: they come per user from the batch CSV. As an
    extension, a target IMAP endpoint can carry admin -Credentials and a -TargetLogin method
    (MasterUser, AuthorizationId or OAuth2); passwords are sealed by the engine and never shown.
    Parameters that Exchange has only for other migration types are accepted and refused with the
    error id UnsupportedParameter.
    .PARAMETER IMAP
    Selects an IMAP endpoint (the only type this engine supports).
    .PARAMETER Name
    Unique name of the endpoint; it is the endpoint's Identity.
    .PARAMETER RemoteServer
    Fully qualified domain name (or address) of the IMAP server.
    .PARAMETER Port
    TCP port. Default 993 with -Security Ssl, otherwise 143.
    .PARAMETER Security
    None, Ssl (implicit TLS, port 993) or Tls (STARTTLS, port 143). Default Ssl.
    .PARAMETER Authentication
    Basic (default), Ntlm or OAuth2 (extension; XOAUTH2 for target endpoints).
    .PARAMETER MaxConcurrentMigrations
    Maximum number of mailboxes migrated at the same time during initial sync. Default 100.
    .PARAMETER MaxConcurrentIncrementalSyncs
    Maximum number of concurrent incremental syncs; at most MaxConcurrentMigrations. Default 20.
    .PARAMETER MaxConnectionsPerUser
    Extension: connections one user's sync may hold on this server at once. Default 8. On a target without LITERAL+ or MULTIAPPEND (Gmail, Exchange Online) the spare ones append into a folder in parallel.
    .PARAMETER PreserveOrder
    Extension: as a target, append into each folder over one connection, so messages keep the source's order. Off by default.
    .PARAMETER DisableCompression
    Extension: never turn on COMPRESS=DEFLATE (RFC 4978) with this server. By default it is used whenever the server offers it (it pays on slow links).
    .PARAMETER VerifyContent
    Extension: as an IMAP target, read back every message appended into a folder and compare its SHA-256 with the bytes sent; a message the server stored changed (Cyrus' munge8bit rewriting 8-bit header bytes keeps the size) is reported as a skipped item of kind ChangedItem. Off by default: it doubles the traffic with the target. Needs UIDPLUS, as the size check does; a Maildir target needs no such check.
    .PARAMETER AcceptUntrustedCertificates
    Accepts a server certificate that does not validate. Not recommended in production.
    .PARAMETER SkipVerification
    Skips verifying that the remote server is reachable.
    .PARAMETER Credentials
    Extension: admin credentials for a target IMAP endpoint (master user, authorization id, or OAuth2 client id and secret).
    .PARAMETER TargetLogin
    Extension: how the engine logs in to a target IMAP endpoint for each user: MasterUser, AuthorizationId or OAuth2.
    .PARAMETER MasterUserSeparator
    Extension: separator between user and master user name for -TargetLogin MasterUser. Default '*'.
    .PARAMETER OAuthTokenEndpoint
    Extension: OAuth2 token endpoint URL (client-credentials flow) for -TargetLogin OAuth2.
    .PARAMETER OAuthClientId
    Extension: OAuth2 client id for -TargetLogin OAuth2.
    .PARAMETER OAuthScope
    Extension: OAuth2 scope requested with the token.
    .PARAMETER TargetUserTemplate
    Extension: how the target login name is formed from CSV fields, e.g. '{EmailAddress}' (default), '{UserName}' or '{LocalPart}'.
    .PARAMETER CertificateAuthorityFile
    Extension: PEM file of the certificate authority that signs the server certificate.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .PARAMETER ExchangeRemoteMove
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ExchangeOutlookAnywhere
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER PublicFolder
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER Gmail
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER Compliance
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER Autodiscover
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER TestMailbox
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER EmailAddress
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ApplicationId
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER AppSecretKeyVaultUrl
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ExchangeServer
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER MailboxPermission
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER NspiServer
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER PublicFolderDatabaseServerLegacyDN
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER RpcProxyServer
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ServiceAccountKeyFileData
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SourceMailboxLegacyDN
    Exchange parameter for another migration type; refused for IMAP migrations.
    .EXAMPLE
    New-MigrationEndpoint -IMAP -Name IMAPEndpoint -RemoteServer imap.contoso.com -Port 993 -Security Ssl

    Creates an IMAP endpoint for a server that uses implicit TLS on port 993.
    .EXAMPLE
    New-MigrationEndpoint -IMAP -Name IMAP_TLS_Endpoint -RemoteServer imap.contoso.com -Port 143 -Security Tls -MaxConcurrentMigrations 50 -MaxConcurrentIncrementalSyncs 10

    Creates an endpoint that uses STARTTLS on port 143 with lower concurrency limits.
    .EXAMPLE
    New-MigrationEndpoint -IMAP -Name Target -RemoteServer mail.fabrikam.com -Credentials (Get-Credential admin) -TargetLogin MasterUser

    Creates a target IMAP endpoint that logs in as each user through the master user 'admin'.
    .EXAMPLE
    New-MigrationEndpoint -IMAP -Name CyrusTarget -RemoteServer cyrus.fabrikam.com -Credentials (Get-Credential cyrusadmin) -TargetLogin AuthorizationId -VerifyContent

    Creates a target endpoint whose copies are read back and compared byte for byte after each folder's appends.
    .OUTPUTS
    ImapMigration.MigrationEndpoint
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'IMAP', PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationEndpoint')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'IMAP')]
        [switch]$IMAP,

        [Parameter(Mandatory, ParameterSetName = 'IMAP')]
        [Parameter(ParameterSetName = 'OtherMigrationType')]
        [string]$Name,

        [Parameter(Mandatory, ParameterSetName = 'IMAP')]
        [Parameter(ParameterSetName = 'OtherMigrationType')]
        [string]$RemoteServer,

        [ImapMigration.NotGivenWhenNull('Port')][int]$Port,
        [ValidateSet('None', 'Ssl', 'Tls')]
        [ImapMigration.NotGivenWhenNull('Security')][string]$Security,
        [ImapMigration.NotGivenWhenNull('Authentication')][string]$Authentication,
        [object]$MaxConcurrentMigrations,
        [object]$MaxConcurrentIncrementalSyncs,
        [object]$MaxConnectionsPerUser,
        [switch]$PreserveOrder,
        [switch]$DisableCompression,
        [switch]$VerifyContent,
        [switch]$AcceptUntrustedCertificates,
        [switch]$SkipVerification,

        [System.Management.Automation.PSCredential]
        [System.Management.Automation.Credential()]
        $Credentials,
        [ValidateSet('MasterUser', 'AuthorizationId', 'OAuth2')]
        [ImapMigration.NotGivenWhenNull('TargetLogin')][string]$TargetLogin,
        [ImapMigration.NotGivenWhenNull('MasterUserSeparator')][string]$MasterUserSeparator,
        [ImapMigration.NotGivenWhenNull('OAuthTokenEndpoint')][string]$OAuthTokenEndpoint,
        [ImapMigration.NotGivenWhenNull('OAuthClientId')][string]$OAuthClientId,
        [ImapMigration.NotGivenWhenNull('OAuthScope')][string]$OAuthScope,
        [ImapMigration.NotGivenWhenNull('TargetUserTemplate')][string]$TargetUserTemplate,
        [ImapMigration.NotGivenWhenNull('CertificateAuthorityFile')][string]$CertificateAuthorityFile,

        [object]$Partition,

        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$ExchangeRemoteMove,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$ExchangeOutlookAnywhere,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$PublicFolder,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$Gmail,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$Compliance,
        [switch]$Autodiscover,
        [object]$TestMailbox,
        [ImapMigration.NotGivenWhenNull('EmailAddress')][string]$EmailAddress,
        [ImapMigration.NotGivenWhenNull('ApplicationId')][string]$ApplicationId,
        [ImapMigration.NotGivenWhenNull('AppSecretKeyVaultUrl')][string]$AppSecretKeyVaultUrl,
        [ImapMigration.NotGivenWhenNull('ExchangeServer')][string]$ExchangeServer,
        [ImapMigration.NotGivenWhenNull('MailboxPermission')][string]$MailboxPermission,
        [ImapMigration.NotGivenWhenNull('NspiServer')][string]$NspiServer,
        [ImapMigration.NotGivenWhenNull('PublicFolderDatabaseServerLegacyDN')][string]$PublicFolderDatabaseServerLegacyDN,
        [ImapMigration.NotGivenWhenNull('RpcProxyServer')][string]$RpcProxyServer,
        [byte[]]$ServiceAccountKeyFileData,
        [ImapMigration.NotGivenWhenNull('SourceMailboxLegacyDN')][string]$SourceMailboxLegacyDN
    )

    [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())

    Assert-MigSupportedParameter -Cmdlet $PSCmdlet -Unsupported @(
        'ExchangeRemoteMove', 'ExchangeOutlookAnywhere', 'PublicFolder', 'Gmail', 'Compliance', 'Autodiscover',
        'TestMailbox', 'EmailAddress', 'ApplicationId', 'AppSecretKeyVaultUrl', 'ExchangeServer', 'MailboxPermission',
        'NspiServer', 'PublicFolderDatabaseServerLegacyDN', 'RpcProxyServer', 'ServiceAccountKeyFileData', 'SourceMailboxLegacyDN')

    $arguments = ConvertTo-MigEndpointArguments -BoundParameters $PSBoundParameters -Cmdlet $PSCmdlet
    $arguments['name'] = $Name

    if (-not $PSCmdlet.ShouldProcess($Name, 'Create IMAP migration endpoint')) { return }

    $activity = "Creating migration endpoint '$Name'"
    if (-not $SkipVerification) {
        Write-Progress -Activity $activity -Status "Verifying that $RemoteServer is reachable"
    }
    try {
        $result = Invoke-MigNative -Operation 'endpoint.new' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $Name -NonTerminating
    }
    finally {
        Write-Progress -Activity $activity -Completed
    }
    ConvertTo-MigrationEndpointObject $result
}
