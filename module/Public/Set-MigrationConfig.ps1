function Set-MigrationConfig {
    <#
    .SYNOPSIS
    Changes the migration settings of this installation.
    .DESCRIPTION
    In Exchange Online Set-MigrationConfig has no settings of its own. As extensions, this engine
    sets the default target endpoint of new batches, the SMTP relay that sends the reports, the
    interval of incremental syncs (Exchange: 24 hours), the installation-wide concurrency cap,
    the memory budget and the stall limits of IMAP connections.
    .PARAMETER DefaultTargetEndpoint
    Extension: IMAP endpoint that new batches migrate to when they name no -TargetEndpoint; $null
    reverts to the embedded local Maildir store.
    .PARAMETER SmtpRelay
    Extension: SMTP relay for reports, as a hashtable @{ Server = 'smtp.contoso.com'; Port = 587; From = 'migration@contoso.com'; Security = 'Tls'; Credential = (Get-Credential) }; Security is None, Tls (STARTTLS) or Ssl; Credential is optional (its password is stored sealed and never shown); $null disables mail.
    .PARAMETER IncrementalSyncInterval
    Extension: time between incremental syncs of Synced batches. Default 24 hours.
    .PARAMETER MaxConcurrentMigrations
    Extension: maximum number of users migrated at the same time across all batches.
    .PARAMETER MemoryBudget
    Extension: bytes of message bodies the worker (and the CLI) holds in memory at once over all
    users and folders, such as 512MB. Default 256 MB (or IMAPMIGRATION_MEMORY_BUDGET); from 16 MB
    to 4 GB. A larger message waits until it can pass alone. The worker reads it when it starts;
    $null reverts to the default.
    .PARAMETER MaildirRoot
    Extension: the directory of the embedded Maildir target of new batches that name no target
    endpoint (each user's mail under <MaildirRoot>/<address>), an absolute path. Default
    <state directory>/maildir. On a PostgreSQL store there is no default: give a directory
    every worker host mounts (NFS or the like), or batches without -TargetEndpoint are refused.
    Batches keep the directory they were created with; $null reverts to the default.
    .PARAMETER ConnectTimeout
    Extension: how long connecting to an IMAP server may take, in seconds or as a TimeSpan.
    Default 15 seconds; from 1 second to 1 hour. The limits apply to the passes that start after
    the change, in the worker and in `imapmigration migrate`; the IMAPMIGRATION_TIMEOUT_*
    environment variables of the worker override them. $null reverts to the default.
    .PARAMETER GreetingTimeout
    Extension: how long a server may take to send its greeting once connected (seconds or a
    TimeSpan). Default 30 seconds.
    .PARAMETER TlsTimeout
    Extension: how long a TLS handshake may take (seconds or a TimeSpan). Default 30 seconds.
    .PARAMETER LoginTimeout
    Extension: how long capabilities, STARTTLS and authentication may take (seconds or a
    TimeSpan). Default 60 seconds.
    .PARAMETER IdleTimeout
    Extension: how long a server may send no byte at all within a response (seconds or a
    TimeSpan); also the period -MinTransferRate is measured over. Default 60 seconds.
    .PARAMETER MinTransferRate
    Extension: the slowest a response may arrive, in bytes per second over each -IdleTimeout
    period, such as 1KB or '1 KB'. Default 1 KB/s; 0 turns the rate check off; at most 100 MB.
    .PARAMETER ConsoleListen
    Extension: address the worker serves the web console on, such as 127.0.0.1:8440 (port 0 picks
    a free port; Open-MigrationConsole gives the address it bound). The worker picks a change up
    within seconds. Anything but loopback is refused without -ConsoleCertificate and -ConsoleKey.
    $null or '' turns the console off.
    .PARAMETER ConsoleCertificate
    Extension: PEM certificate (chain) file of the console's HTTPS; give it with -ConsoleKey.
    .PARAMETER ConsoleKey
    Extension: PEM private key file that goes with -ConsoleCertificate.
    .PARAMETER ConsolePassword
    Extension: admin password for the console's login page (8 characters or more), stored only
    as an Argon2id hash; setting it ends every console session. $null removes it (then only the
    one-time links of Open-MigrationConsole log in).
    .PARAMETER Partition
    Reserved for internal Microsoft use in Exchange; accepted and ignored.
    .EXAMPLE
    Set-MigrationConfig -DefaultTargetEndpoint Target -IncrementalSyncInterval (New-TimeSpan -Hours 4)

    Sends new batches to the IMAP endpoint 'Target' and syncs them every four hours.
    .EXAMPLE
    Set-MigrationConfig -ConnectTimeout 5 -IdleTimeout (New-TimeSpan -Minutes 2) -MinTransferRate '512 KB'

    Gives up connecting after 5 seconds, and on a response after 2 minutes without a byte or
    under 512 KB/s over 2 minutes.
    .EXAMPLE
    Set-MigrationConfig -SmtpRelay @{ Server = 'smtp.contoso.com'; Port = 587; From = 'migration@contoso.com'; Security = 'Tls' }

    Sends the migration reports through an SMTP relay.
    .EXAMPLE
    Set-MigrationConfig -ConsoleListen 127.0.0.1:8440 -ConsolePassword (Read-Host -AsSecureString 'Console password')

    Turns the web console on for this machine and sets its login password.
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
        [AllowNull()]
        [object]$MemoryBudget,
        [AllowNull()][AllowEmptyString()]
        [string]$MaildirRoot,
        [AllowNull()]
        [object]$ConnectTimeout,
        [AllowNull()]
        [object]$GreetingTimeout,
        [AllowNull()]
        [object]$TlsTimeout,
        [AllowNull()]
        [object]$LoginTimeout,
        [AllowNull()]
        [object]$IdleTimeout,
        [AllowNull()]
        [object]$MinTransferRate,
        [AllowNull()][AllowEmptyString()]
        [string]$ConsoleListen,
        [AllowNull()][AllowEmptyString()]
        [string]$ConsoleCertificate,
        [AllowNull()][AllowEmptyString()]
        [string]$ConsoleKey,
        [AllowNull()]
        [securestring]$ConsolePassword,
        [object]$Partition
    )

    [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @('DefaultTargetEndpoint', 'SmtpRelay', 'MemoryBudget', 'MaildirRoot', 'ConnectTimeout', 'GreetingTimeout', 'TlsTimeout', 'LoginTimeout', 'IdleTimeout', 'MinTransferRate', 'ConsoleListen', 'ConsoleCertificate', 'ConsoleKey', 'ConsolePassword'))

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
    if ($PSBoundParameters.ContainsKey('MemoryBudget')) {
        $arguments['memoryBudget'] = if ($null -eq $MemoryBudget) { $null } elseif ($MemoryBudget -is [string]) { $MemoryBudget } else { [long]$MemoryBudget }
    }
    if ($PSBoundParameters.ContainsKey('MaildirRoot')) {
        $arguments['maildirRoot'] = if ([string]::IsNullOrWhiteSpace($MaildirRoot)) { $null } else { $MaildirRoot }
    }
    foreach ($name in 'ConnectTimeout', 'GreetingTimeout', 'TlsTimeout', 'LoginTimeout', 'IdleTimeout') {
        if ($PSBoundParameters.ContainsKey($name)) {
            $camel = $name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)
            $arguments[$camel] = ConvertTo-MigSeconds -Value $PSBoundParameters[$name] -ParameterName $name -Cmdlet $PSCmdlet
        }
    }
    if ($PSBoundParameters.ContainsKey('MinTransferRate')) {
        $arguments['minTransferRate'] = ConvertTo-MigRate -Value $MinTransferRate -ParameterName MinTransferRate -Cmdlet $PSCmdlet
    }
    foreach ($name in 'ConsoleListen', 'ConsoleCertificate', 'ConsoleKey') {
        if ($PSBoundParameters.ContainsKey($name)) {
            $value = $PSBoundParameters[$name]
            $camel = $name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)
            $arguments[$camel] = if ([string]::IsNullOrWhiteSpace($value)) { $null } else { [string]$value }
        }
    }
    if ($PSBoundParameters.ContainsKey('ConsolePassword')) {
        $arguments['consolePassword'] = if ($null -eq $ConsolePassword) { $null } else { [System.Net.NetworkCredential]::new('', $ConsolePassword).Password }
    }
    if ($arguments.Count -eq 0) {
        Write-Verbose 'No migration setting to change.'
        return
    }
    if (-not $PSCmdlet.ShouldProcess('migration configuration', 'Change')) { return }
    $null = Invoke-MigNative -Operation 'config.set' -Arguments $arguments -Cmdlet $PSCmdlet -NonTerminating
}
