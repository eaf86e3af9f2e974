function Set-MigrationEndpoint {
    <#
    .SYNOPSIS
    Changes the settings of an IMAP migration endpoint.
    .DESCRIPTION
    Set-MigrationEndpoint changes only the settings you name. Changes that affect users apply the
    next time their batch is processed. MaxConcurrentIncrementalSyncs must stay at or below
    MaxConcurrentMigrations. As an extension, target IMAP endpoints accept -Credentials,
    -TargetLogin and the OAuth2 settings. Parameters that Exchange has only for other migration
    types are refused with the error id UnsupportedParameter.
    .PARAMETER Identity
    The endpoint to change: its name or GUID, or an endpoint object from Get-MigrationEndpoint.
    .PARAMETER RemoteServer
    Fully qualified domain name (or address) of the IMAP server.
    .PARAMETER Port
    TCP port of the IMAP server.
    .PARAMETER Security
    None, Ssl (implicit TLS) or Tls (STARTTLS).
    .PARAMETER Authentication
    Basic, Ntlm or OAuth2 (extension).
    .PARAMETER MaxConcurrentMigrations
    Maximum number of mailboxes migrated at the same time during initial sync.
    .PARAMETER MaxConcurrentIncrementalSyncs
    Maximum number of concurrent incremental syncs; at most MaxConcurrentMigrations.
    .PARAMETER MaxConnectionsPerUser
    Extension: connections one user's sync may hold on this server at once. Default 8.
    .PARAMETER PreserveOrder
    Extension: $true appends into each folder over one connection, keeping the source's order.
    .PARAMETER DisableCompression
    Extension: $true never turns on COMPRESS=DEFLATE with this server; $false uses it when offered (the default).
    .PARAMETER VerifyContent
    Extension: $true reads back every message appended to this IMAP target and compares its SHA-256 with the bytes sent (a difference is a ChangedItem); $false checks the stored size only (the default).
    .PARAMETER AcceptUntrustedCertificates
    $true accepts a server certificate that does not validate; $false requires a valid one.
    .PARAMETER SkipVerification
    Skips verifying that the remote server is reachable.
    .PARAMETER Credentials
    Extension: admin credentials for a target IMAP endpoint.
    .PARAMETER TargetLogin
    Extension: MasterUser, AuthorizationId or OAuth2.
    .PARAMETER MasterUserSeparator
    Extension: separator between user and master user name. Default '*'.
    .PARAMETER OAuthTokenEndpoint
    Extension: OAuth2 token endpoint URL.
    .PARAMETER OAuthClientId
    Extension: OAuth2 client id.
    .PARAMETER OAuthScope
    Extension: OAuth2 scope.
    .PARAMETER TargetUserTemplate
    Extension: how the target login name is formed, e.g. '{EmailAddress}'.
    .PARAMETER CertificateAuthorityFile
    Extension: PEM file of the certificate authority that signs the server certificate.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
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
    Set-MigrationEndpoint -Identity IMAPEndpoint -MaxConcurrentMigrations 10 -RemoteServer imap2.contoso.com

    Lowers the concurrency of the endpoint and points it at another server.
    .EXAMPLE
    Get-MigrationEndpoint IMAPEndpoint | Set-MigrationEndpoint -AcceptUntrustedCertificates $false

    Requires a valid server certificate again.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [object]$Identity,

        [ImapMigration.NotGivenWhenNull('RemoteServer')][string]$RemoteServer,
        [ImapMigration.NotGivenWhenNull('Port')][int]$Port,
        [ValidateSet('None', 'Ssl', 'Tls')]
        [ImapMigration.NotGivenWhenNull('Security')][string]$Security,
        [ImapMigration.NotGivenWhenNull('Authentication')][string]$Authentication,
        [object]$MaxConcurrentMigrations,
        [object]$MaxConcurrentIncrementalSyncs,
        [object]$MaxConnectionsPerUser,
        [ImapMigration.NotGivenWhenNull('PreserveOrder')][bool]$PreserveOrder,
        [ImapMigration.NotGivenWhenNull('DisableCompression')][bool]$DisableCompression,
        [ImapMigration.NotGivenWhenNull('VerifyContent')][bool]$VerifyContent,
        [ImapMigration.NotGivenWhenNull('AcceptUntrustedCertificates')][bool]$AcceptUntrustedCertificates,
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

    begin {
        [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @('Credentials'))
        Assert-MigSupportedParameter -Cmdlet $PSCmdlet -Unsupported @(
            'TestMailbox', 'EmailAddress', 'ApplicationId', 'AppSecretKeyVaultUrl', 'ExchangeServer', 'MailboxPermission',
            'NspiServer', 'PublicFolderDatabaseServerLegacyDN', 'RpcProxyServer', 'ServiceAccountKeyFileData', 'SourceMailboxLegacyDN')
    }

    process {
        $id = ConvertTo-MigIdentityString $Identity
        $arguments = ConvertTo-MigEndpointArguments -BoundParameters $PSBoundParameters -Cmdlet $PSCmdlet
        $arguments['identity'] = $id
        if (-not $PSCmdlet.ShouldProcess($id, 'Change migration endpoint')) { return }
        $activity = "Changing migration endpoint '$id'"
        if (-not $SkipVerification) { Write-Progress -Activity $activity -Status 'Verifying the endpoint settings' }
        try {
            $null = Invoke-MigNative -Operation 'endpoint.set' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
        }
        finally {
            Write-Progress -Activity $activity -Completed
        }
    }
}
