function Test-MigrationServerAvailability {
    <#
    .SYNOPSIS
    Tests that an IMAP server (or a stored endpoint) can be reached.
    .DESCRIPTION
    For IMAP, the test uses only the server name, port and security: it connects, negotiates TLS
    as asked and reads the greeting; it does not log in. A failed test is reported in the result
    (Result = Failed, with Message and ErrorDetail), not as an error. Write-Progress shows the test.
    .PARAMETER Imap
    Tests an IMAP server given by -RemoteServer and -Port.
    .PARAMETER RemoteServer
    Fully qualified domain name (or address) of the IMAP server.
    .PARAMETER Port
    TCP port: 143 for unencrypted connections or Tls, 993 for Ssl.
    .PARAMETER Security
    None, Ssl or Tls. Default Ssl.
    .PARAMETER Authentication
    Basic or Ntlm; accepted for compatibility (the IMAP test does not log in).
    .PARAMETER AcceptUntrustedCertificates
    Accepts a server certificate that does not validate.
    .PARAMETER CertificateAuthorityFile
    Extension: PEM file of the certificate authority that signs the server certificate.
    .PARAMETER Endpoint
    Tests the settings of a stored endpoint (name, GUID or endpoint object).
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
    .PARAMETER Credentials
    Exchange parameter for another migration type; refused for IMAP migrations (the IMAP test does not log in).
    .PARAMETER EmailAddress
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER TestMailbox
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ExchangeServer
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER MailboxPermission
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER RpcProxyServer
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER SourceMailboxLegacyDN
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER PublicFolderDatabaseServerLegacyDN
    Exchange parameter for another migration type; refused for IMAP migrations.
    .PARAMETER ServiceAccountKeyFileData
    Exchange parameter for another migration type; refused for IMAP migrations.
    .EXAMPLE
    Test-MigrationServerAvailability -IMAP -RemoteServer imap.contoso.com -Port 993 -Security Ssl

    Tests an IMAP server that uses implicit TLS.
    .EXAMPLE
    Get-MigrationEndpoint | ForEach-Object { Test-MigrationServerAvailability -Endpoint $_.Identity }

    Tests every stored endpoint.
    .OUTPUTS
    ImapMigration.TestMigrationServerAvailabilityResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low', DefaultParameterSetName = 'IMAP', PositionalBinding = $false)]
    [OutputType('ImapMigration.TestMigrationServerAvailabilityResult')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'IMAP')]
        [switch]$Imap,

        [Parameter(Mandatory, ParameterSetName = 'IMAP')]
        [Parameter(ParameterSetName = 'OtherMigrationType')]
        [string]$RemoteServer,

        [Parameter(Mandatory, ParameterSetName = 'IMAP')]
        [Parameter(ParameterSetName = 'OtherMigrationType')]
        [int]$Port,

        [Parameter(ParameterSetName = 'IMAP')]
        [ValidateSet('None', 'Ssl', 'Tls')]
        [ImapMigration.NotGivenWhenNull('Security')][string]$Security = 'Ssl',

        [Parameter(ParameterSetName = 'IMAP')]
        [Parameter(ParameterSetName = 'OtherMigrationType')]
        [ImapMigration.NotGivenWhenNull('Authentication')][string]$Authentication,

        [Parameter(ParameterSetName = 'IMAP')]
        [Parameter(ParameterSetName = 'OtherMigrationType')]
        [switch]$AcceptUntrustedCertificates,

        [Parameter(ParameterSetName = 'IMAP')]
        [ImapMigration.NotGivenWhenNull('CertificateAuthorityFile')][string]$CertificateAuthorityFile,

        [Parameter(Mandatory, ParameterSetName = 'TestEndpoint')]
        [object]$Endpoint,

        [object]$Partition,

        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$ExchangeRemoteMove,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$ExchangeOutlookAnywhere,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$PublicFolder,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$Gmail,
        [Parameter(ParameterSetName = 'OtherMigrationType')][switch]$Compliance,
        [switch]$Autodiscover,
        [System.Management.Automation.PSCredential]$Credentials,
        [ImapMigration.NotGivenWhenNull('EmailAddress')][string]$EmailAddress,
        [object]$TestMailbox,
        [ImapMigration.NotGivenWhenNull('ExchangeServer')][string]$ExchangeServer,
        [ImapMigration.NotGivenWhenNull('MailboxPermission')][string]$MailboxPermission,
        [ImapMigration.NotGivenWhenNull('RpcProxyServer')][string]$RpcProxyServer,
        [ImapMigration.NotGivenWhenNull('SourceMailboxLegacyDN')][string]$SourceMailboxLegacyDN,
        [ImapMigration.NotGivenWhenNull('PublicFolderDatabaseServerLegacyDN')][string]$PublicFolderDatabaseServerLegacyDN,
        [byte[]]$ServiceAccountKeyFileData
    )

    [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())

    Assert-MigSupportedParameter -Cmdlet $PSCmdlet -Unsupported @(
        'ExchangeRemoteMove', 'ExchangeOutlookAnywhere', 'PublicFolder', 'Gmail', 'Compliance', 'Autodiscover',
        'Credentials', 'EmailAddress', 'TestMailbox', 'ExchangeServer', 'MailboxPermission', 'RpcProxyServer',
        'SourceMailboxLegacyDN', 'PublicFolderDatabaseServerLegacyDN', 'ServiceAccountKeyFileData')

    if ($PSCmdlet.ParameterSetName -eq 'TestEndpoint') {
        $id = ConvertTo-MigIdentityString $Endpoint
        $arguments = @{ endpoint = $id }
        $target = "migration endpoint '$id'"
    }
    else {
        if ($PSBoundParameters.ContainsKey('Authentication') -and $Authentication -notin 'Basic', 'Ntlm', 'OAuth2') {
            $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $Authentication `
                        -Message "The authentication method '$Authentication' is not supported for the IMAP protocol. Valid values: Basic, Ntlm, OAuth2."))
        }
        $arguments = @{
            remoteServer                = $RemoteServer
            port                        = $Port
            security                    = $Security
            acceptUntrustedCertificates = [bool]$AcceptUntrustedCertificates
        }
        if ($CertificateAuthorityFile) { $arguments['caFile'] = Get-MigAbsolutePath -Path $CertificateAuthorityFile -Cmdlet $PSCmdlet }
        $id = "$($RemoteServer):$Port"
        $target = "remote server $id"
    }

    if (-not $PSCmdlet.ShouldProcess($target, 'Test connectivity')) { return }

    $activity = 'Testing migration server availability'
    Write-Progress -Activity $activity -Status "Connecting to $target"
    try {
        $result = Invoke-MigNative -Operation 'endpoint.test' -Arguments $arguments -Cmdlet $PSCmdlet -TargetObject $id -NonTerminating
    }
    finally {
        Write-Progress -Activity $activity -Completed
    }
    ConvertTo-TestMigrationServerAvailabilityResultObject $result
}
