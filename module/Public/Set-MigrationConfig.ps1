function Set-MigrationConfig {
    <#
    .SYNOPSIS
    Changes the migration settings of this installation.
    .DESCRIPTION
    In Exchange Online Set-MigrationConfig has no settings of its own. As extensions, this engine
    sets the default target endpoint of new batches, the SMTP relay that sends the reports, the
    interval of incremental syncs (Exchange: 24 hours) and the installation-wide concurrency cap.
    .PARAMETER DefaultTargetEndpoint
    Extension: IMAP endpoint that new batches migrate to when they name no -TargetEndpoint; $null
    reverts to the embedded local Maildir store.
    .PARAMETER SmtpRelay
    Extension: SMTP relay for reports, as a hashtable @{ Server = 'smtp.contoso.com'; Port = 587; From = 'migration@contoso.com'; Security = 'Tls'; Credential = (Get-Credential) }; Security is None, Tls (STARTTLS) or Ssl; Credential is optional (its password is stored sealed and never shown); $null disables mail.
    .PARAMETER IncrementalSyncInterval
    Extension: time between incremental syncs of Synced batches. Default 24 hours.
    .PARAMETER MaxConcurrentMigrations
    Extension: maximum number of users migrated at the same time across all batches.
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Set-MigrationConfig -DefaultTargetEndpoint Target -IncrementalSyncInterval (New-TimeSpan -Hours 4)

    Sends new batches to the IMAP endpoint 'Target' and syncs them every four hours.
    .EXAMPLE
    Set-MigrationConfig -SmtpRelay @{ Server = 'smtp.contoso.com'; Port = 587; From = 'migration@contoso.com'; Security = 'Tls' }

    Sends the migration reports through an SMTP relay.
    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', PositionalBinding = $false)]
    [OutputType([void])]
    param(
        [AllowNull()]
        [object]$DefaultTargetEndpoint,
        [AllowNull()]
        [hashtable]$SmtpRelay,
        [ImapMigration.NotGivenWhenNull('IncrementalSyncInterval')][timespan]$IncrementalSyncInterval,
        [object]$MaxConcurrentMigrations,
        [object]$Partition
    )

    Initialize-MigInvocation -Cmdlet $PSCmdlet -Keep 'DefaultTargetEndpoint', 'SmtpRelay'

    $arguments = @{}
    if ($PSBoundParameters.ContainsKey('DefaultTargetEndpoint')) {
        $arguments['defaultTargetEndpoint'] = if ($null -ne $DefaultTargetEndpoint) { ConvertTo-MigIdentityString $DefaultTargetEndpoint } else { $null }
    }
    if ($PSBoundParameters.ContainsKey('SmtpRelay')) {
        if ($null -eq $SmtpRelay) { $arguments['smtpRelay'] = $null }
        else {
            $relay = @{}
            foreach ($key in $SmtpRelay.Keys) {
                $name = [string]$key
                $camel = $name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)
                if ($camel -notin 'server', 'port', 'from', 'security', 'credential') {
                    $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $name `
                                -Message "The -SmtpRelay key '$name' is not known. Valid keys: Server, Port, From, Security, Credential."))
                }
                if ($camel -eq 'credential') {
                    $cred = $SmtpRelay[$key]
                    if ($cred -isnot [pscredential]) {
                        $PSCmdlet.ThrowTerminatingError((New-MigErrorRecord -Code InvalidArgument -TargetObject $name `
                                    -Message "The -SmtpRelay key 'Credential' must be a PSCredential (Get-Credential)."))
                    }
                    $relay['userName'] = $cred.UserName
                    $relay['password'] = $cred.GetNetworkCredential().Password
                    continue
                }
                $relay[$camel] = $SmtpRelay[$key]
            }
            $arguments['smtpRelay'] = $relay
        }
    }
    if ($PSBoundParameters.ContainsKey('IncrementalSyncInterval')) {
        $arguments['incrementalSyncIntervalSecs'] = [long]$IncrementalSyncInterval.TotalSeconds
    }
    if ($PSBoundParameters.ContainsKey('MaxConcurrentMigrations')) {
        $arguments['maxConcurrentMigrations'] = ConvertTo-MigCount -Value $MaxConcurrentMigrations -ParameterName MaxConcurrentMigrations -Cmdlet $PSCmdlet
    }
    if ($arguments.Count -eq 0) {
        Write-Verbose 'No migration setting to change.'
        return
    }
    if (-not $PSCmdlet.ShouldProcess('migration configuration', 'Change')) { return }
    $null = Invoke-MigNative -Operation 'config.set' -Arguments $arguments -Cmdlet $PSCmdlet -NonTerminating
}
